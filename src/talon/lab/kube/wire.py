"""Read the protobuf body kubectl posts for ``auth can-i`` (LAB-NOTES gotcha 2).

Kubernetes wraps protobuf objects in a ``k8s\\0`` envelope holding a
``runtime.Unknown`` (1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType).
Field numbers below are those of ``k8s.io/api/authorization/v1/generated.proto``:
SelfSubjectAccessReview (1 metadata, 2 spec), its spec (1 resourceAttributes,
2 nonResourceAttributes), ResourceAttributes (1 namespace, 2 verb, 3 group,
4 version, 5 resource, 6 subresource, 7 name), NonResourceAttributes (1 path,
2 verb). Only what an access review needs is read; unknown fields are skipped.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
_RESOURCE = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource"}
_RESOURCE |= {6: "subresource", 7: "name"}
_NON_RESOURCE = {1: "path", 2: "verb"}


class WireError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Every field of one message: number -> values (bytes for length-delimited)."""
    found: dict[int, list[bytes | int]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: bytes | int
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise WireError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire_type == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        found.setdefault(number, []).append(value)
    return found


def _message(data: bytes, number: int) -> bytes:
    values = fields(data).get(number, [])
    last = values[-1] if values else b""
    return last if isinstance(last, bytes) else b""


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    out = {}
    for number, values in fields(data).items():
        if number in names and isinstance(values[-1], bytes):
            out[names[number]] = values[-1].decode()
    return out


def unwrap(body: bytes) -> bytes:
    """The raw object inside a ``k8s\\0`` envelope."""
    if not body.startswith(MAGIC):
        raise WireError("not a Kubernetes protobuf envelope")
    return _message(body[len(MAGIC) :], 2)


def self_subject_access_review(body: bytes) -> dict[str, Any]:
    """The SelfSubjectAccessReview in ``body`` as its JSON shape."""
    spec = _message(unwrap(body), 2)
    out: dict[str, Any] = {}
    if resource := _message(spec, 1):
        out["resourceAttributes"] = _strings(resource, _RESOURCE)
    if non_resource := _message(spec, 2):
        out["nonResourceAttributes"] = _strings(non_resource, _NON_RESOURCE)
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": out,
    }
