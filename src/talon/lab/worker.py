"""The lab's worker: a tiny HTTP app Talon's supervisor runs (F7-F9).

``python -m talon.lab.worker --port P [--record FILE]``

- ``GET /api/inngest`` answers 200 (503 with ``LAB_WORKER_UNHEALTHY=1``);
- ``PUT /api/inngest`` answers 200 and appends a ``sync`` line to the record;
- ``LAB_WORKER_EXIT=N`` makes it exit with code N at once, before binding (F7);
- SIGHUP appends a ``hup`` line (signal forwarding), SIGTERM exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORD: Path | None = None


def record(what: str) -> None:
    if RECORD is not None:
        with RECORD.open("a") as f:
            f.write(json.dumps({"what": what, "pid": os.getpid(), "at": time.time()}) + "\n")


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int) -> None:
        body = json.dumps({"pid": os.getpid(), "ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(503 if os.environ.get("LAB_WORKER_UNHEALTHY") == "1" else 200)

    def do_PUT(self) -> None:
        record("sync")
        self._answer(200)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"lab-worker: {format % args}\n")


def main() -> None:
    global RECORD
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path)
    args = parser.parse_args()
    RECORD = args.record
    code = os.environ.get("LAB_WORKER_EXIT")
    if code is not None:
        print(f"lab-worker: exiting at once with {code} (LAB_WORKER_EXIT)", file=sys.stderr)
        sys.exit(int(code))
    signal.signal(signal.SIGHUP, lambda *_: record("hup"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    record("start")
    print(f"lab-worker: pid {os.getpid()} listening on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
