"""A stale port holder for F8: an orphan listener, reparented away from its starter.

``python -m talon.lab.orphan --port P --pidfile FILE``: forks, starts a new
session, forks again and exits, so the listener's parent is init (or the
nearest subreaper); the listener writes its pid to FILE and accepts forever.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args = parser.parse_args()
    if os.fork():
        deadline = time.monotonic() + 10
        while not args.pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        sys.exit(0 if args.pidfile.exists() else 1)
    os.setsid()
    if os.fork():
        os._exit(0)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(16)
    tmp = args.pidfile.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.rename(args.pidfile)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    clients = []
    while True:
        conn, _ = sock.accept()
        clients.append(conn)  # hold them: a client must survive the holder's end (R22)


if __name__ == "__main__":
    main()
