"""``talon.lab.procs.freeze``: a frozen process is wholly stopped before anyone relies on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from talon.lab.procs import freeze, thread_states
from tests.support.procs import stop

# Four threads spinning on the CPU: the ones a SIGSTOP is not handed to keep running
# until the thread it was handed to has run.
SPINNERS = (
    "import threading, time\n"
    "def spin():\n"
    "    while True: pass\n"
    "for _ in range(4): threading.Thread(target=spin, daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_every_thread_of_a_busy_process_is_stopped_when_freeze_returns() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SPINNERS], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        assert freeze(proc.pid)
        states = thread_states(proc.pid)
        assert len(states) == 5
        assert set(states) == {"T"}
        os.kill(proc.pid, signal.SIGCONT)
    finally:
        stop(proc)


def test_a_process_that_is_gone_is_frozen_enough() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert freeze(proc.pid)
