"""Cluster-client adapters. The kubectl back end is the reference for fidelity."""

from talon.adapters.kube.base import ClusterClient, ClusterError, ExecResult
from talon.adapters.kube.factory import build_cluster_client
from talon.adapters.kube.kubectl import KubectlClient

__all__ = ["ClusterClient", "ClusterError", "ExecResult", "KubectlClient", "build_cluster_client"]
