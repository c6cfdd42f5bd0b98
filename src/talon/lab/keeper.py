"""A lab keeper that restarts a dead VM, as a launchd job would (the other actor of F11).

``python -m talon.lab.keeper --dir LAB --every SECONDS``. Its boots are counted as
"keeper", so tests can tell them from Talon's force-cycles.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from talon.lab.substrate import Lab, LabError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    lab = Lab(args.dir)
    while True:
        time.sleep(args.every)
        if not lab.boot().get("running"):
            with contextlib.suppress(LabError):
                lab.start_vm(by="keeper")
