"""``talon lab``: bring the lab up, show it, take it down (imported only when used)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from talon.lab.substrate import Lab, LabError
from talon.node import NodeIdentity, expand_path


def lab_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.absolute()
    env = os.environ.get("TALON_LAB_DIR", "").strip()
    return expand_path(env).absolute() if env else NodeIdentity.detect().state_dir / "lab"


@contextlib.contextmanager
def _as_click_errors() -> Iterator[None]:
    """A lab error is the operator's to read, not a traceback."""
    try:
        yield
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


def run_up(directory: Path | None, profile: str | None = None) -> None:
    where = lab_dir(directory)
    with _as_click_errors():
        lab = Lab(where)
        ports = lab.up(profile)
    click.echo(f"lab up in {where} ({lab.profile()} profile): {ports}")
    click.echo(f"try: talon --config {where / 'talon' / 'config.toml'} check")


def run_down(directory: Path | None) -> None:
    stopped = Lab(lab_dir(directory)).down()
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def run_status(directory: Path | None) -> None:
    click.echo(json.dumps(Lab(lab_dir(directory)).status(), indent=2))


def _verbs() -> dict[str, Callable[[Lab, str | None, float], str]]:
    """Each `talon lab inject` verb (named with its FAULTS.md row in main.FAULTS)."""
    from talon.lab import faults

    return {
        "kill-forwarders": lambda lab, service, _s: faults.kill_forwarders(lab, service),
        "flap": lambda lab, service, s: faults.flap(lab, service or "typesense", s),
        "service-down": lambda lab, service, _s: faults.service_down(lab, service or "redis"),
        "runtime-down": lambda lab, _service, _s: faults.runtime_down(lab),
        "hang": lambda lab, service, _s: faults.hang(lab, service or "typesense"),
        "corrupt-aof": lambda lab, _service, _s: faults.corrupt_aof(lab),
        "regress": lambda lab, _service, s: faults.arm_regress(lab, s),
        "slow-boot": lambda lab, _service, s: faults.slow_boot(lab, s),
        "crashloop": lambda lab, _service, s: faults.crashloop(lab, s),
        "drop-rbac": lambda lab, _service, _s: faults.drop_rbac(lab),
        "network-down": lambda lab, _service, _s: faults.network_down(lab),
    }


def run_inject(directory: Path | None, fault: str, service: str | None, seconds: float) -> None:
    lab = Lab(lab_dir(directory))
    with _as_click_errors():
        click.echo(_verbs()[fault](lab, service, seconds))


def run_heal_all(directory: Path | None) -> None:
    from talon.lab import faults

    with _as_click_errors():
        click.echo(faults.heal_all(Lab(lab_dir(directory))))
