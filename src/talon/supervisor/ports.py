"""Who listens on a port, and killing exactly that listener by pid (F8, R22).

Only sockets in LISTEN state count: a client connected to the port is never a
holder (R22: ``lsof -ti :PORT`` also returned clients, and they were killed).
"""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil

from talon.supervisor.policy import Holder


def answers_on_loopback(port: int, timeout_s: float = 0.5) -> bool:
    """A cheap first look (a refused connect costs microseconds; the socket table, ~20 ms)."""
    with socket.socket() as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listeners(port: int) -> list[Holder]:
    """Processes listening on ``port`` on any address (blocking: call in a thread)."""
    holders: dict[int | None, Holder] = {}
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return [Holder(None, cmdline="the host denied the socket table (run Talon as the owner)")]
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        holders.setdefault(conn.pid, describe(conn.pid))
    return list(holders.values())


def describe(pid: int | None) -> Holder:
    if pid is None:
        return Holder(None)
    try:
        proc = psutil.Process(pid)
        ppid = proc.ppid()
        cmdline = " ".join(proc.cmdline())[:300]
    except psutil.Error:
        return Holder(pid, None, False)
    return Holder(pid, ppid, ppid in (0, 1) or psutil.pid_exists(ppid), cmdline)


def still_listens(pid: int, port: int) -> bool:
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def kill_listener(pid: int, port: int, grace_s: float = 3.0) -> str:
    """SIGTERM, then SIGKILL after ``grace_s``; only if ``pid`` still listens on ``port``."""
    if pid in (1, os.getpid(), os.getppid()):
        raise RuntimeError(f"pid {pid} is init, Talon or Talon's parent: refusing")
    if not still_listens(pid, port):
        return f"pid {pid} no longer listens on {port}: nothing killed"
    proc = psutil.Process(pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
        return f"pid {pid} stopped by SIGTERM"
    except psutil.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + grace_s
        while proc.is_running() and time.monotonic() < deadline:
            time.sleep(0.02)
        return f"pid {pid} killed by SIGKILL after {grace_s:g}s"
