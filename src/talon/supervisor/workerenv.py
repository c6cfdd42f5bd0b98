"""The worker's environment, built at each start, in the original Talon's order.

Talon's subprocess environment, then ``[worker] env`` (an original-format
config: ``WORKER_ROLE=host``), then the env file, then ``[worker] secrets``:
each ``ENV_NAME = "secret_name"`` leased with ``secrets lease NAME --ttl 24h``,
all at once, so a start waits at most ``[secrets] timeout_secs`` for them. A
lease that fails is skipped (the worker starts without that variable, as the
original's did) and reported by name with the fix; a leased value is
remembered for redaction and never reaches an argv, a log or an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from talon.actions.secrets import SecretError, Secrets
from talon.config.models import WorkerConfig
from talon.node import expand_path
from talon.supervisor.envfile import load_env_file

WORKER_LEASE_TTL = "24h"  # the original's lease for its worker's secrets


@dataclass(frozen=True)
class LeaseFailure:
    env: str
    secret: str
    error: str  # names the secret and the fix; never a value

    def as_dict(self) -> dict[str, str]:
        return {"env": self.env, "secret": self.secret, "error": self.error}


async def build_env(
    config: WorkerConfig, base: Mapping[str, str], secrets: Secrets
) -> tuple[dict[str, str], list[LeaseFailure]]:
    """The worker's env and the leases that failed. A bad env file raises (EnvFileError)."""
    env = dict(base) | config.env
    if config.env_file:
        env |= load_env_file(expand_path(config.env_file, base))
    pairs = list(config.secrets.items())
    leased = await asyncio.gather(*(_lease(secrets, secret) for _, secret in pairs))
    failed: list[LeaseFailure] = []
    for (name, secret), got in zip(pairs, leased, strict=True):
        if isinstance(got, SecretError):
            failed.append(LeaseFailure(name, secret, str(got)))
        else:
            env[name] = got
    return env, failed


async def _lease(secrets: Secrets, name: str) -> str | SecretError:
    try:
        return await secrets.lease(name, ttl=WORKER_LEASE_TTL)
    except SecretError as exc:
        return exc
