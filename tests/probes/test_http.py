"""The http probe against real loopback servers (tests.support.farm) — R9 error classes."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from talon.config import HttpProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import http as http_probe
from talon.report import Observation
from tests.support import procs


def _spec(url: str, **kw: Any) -> HttpProbe:
    return HttpProbe(name="t", kind="http", url=url, **{"timeout_secs": 2.0, **kw})


def _check(spec: HttpProbe, ctx: ProbeContext) -> Observation:
    return asyncio.run(http_probe.probe(spec, ctx))


def test_200_is_ok_and_says_which_path_answered(farm: tuple[str, int], ctx: ProbeContext) -> None:
    obs = _check(_spec(f"http://127.0.0.1:{farm[1]}/ok"), ctx)
    assert obs.status is Status.OK
    assert obs.message == "HTTP 200"
    assert obs.endpoint_class == "localhost"
    assert [p.path_class for p in obs.paths] == ["localhost"]


def test_500_is_critical_http_status(farm: tuple[str, int], ctx: ProbeContext) -> None:
    obs = _check(_spec(f"http://127.0.0.1:{farm[1]}/fail"), ctx)
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.HTTP_STATUS
    assert "500" in obs.message


def test_redirect_counts_as_success_by_default_but_not_with_expect_status(
    farm: tuple[str, int], ctx: ProbeContext
) -> None:
    url = f"http://127.0.0.1:{farm[1]}/redirect"
    assert _check(_spec(url), ctx).status is Status.OK
    assert _check(_spec(url, expect_status=[200]), ctx).error_kind is ErrorKind.HTTP_STATUS


def test_body_match_and_mismatch(farm: tuple[str, int], ctx: ProbeContext) -> None:
    url = f"http://127.0.0.1:{farm[1]}/health"
    assert _check(_spec(url, body_contains='"ok":true'), ctx).status is Status.OK
    obs = _check(_spec(url, body_contains="degraded"), ctx)
    assert obs.error_kind is ErrorKind.BODY_MISMATCH


def test_chunked_body_is_decoded_before_matching(farm: tuple[str, int], ctx: ProbeContext) -> None:
    obs = _check(_spec(f"http://127.0.0.1:{farm[1]}/chunked", body_contains="needle"), ctx)
    assert obs.status is Status.OK, obs.message


def test_hang_costs_its_timeout_and_is_a_timeout(farm: tuple[str, int], ctx: ProbeContext) -> None:
    started = time.monotonic()
    obs = _check(_spec(f"http://127.0.0.1:{farm[1]}/hang", timeout_secs=0.5), ctx)
    assert obs.error_kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 3  # bounded by the probe's timeout, not forever


def test_empty_reply_is_transient_and_refused_too(farm: tuple[str, int], ctx: ProbeContext) -> None:
    """R9: an empty reply and connection-refused are the transient kinds."""
    empty = _check(_spec(f"http://127.0.0.1:{farm[1]}/empty"), ctx)
    assert empty.error_kind is ErrorKind.EMPTY_REPLY
    assert empty.error_kind.transient
    with procs.refusing_port() as closed:
        refused = _check(_spec(f"http://127.0.0.1:{closed}/"), ctx)
    assert refused.error_kind is ErrorKind.REFUSED
    assert refused.error_kind.transient


def test_non_http_answer_is_a_protocol_error_not_transient(
    farm: tuple[str, int], ctx: ProbeContext
) -> None:
    obs = _check(_spec(f"http://127.0.0.1:{farm[1]}/garbage"), ctx)
    assert obs.error_kind is ErrorKind.PROTOCOL
    assert not obs.error_kind.transient


def test_head_request_reads_no_body(farm: tuple[str, int], ctx: ProbeContext) -> None:
    assert _check(_spec(f"http://127.0.0.1:{farm[1]}/ok", method="HEAD"), ctx).status is Status.OK


@contextmanager
def _tls_server(tmp_path: Path) -> Iterator[int]:
    """A real TLS HTTP server with a fresh self-signed certificate, in a thread."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    try:
                        with context.wrap_socket(conn, server_side=True) as tls:
                            tls.recv(4096)
                            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    except (ssl.SSLError, OSError):
                        pass  # the client refused our certificate

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            thread.join()


def test_tls_verification_failure_and_opt_out(ctx: ProbeContext, tmp_path: Path) -> None:
    with _tls_server(tmp_path) as port:
        refused = _check(_spec(f"https://127.0.0.1:{port}/"), ctx)
        assert refused.error_kind is ErrorKind.TLS
        assert "CERTIFICATE_VERIFY_FAILED" in refused.message
        assert (
            _check(_spec(f"https://127.0.0.1:{port}/", tls_verify=False), ctx).status is Status.OK
        )


def test_non_tls_answer_to_a_handshake_is_a_tls_error(ctx: ProbeContext) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def banner() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" * 8)
                conn.recv(4096)

        thread = threading.Thread(target=banner, daemon=True)
        thread.start()
        obs = _check(_spec(f"https://127.0.0.1:{listener.getsockname()[1]}/"), ctx)
        thread.join(5)
    assert obs.error_kind is ErrorKind.TLS


@pytest.mark.parametrize(
    "url", ["ftp://x/", "http:///nohost", "http://h:99999/", "http://bad host/"]
)
def test_bad_urls_are_rejected_by_the_model(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        _spec(url)
