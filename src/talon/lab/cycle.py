"""``python -m talon.lab.cycle --dir D force-cycle|restart-forwarders``: the lab's runtime tool.

The lab's own ContainerRuntime adapter (the ``tunnels`` profile, or a config
that claims it) runs these as a child process, as a VM runtime's adapter runs
its tool's stop and start: the action is then bounded, killable with its
process group, and never blocks the daemon. What the lab's profile cannot do
is refused with exit code 69 (EX_UNAVAILABLE) and the reason on stderr, as a
platform tool refuses an unsupported verb. (The default profile's VM tool is
``talon.lab.vmtool``, driven by Talon's product adapter.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from talon.lab.substrate import REFUSED_EXIT, Lab, LabRefused


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="talon.lab.cycle")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--boot-delay", type=float, default=1.0)
    parser.add_argument("what", choices=["force-cycle", "restart-forwarders"])
    args = parser.parse_args(argv)
    lab = Lab(args.dir)
    try:
        if args.what == "force-cycle":
            lab.force_cycle(args.boot_delay)
        else:
            lab.restart_forwarders()
    except LabRefused as exc:
        print(f"{args.what}: refused: {exc}", file=sys.stderr)
        sys.exit(REFUSED_EXIT)
    print(f"{args.what}: done")


if __name__ == "__main__":
    main()
