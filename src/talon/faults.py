"""The fault classes the core can diagnose (FAULTS.md), shared by config and core."""

from __future__ import annotations

import enum


class Fault(enum.StrEnum):
    SPLIT_BRAIN = "split_brain"  # localhost path dead, VM path or witness alive
    SERVICE_DOWN = "service_down"  # every path of one service fails
    RUNTIME_DOWN = "runtime_down"
    RUNTIME_CRASH_LOOP = "runtime_crash_loop"  # VM uptime repeatedly under the threshold
    CLUSTER_DOWN = "cluster_down"  # the cluster API does not answer
    NODE_NOT_READY = "node_not_ready"
    RBAC_DRIFT = "rbac_drift"  # can-i denied (hard fault)
    CRASH_LOOP = "crash_loop"  # the worker exits at once, again and again
    PORT_CONFLICT = "port_conflict"  # an orphan holds the worker's port
    REDIS_AOF_CORRUPT = "redis_aof_corrupt"
    NETWORK_DOWN = "network_down"  # every remote target fails, local ones pass
    FAILED_RECOVERY = "failed_recovery"  # a heal did not hold through verification
    NODE_TOOLING = "node_tooling"  # a probe's own tool is missing here: this node's fault
    HOST_FAULT = "host_fault"  # a host-layer probe failed (disk, load, ...)
    APP_FAILURE = "app_failure"  # app-class or informational: never an infrastructure heal
    PROBE_FAILED = "probe_failed"  # a failure no rule explains better

    @property
    def hard(self) -> bool:
        """Hard faults fail a verification at once, even inside the warmup window.

        The API server unreachable is hard too, but only while the VM under it is
        not itself fresh from a boot (``talon.core.verify.hard_in_warmup``, R9).
        """
        return self is Fault.RBAC_DRIFT
