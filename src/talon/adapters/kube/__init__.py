"""Cluster-client adapters. The kubectl back end is the reference for fidelity."""

from talon.adapters.kube.base import ClusterClient, ClusterError
from talon.adapters.kube.factory import build_cluster_client
from talon.adapters.kube.kubectl import KubectlClient

__all__ = ["ClusterClient", "ClusterError", "KubectlClient", "build_cluster_client"]
