"""An emulated Kubernetes API server for the lab, on aiohttp, over TLS.

It serves what the real ``kubectl`` and Talon's cluster client use for Talon's
checks and heals, with shapes from the Kubernetes API reference: discovery
(``/version``, ``/api``, ``/apis``, legacy per group-version lists, OpenAPI v3
stubs), nodes, the ``kube-flannel`` daemonset, pods (with ``log`` and ``exec``
over WebSocket ``v5.channel.k8s.io``), RBAC objects, and
SelfSubjectAccessReview / SubjectAccessReview (JSON or protobuf bodies).
Verbs: get, list (``fieldSelector=metadata.name``, equality ``labelSelector``),
create, update, patch (merge, strategic treated as merge, apply), delete;
watch is a stub that returns an empty stream.

Authentication is by TLS client certificate (CN user, O groups) or bearer
token; impersonation headers are honoured and authorized. Authorization is
RBAC (``rbac.py``). As a real kubelet does with webhook authorization,
``pods/log`` and ``pods/exec`` are authorized a second time for the
apiserver's kubelet-client identity against ``nodes/proxy``, so a dropped
binding (F6) breaks them with the real message while every ``get`` works.

Run: ``python -m talon.lab.kube.server --dir LAB --bind 127.0.0.2:PORT``. Facts
behind the choices are in LAB-NOTES.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from talon.lab.kube import layout, resources, wire
from talon.lab.kube.rbac import Attributes, Decision, authorize
from talon.lab.kube.resources import ResourceType
from talon.lab.kube.seed import NODE, RBAC
from talon.lab.kube.state import ClusterState, merge_patch
from talon.lab.kube.tables import table

Obj = dict[str, Any]
KUBELET_CLIENT = "apiserver-kubelet-client"
_AUTHENTICATED = "system:authenticated"
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}

    def response(self) -> web.Response:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": _REASONS.get(self.code, "Unknown"),
            "details": self.details,
            "code": self.code,
        }
        return web.json_response(status, status=self.code)


def _not_found(rtype: ResourceType, name: str) -> ApiError:
    what = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
    return ApiError(404, f'{what} "{name}" not found', {"name": name, "kind": rtype.plural})


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    rtype: ResourceType
    namespace: str
    name: str
    subresource: str


def _verb(method: str, target: Target, query: Mapping[str, str]) -> str:
    if target.subresource == "exec":
        return "create"  # a WebSocket GET needs create, as on 1.30+ apiservers
    if method == "GET":
        if target.name:
            return "get"
        return "watch" if query.get("watch") in ("1", "true") else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method == "DELETE" and not target.name:
        return "deletecollection"
    return verbs.get(method, method.lower())


def _parse_target(parts: list[str]) -> Target | None:
    """``api/v1/...`` or ``apis/G/V/...`` into the resource addressed, if any."""
    if parts[:1] == ["api"] and len(parts) >= 3:
        group_version, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = resources.lookup(group_version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    rtype = resources.lookup(group_version, rest[0])
    if rtype is None:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return Target(rtype, namespace, name, subresource)


def _selected(obj: Obj, query: Mapping[str, str]) -> bool:
    meta = obj["metadata"]
    for term in filter(None, query.get("fieldSelector", "").split(",")):
        field, _, value = term.partition("=")
        actual = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "")}
        if actual.get(field) != value.lstrip("="):
            return False
    labels = meta.get("labels", {})
    for term in filter(None, query.get("labelSelector", "").split(",")):
        key, eq, value = term.partition("=")
        if (labels.get(key) != value.lstrip("=")) if eq else key not in labels:
            return False
    return True


def _subject(cert: Mapping[str, Any]) -> User | None:
    name, groups = None, []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    return User(name, tuple(groups)) if name else None


class Api:
    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir
        self.state = ClusterState(layout.state_path(lab_dir))

    # who is asking
    def _authenticate(self, request: web.Request) -> User:
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport else None
        user = _subject(cert) if cert else None
        header = request.headers.get("Authorization", "")
        if user is None and header.startswith("Bearer "):
            token = self.state.lab.get("tokens", {}).get(header[7:].strip())
            if token:
                user = User(token["user"], tuple(token.get("groups", ())))
        if user is None:
            raise ApiError(401, "Unauthorized")
        user = User(user.name, (*user.groups, _AUTHENTICATED))
        impersonated = request.headers.get("Impersonate-User")
        if impersonated:
            as_groups = tuple(request.headers.getall("Impersonate-Group", ()))
            for kind, name in [("users", impersonated)] + [("groups", g) for g in as_groups]:
                attrs = Attributes(user.name, user.groups, "impersonate", "", kind, "", name)
                if not self._authorize(attrs).allowed:
                    raise ApiError(403, attrs.forbidden_message())
            user = User(impersonated, (*as_groups, _AUTHENTICATED))
        return user

    def _authorize(self, attrs: Attributes) -> Decision:
        roles = {o["metadata"]["name"]: o for o in self.state.list(f"{RBAC}/v1/clusterroles")}
        local_roles = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in self.state.list(f"{RBAC}/v1/roles")
        }
        return authorize(
            attrs,
            roles,
            self.state.list(f"{RBAC}/v1/clusterrolebindings"),
            local_roles,
            self.state.list(f"{RBAC}/v1/rolebindings"),
        )

    def _require(self, attrs: Attributes) -> None:
        if not self._authorize(attrs).allowed:
            kind = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
            raise ApiError(403, attrs.forbidden_message(), {"name": attrs.name, "kind": kind})

    def _kubelet_allows(self, verb: str) -> None:
        """The kubelet's own authorization of the apiserver's client (webhook mode)."""
        attrs = Attributes(KUBELET_CLIENT, (_AUTHENTICATED,), verb, "", "nodes", "proxy", NODE)
        if not self._authorize(attrs).allowed:
            raise ApiError(
                403,
                f"Forbidden (user={KUBELET_CLIENT}, verb={verb}, resource=nodes, "
                "subresource=proxy)",
            )

    # the entry point
    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()  # always drain: an unread body breaks keep-alive
        try:
            self.state.refresh()
            return await self._route(request, body)
        except ApiError as exc:
            return exc.response()
        except (json.JSONDecodeError, wire.WireError, UnicodeDecodeError) as exc:
            return ApiError(400, f"the request body is not valid: {exc}").response()

    async def _route(self, request: web.Request, body: bytes) -> web.StreamResponse:
        user = self._authenticate(request)
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        target = _parse_target(parts)
        if target is None:
            self._require(Attributes(user.name, user.groups, "get", path=path))
            return self._non_resource(request, path, parts)
        verb = _verb(request.method, target, request.query)
        rtype = target.rtype
        self._require(
            Attributes(
                user.name,
                user.groups,
                verb,
                rtype.group,
                rtype.plural,
                target.subresource,
                target.name,
                target.namespace,
            )
        )
        if rtype.group == "authorization.k8s.io":
            return self._review(request, body, user, rtype)
        if target.subresource == "log":
            self._kubelet_allows("get")
            return await self._log(target, request.query)
        if target.subresource == "exec":
            self._kubelet_allows("create")
            return await self._exec(request, target)
        if target.subresource not in ("", "status"):
            raise ApiError(404, f"the lab does not serve {rtype.plural}/{target.subresource}")
        return await self._crud(request, body, target, verb)

    def _non_resource(self, request: web.Request, path: str, parts: list[str]) -> web.Response:
        host = request.host
        document: Obj | None = None
        if path == "/version":
            document = resources.VERSION
        elif path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        elif path == "/api":
            document = resources.api_versions(host)
        elif path == "/apis":
            document = resources.api_group_list()
        elif parts[:1] == ["apis"] and len(parts) == 2:
            document = resources.api_group(parts[1])
        elif parts[:1] in (["api"], ["apis"]):
            document = resources.api_resource_list("/".join(parts[1:]))
        elif path == "/openapi/v3":
            document = resources.openapi_v3_root()
        elif parts[:2] == ["openapi", "v3"]:
            document = resources.openapi_v3("/".join(parts[2:]))
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return web.json_response(document, headers={"ETag": f'"{resources.etag(document)}"'})

    # access reviews
    def _review(
        self, request: web.Request, body: bytes, user: User, rtype: ResourceType
    ) -> web.Response:
        if request.method != "POST":
            raise ApiError(405, f"{rtype.plural} can only be created")
        if body.startswith(wire.MAGIC):
            review = wire.self_subject_access_review(body)
        else:
            review = json.loads(body)
        spec = review.get("spec", {})
        if rtype.kind == "SubjectAccessReview":
            who = User(spec.get("user", ""), tuple(spec.get("groups", ())))
        else:
            who = user
        if resource := spec.get("resourceAttributes"):
            attrs = Attributes(
                who.name,
                who.groups,
                resource.get("verb", ""),
                resource.get("group", ""),
                resource.get("resource", ""),
                resource.get("subresource", ""),
                resource.get("name", ""),
                resource.get("namespace", ""),
            )
        else:
            non_resource = spec.get("nonResourceAttributes", {})
            attrs = Attributes(
                who.name,
                who.groups,
                non_resource.get("verb", ""),
                path=non_resource.get("path", ""),
            )
        decision = self._authorize(attrs)
        status: Obj = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        reply = {
            "kind": rtype.kind,
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }
        return web.json_response(reply, status=201)

    # objects
    async def _crud(
        self, request: web.Request, body: bytes, target: Target, verb: str
    ) -> web.Response:
        rtype, ns, name = target.rtype, target.namespace, target.name
        if verb in ("list", "watch"):
            if verb == "watch":
                return web.Response(body=b"", content_type="application/json")
            items = [o for o in self.state.list(rtype.key, ns) if _selected(o, request.query)]
            items = [await self._decorate(rtype, o) for o in items]
            return self._reply(request, rtype, items, listing=True)
        if verb == "get":
            return self._reply(request, rtype, [await self._decorate(rtype, self._get(target))])
        if verb == "create":
            obj = json.loads(body)
            name = obj.get("metadata", {}).get("name", "")
            if not name:
                raise ApiError(422, f"{rtype.kind} is invalid: metadata.name: Required value")
            if self.state.get(rtype.key, ns, name) is not None:
                raise ApiError(
                    409,
                    f'{rtype.plural}.{rtype.group or "core"} "{name}" already exists',
                    {"name": name, "kind": rtype.plural},
                )
            obj.update(apiVersion=rtype.group_version, kind=rtype.kind)
            return web.json_response(self.state.put(rtype.key, ns, obj, new=True), status=201)
        if verb == "update":
            current = self._get(target)
            obj = json.loads(body)
            obj["metadata"] = {**current["metadata"], **obj.get("metadata", {}), "name": name}
            return web.json_response(self.state.put(rtype.key, ns, obj, new=False))
        if verb == "patch":
            return self._patch(request, body, target)
        if verb == "delete":
            return await self._delete(target)
        raise ApiError(405, f"{verb} is not supported on {rtype.plural} by the lab")

    def _get(self, target: Target) -> Obj:
        obj = self.state.get(target.rtype.key, target.namespace, target.name)
        if obj is None:
            raise _not_found(target.rtype, target.name)
        return obj

    def _patch(self, request: web.Request, body: bytes, target: Target) -> web.Response:
        rtype, ns, name = target.rtype, target.namespace, target.name
        content_type = request.content_type
        if content_type not in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ):
            raise ApiError(415, f"the lab does not support patches of type {content_type}")
        patch = json.loads(body)  # kubectl sends JSON, which is YAML too
        current = self.state.get(rtype.key, ns, name)
        if current is None:
            if content_type != "application/apply-patch+yaml":
                raise _not_found(rtype, name)
            patch.update(apiVersion=rtype.group_version, kind=rtype.kind)
            return web.json_response(self.state.put(rtype.key, ns, patch, new=True), status=201)
        patched = merge_patch(current, patch)
        patched["metadata"]["name"] = name
        return web.json_response(self.state.put(rtype.key, ns, patched, new=False))

    async def _delete(self, target: Target) -> web.Response:
        obj = self._get(target)
        self.state.delete(target.rtype.key, target.namespace, target.name)
        hook = self._hook(target) if target.rtype.kind == "Pod" else {}
        if process := hook.get("process"):
            # The pod's controller restarts it: the lab restarts its process, and a
            # new pod (new uid) takes the name, which kubectl counts as deleted.
            await asyncio.to_thread(_restart_lab_process, self.lab_dir, process)
            fresh = json.loads(json.dumps(obj))
            fresh["metadata"].pop("deletionTimestamp", None)
            hook["restarts"] = 0
            self.state.put(target.rtype.key, target.namespace, fresh, new=True)
        return web.json_response(obj)

    def _hook(self, target: Target) -> Obj:
        hooks: Obj = self.state.lab.setdefault("pods", {})
        hook: Obj = hooks.get(f"{target.namespace}/{target.name}", {})
        return hook

    async def _decorate(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Pods get a live status from their kubelet-like readiness check."""
        if rtype.kind != "Pod":
            return obj
        meta = obj["metadata"]
        hook = self.state.lab.get("pods", {}).get(f"{meta['namespace']}/{meta['name']}")
        if not hook or not hook.get("readinessTcp"):
            ready = True
        else:
            ready = await _tcp_ready(hook["readinessTcp"])
        container = obj["spec"]["containers"][0]
        state: Obj = (
            {"running": {"startedAt": meta["creationTimestamp"]}}
            if ready
            else {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}
        )
        status = {
            **obj.get("status", {}),
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": str(ready)}],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": ready,
                    "started": ready,
                    "restartCount": int(hook.get("restarts", 0)) if hook else 0,
                    "state": state,
                }
            ],
        }
        return {**obj, "status": status}

    def _reply(
        self, request: web.Request, rtype: ResourceType, items: list[Obj], listing: bool = False
    ) -> web.Response:
        version = self.state.resource_version
        if "as=Table" in request.headers.get("Accept", ""):
            return web.json_response(table(rtype.kind, items, version))
        if not listing:
            return web.json_response(items[0])
        return web.json_response(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.group_version,
                "metadata": {"resourceVersion": version},
                "items": items,
            }
        )

    # the kubelet's part
    async def _log(self, target: Target, query: Mapping[str, str]) -> web.Response:
        self._get(target)
        log_file = self._hook(target).get("logFile")
        lines = await asyncio.to_thread(_read_lines, log_file) if log_file else []
        if tail := query.get("tailLines"):
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        return web.Response(text="".join(f"{line}\n" for line in lines))

    async def _exec(self, request: web.Request, target: Target) -> web.StreamResponse:
        pod = await self._decorate(target.rtype, self._get(target))
        if not pod["status"]["containerStatuses"][0]["ready"]:
            container = pod["spec"]["containers"][0]["name"]
            raise ApiError(400, f'container not found ("{container}")')
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "the lab serves exec over WebSocket only (not SPDY)")
        command = request.query.getall("command", [])
        if not command:
            raise ApiError(400, "you must specify at least one command for the container")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        env = {**os.environ, **self._hook(target).get("env", {})}
        code, out, err = await _run(command, env)
        if out:
            await ws.send_bytes(b"\x01" + out)
        if err:
            await ws.send_bytes(b"\x02" + err)
        await ws.send_bytes(b"\x03" + json.dumps(_exec_status(code)).encode())
        await ws.close()
        return ws


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def _exec_status(code: int) -> Obj:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def _run(command: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return 126, b"", f"exec failed: {exc}\n".encode()
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 137, b"", b"command timed out after 30s\n"
    return proc.returncode or 0, out, err


async def _tcp_ready(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _restart_lab_process(lab_dir: Path, process: str) -> None:
    from talon.lab.substrate import Lab

    Lab(lab_dir).restart_vm_process(process)


def tls_context(lab_dir: Path) -> ssl.SSLContext:
    pki = layout.pki_dir(lab_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    context.load_verify_locations(pki / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL  # bearer tokens need no certificate
    return context


def app(lab_dir: Path) -> web.Application:
    api = Api(lab_dir)
    application = web.Application(client_max_size=4 * 1024 * 1024)
    application.router.add_route("*", "/{tail:.*}", api.handle)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="the lab directory")
    parser.add_argument("--bind", required=True, help="HOST:PORT")
    args = parser.parse_args()
    host, port = args.bind.rsplit(":", 1)
    web.run_app(
        app(args.dir),
        host=host,
        port=int(port),
        ssl_context=tls_context(args.dir),
        print=None,
        shutdown_timeout=1.0,
        access_log_format='%a "%r" %s %b "%{Accept}i"',
    )


if __name__ == "__main__":
    main()
