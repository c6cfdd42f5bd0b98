"""A cluster client that drives the real ``kubectl``.

Every call passes ``--request-timeout`` and runs under Talon's own process
timeout as well (R8): kubectl retries EOF for almost a minute otherwise. Its
errors are classified from kubectl's documented messages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from talon.adapters.command import CommandResult, run_command
from talon.adapters.kube.base import ClusterError
from talon.errors import ErrorKind

# (substring of kubectl's stderr, lower-cased) -> classification; first match wins.
_ERRORS: tuple[tuple[str, ErrorKind], ...] = (
    ("forbidden", ErrorKind.DENIED),
    ("unauthorized", ErrorKind.DENIED),
    ("connection refused", ErrorKind.REFUSED),
    ("was refused", ErrorKind.REFUSED),  # "The connection to the server H:P was refused"
    ("context deadline exceeded", ErrorKind.TIMEOUT),
    ("client.timeout", ErrorKind.TIMEOUT),
    ("i/o timeout", ErrorKind.TIMEOUT),
    ("timeout", ErrorKind.TIMEOUT),
    ("no such host", ErrorKind.DNS),
    ("x509", ErrorKind.TLS),
    ("tls", ErrorKind.TLS),
    ("(notfound)", ErrorKind.NOT_FOUND),
    ("not found", ErrorKind.NOT_FOUND),
    ("eof", ErrorKind.EMPTY_REPLY),
    ("connection reset", ErrorKind.RESET),
    ("no route to host", ErrorKind.UNREACHABLE),
    ("network is unreachable", ErrorKind.UNREACHABLE),
)


def classify(result: CommandResult, timeout: float) -> ClusterError:
    if result.spawn_error:
        return ClusterError(ErrorKind.NOT_FOUND, result.spawn_error)
    if result.timed_out:
        return ClusterError(ErrorKind.TIMEOUT, f"kubectl gave no answer within {timeout:g}s")
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    message = text[-1] if text else f"kubectl exited {result.exit_code}"
    lowered = message.lower()
    for needle, kind in _ERRORS:
        if needle in lowered:
            return ClusterError(kind, message)
    return ClusterError(ErrorKind.PROTOCOL, message)


class KubectlClient:
    name = "kubectl"

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        kubeconfig: str | None = None,
        context: str | None = None,
        server: str | None = None,
        kubectl: str = "kubectl",
    ) -> None:
        self._env = dict(env)
        self._base = [kubectl]
        if kubeconfig:
            self._base.append(f"--kubeconfig={kubeconfig}")
        if context:
            self._base.append(f"--context={context}")
        if server:  # the kubeconfig's credentials and CA, another address of the same API
            self._base.append(f"--server={server}")

    def argv(self, args: Sequence[str], timeout: float) -> list[str]:
        return [*self._base, f"--request-timeout={max(1, math.ceil(timeout))}s", *args]

    async def run(self, args: Sequence[str], timeout: float) -> CommandResult:
        # Talon's own bound is a little longer than kubectl's, so kubectl can say why.
        return await run_command(self.argv(args, timeout), timeout=timeout + 1.0, env=self._env)

    async def _checked(self, args: Sequence[str], timeout: float) -> str:
        result = await self.run(args, timeout)
        if not result.ok:
            raise classify(result, timeout)
        return result.stdout

    async def _json(self, args: Sequence[str], timeout: float) -> Any:
        out = await self._checked([*args, "-o", "json"], timeout)
        try:
            return json.loads(out)
        except json.JSONDecodeError as exc:
            raise ClusterError(ErrorKind.PROTOCOL, f"kubectl printed invalid JSON: {exc}") from None

    async def readyz(self, timeout: float) -> str:
        return (await self._checked(["get", "--raw", "/readyz"], timeout)).strip()

    async def nodes(self, timeout: float) -> Any:
        return await self._json(["get", "nodes"], timeout)

    async def daemonset(self, namespace: str, name: str, timeout: float) -> Any:
        return await self._json(["-n", namespace, "get", "daemonset", name], timeout)

    async def can_i(
        self,
        verb: str,
        resource: str,
        *,
        subresource: str | None,
        as_user: str | None,
        timeout: float,
    ) -> bool:
        """``kubectl auth can-i``: exit 0 yes, 1 no; anything else is an error."""
        args = ["auth", "can-i", "-q", verb, resource, "--all-namespaces"]
        if subresource:
            args.append(f"--subresource={subresource}")
        if as_user:
            args.append(f"--as={as_user}")
        result = await self.run(args, timeout)
        complaints = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not line.startswith("Warning:")
        ]
        if result.exit_code in (0, 1) and not complaints:
            return result.exit_code == 0
        raise classify(result, timeout)

    async def apply(self, manifest: str, timeout: float) -> str:
        """``kubectl apply -f MANIFEST``: what it printed (stdout, then stderr)."""
        result = await self.run(["apply", "-f", manifest], timeout)
        if not result.ok:
            raise classify(result, timeout)
        return "\n".join(text for text in (result.stdout, result.stderr) if text)
