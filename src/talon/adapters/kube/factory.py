"""Build the cluster client: today the one back end drives the real ``kubectl``."""

from __future__ import annotations

from collections.abc import Mapping

from talon.adapters.kube.base import ClusterClient
from talon.adapters.kube.kubectl import KubectlClient


def build_cluster_client(
    *,
    env: Mapping[str, str],
    kubeconfig: str | None = None,
    context: str | None = None,
    server: str | None = None,
) -> ClusterClient:
    """A client for the API ``kubeconfig`` and ``context`` name, at ``server`` if given.

    ``env`` is the children's environment (explicit PATH); ``server`` keeps the
    kubeconfig's credentials and CA and reaches the same API at another address.
    """
    return KubectlClient(env=env, kubeconfig=kubeconfig, context=context, server=server)
