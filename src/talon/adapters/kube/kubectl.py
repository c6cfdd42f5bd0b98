"""A cluster client that drives the real ``kubectl``.

Every call passes ``--request-timeout`` and runs under Talon's own process
timeout as well (R8): kubectl retries EOF for almost a minute otherwise. Its
errors are classified from kubectl's documented messages.

Who failed, the cluster or the tool (F26): kubectl's own timeouts ("context
deadline exceeded", ``Client.Timeout``) are the API's (``timeout``). Talon's
bound is ``GRACE_S`` longer than the ``--request-timeout`` it passes. When that
bound expires, kubectl's words decide: one request answers within the
request timeout, but a command that needs discovery (``get nodes``, ``auth
can-i``) asks the API several times, and says each failed attempt on stderr as
it goes; so a timed-out kubectl that had said the API is not answering is still
``timeout``, the API's. A kubectl that said nothing of the kind hung before or
around its requests (an exec credential plugin waiting for a login, a wrapper
script, a stuck cache): ``tool_timeout``, and the probe cannot tell. A kubectl
that cannot be spawned is ``tool_missing``, naming the PATH searched and the fix.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from talon.adapters.command import CommandResult, run_command
from talon.adapters.kube.base import ClusterError, ExecResult
from talon.adapters.tool import missing
from talon.errors import ErrorKind

GRACE_S = 1.0  # Talon's bound over kubectl's own --request-timeout

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


# What kubectl says when it reached for the API and the API did not answer as it should.
_TALKED = frozenset(
    {
        ErrorKind.REFUSED,
        ErrorKind.TIMEOUT,
        ErrorKind.DNS,
        ErrorKind.TLS,
        ErrorKind.EMPTY_REPLY,
        ErrorKind.RESET,
        ErrorKind.UNREACHABLE,
    }
)


# What kubectl exec says when the command ran in the pod and exited non-zero (it exits so too).
_TERMINATED = re.compile(r"command terminated with exit code (\d+)")


def request_timeout(timeout: float) -> str:
    """kubectl's ``--request-timeout`` (a Go duration): exactly the probe's ``timeout``."""
    if float(timeout).is_integer():
        return f"{int(timeout)}s"
    return f"{max(1, round(timeout * 1000))}ms"


def _kind_of(line: str) -> ErrorKind | None:
    lowered = line.lower()
    return next((kind for needle, kind in _ERRORS if needle in lowered), None)


def _lines(result: CommandResult) -> list[str]:
    return [
        line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()
    ]


def _hung(result: CommandResult, timeout: float) -> ClusterError:
    """Talon's bound expired: the API's silence if kubectl said so, else kubectl's own hang."""
    bound = f"{timeout + GRACE_S:g}s"
    said = _lines(result)
    talked = [line for line in said if _kind_of(line) in _TALKED]
    if talked:
        kind = _kind_of(talked[-1]) or ErrorKind.TIMEOUT
        return ClusterError(
            kind, f"kubectl gave no answer within {bound}, still retrying the API: {talked[-1]}"
        )
    last = f"; it said: {said[-1][:300]}" if said else ""
    return ClusterError(
        ErrorKind.TOOL_TIMEOUT,
        f"kubectl itself gave no answer within {bound}, past its own "
        f"--request-timeout={request_timeout(timeout)}, and never said the API failed{last} "
        f"(fix: run `{shlex.join(result.argv)}` by hand; an exec credential plugin in the "
        "kubeconfig that waits for a login, or a wrapper script, hangs it)",
    )


def classify(result: CommandResult, timeout: float) -> ClusterError:
    if result.spawn_error:
        return ClusterError(ErrorKind.TOOL_MISSING, missing(result.argv[0], result.spawn_error))
    if result.timed_out:
        return _hung(result, timeout)
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    message = text[-1] if text else f"kubectl exited {result.exit_code}"
    return ClusterError(_kind_of(message) or ErrorKind.PROTOCOL, message)


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
        return [*self._base, f"--request-timeout={request_timeout(timeout)}", *args]

    async def run(self, args: Sequence[str], timeout: float) -> CommandResult:
        # Talon's own bound is a little longer than kubectl's, so kubectl can say why.
        return await run_command(self.argv(args, timeout), timeout=timeout + GRACE_S, env=self._env)

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

    async def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None,
        timeout: float,
    ) -> ExecResult:
        """``kubectl exec -n NS POD [-c C] -- COMMAND``: the command's own exit code and
        output once it ran; the API or kubelet path failing is a ``ClusterError``."""
        args = ["-n", namespace, "exec", pod, *(["-c", container] if container else [])]
        result = await self.run([*args, "--", *command], timeout)
        if result.ok:
            return ExecResult(0, result.stdout, result.stderr)
        ran = None if result.timed_out or result.spawn_error else _TERMINATED.search(result.stderr)
        if ran is not None:
            stderr = _TERMINATED.sub("", result.stderr).strip()
            return ExecResult(int(ran.group(1)), result.stdout, stderr)
        raise classify(result, timeout)

    async def logs(
        self, namespace: str, pod: str, *, container: str | None, tail_lines: int, timeout: float
    ) -> str:
        """``kubectl logs -n NS POD [-c C] --tail=N``."""
        args = ["-n", namespace, "logs", pod, f"--tail={tail_lines}"]
        return await self._checked([*args, *(["-c", container] if container else [])], timeout)

    async def apply(self, manifest: str, timeout: float) -> str:
        """``kubectl apply -f MANIFEST``: what it printed (stdout, then stderr)."""
        result = await self.run(["apply", "-f", manifest], timeout)
        if not result.ok:
            raise classify(result, timeout)
        return "\n".join(text for text in (result.stdout, result.stderr) if text)
