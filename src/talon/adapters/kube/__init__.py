"""Cluster-client adapters. The kubectl back end is the reference for fidelity."""

from talon.adapters.kube.kubectl import KubectlClient, KubeError

__all__ = ["KubeError", "KubectlClient"]
