"""Prometheus ``file_sd`` from the fleet: one target group per peer. Pure.

Each ``[fleet]`` peer (and this node, when ``talon fleet status`` would read
it) becomes ``{"targets": ["HOST:PORT"], "labels": {...}}``: the address of
its ``/health`` listener, which serves ``/metrics`` too. Labels:

- ``node_id``, ``platform``, ``arch``: what the peer's ``/health`` ``node``
  object says about itself when it answered; otherwise what the config knows
  (the peer's name as ``node_id``, its ``labels`` table; this node's own
  identity). An unreachable peer keeps its entry, so Prometheus scrapes it
  and sees it down (``up == 0`` with its ``node_id``).
- ``talon_peer``: the peer's name in ``[[fleet.peers]]``.
- the peer's configured ``labels`` (e.g. ``env``).
- ``__scheme__`` (https peers) and ``__metrics_path__`` (a /health not at the
  root, e.g. behind a path prefix), so the scrape needs no relabelling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from talon.fleet.view import Answer, payload, read_answer

SELF_DESCRIBED = ("node_id", "platform", "arch")


def address(url: str) -> tuple[str, dict[str, str]]:
    """``HOST:PORT`` of a /health URL, and the meta labels its scrape needs."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    meta: dict[str, str] = {}
    if parts.scheme == "https":
        meta["__scheme__"] = "https"
    path = parts.path.rstrip("/")
    prefix = path[: -len("/health")] if path.endswith("/health") else path
    if prefix:
        meta["__metrics_path__"] = f"{prefix}/metrics"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}", meta


def _described(answer: Answer) -> dict[str, str]:
    """What a reachable peer's /health says about itself (its ``node`` object)."""
    if not read_answer(answer).reachable:
        return {}
    node = (payload(answer.body) or {}).get("node")
    if not isinstance(node, Mapping):
        return {}
    return {k: v for k in SELF_DESCRIBED if isinstance(v := node.get(k), str) and v}


def group(answer: Answer, own: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One file_sd target group; ``own``: this node's identity, for its own entry."""
    target = answer.target
    host_port, meta = address(target.url)
    labels = {"node_id": target.name, **dict(target.labels)}
    if target.is_self and own is not None:
        labels.update(own)
    labels.update(_described(answer))
    labels["talon_peer"] = target.name
    return {"targets": [host_port], "labels": dict(sorted({**labels, **meta}.items()))}


def file_sd(answers: Sequence[Answer], own: Mapping[str, str] | None = None) -> list[Any]:
    """The whole ``file_sd`` document, in config order (this node first)."""
    return [group(a, own) for a in answers]
