"""A throwaway certificate authority for the lab, made with the ``openssl`` CLI.

kubectl sends no credentials over plain HTTP (LAB-NOTES gotcha 1), so the
emulated API serves TLS and users authenticate with client certificates,
CN = user name and O = groups, exactly as the real apiserver reads them.
Go verifies server names against subjectAltName only, so every address the
API is reached on goes into the server certificate.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd, timeout=30)
    except FileNotFoundError:
        raise RuntimeError("openssl is not installed: run scripts/setup.sh") from None
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"openssl {args[0]} failed: {exc.stderr.decode().strip()}") from None


def _subject(common_name: str, organizations: Sequence[str]) -> str:
    return "".join(f"/O={o}" for o in organizations) + f"/CN={common_name}"


def authority(directory: Path, name: str = "talon-lab-ca") -> Pair:
    """A self-signed CA (reused when it exists)."""
    pair = Pair(directory / "ca.crt", directory / "ca.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *_KEY, "-days", "3650", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", pair.key.name, "-out", pair.cert.name,
        cwd=directory,
    )  # fmt: skip
    pair.key.chmod(0o600)
    return pair


def issue(
    ca: Pair,
    stem: str,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    server: bool = False,
) -> Pair:
    """A certificate signed by ``ca``: a server's (with SANs) or a client's (CN, O)."""
    directory = ca.cert.parent
    pair = Pair(directory / f"{stem}.crt", directory / f"{stem}.key")
    sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns]
    usage = "serverAuth" if server else "clientAuth"
    ext = directory / f"{stem}.ext"
    ext.write_text(
        f"extendedKeyUsage={usage}\nkeyUsage=critical,digitalSignature\n"
        + (f"subjectAltName={','.join(sans)}\n" if sans else "")
    )
    _openssl(
        "req", "-new", *_KEY, "-subj", _subject(common_name, organizations),
        "-keyout", pair.key.name, "-out", f"{stem}.csr",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{stem}.csr", "-CA", ca.cert.name, "-CAkey", ca.key.name,
        "-CAcreateserial", "-days", "3650", "-extfile", ext.name, "-out", pair.cert.name,
        cwd=directory,
    )  # fmt: skip
    (directory / f"{stem}.csr").unlink()
    ext.unlink()
    pair.key.chmod(0o600)
    return pair
