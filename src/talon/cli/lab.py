"""``talon lab``: bring the lab up, show it, take it down (imported only when used)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from talon.lab.profiles import LINUX
from talon.lab.substrate import Lab, LabError
from talon.node import NodeIdentity, expand_path

if TYPE_CHECKING:
    from talon.lab.linux.box import LinuxLab


def lab_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.absolute()
    env = os.environ.get("TALON_LAB_DIR", "").strip()
    return expand_path(env).absolute() if env else NodeIdentity.detect().state_dir / "lab"


@contextlib.contextmanager
def _as_click_errors() -> Iterator[None]:
    """A lab error is the operator's to read, not a traceback."""
    from talon.lab.linux.box import ERRORS

    try:
        yield
    except (LabError, *ERRORS) as exc:
        raise click.ClickException(str(exc)) from None


def _linux(where: Path) -> LinuxLab | None:
    """The linux profile's lab in ``where``, if that is what is up there."""
    from talon.lab.linux.box import META, LinuxLab

    return LinuxLab(where) if (where / META).exists() else None


def run_up(directory: Path | None, profile: str | None = None) -> None:
    where = lab_dir(directory)
    with _as_click_errors():
        linux, vm = _linux(where), Lab(where)
        up_now = LINUX if linux else vm.profile() if vm.meta_path.exists() else None
        if profile and up_now and (profile == LINUX) != (up_now == LINUX):
            raise LabError(f"a {up_now} lab is up in {where}: `talon lab down` it first")
        if (profile or up_now) == LINUX:
            from talon.lab.linux.box import LinuxLab

            box = linux or LinuxLab(where)
            ports: object = box.up()
            box.write_talon_config()
            up_as = LINUX
        else:
            ports, up_as = vm.up(profile), vm.profile()
    click.echo(f"lab up in {where} ({up_as} profile): {ports}")
    click.echo(f"try: talon --config {where / 'talon' / 'config.toml'} check")


def run_down(directory: Path | None) -> None:
    where = lab_dir(directory)
    linux = _linux(where)
    stopped = linux.down() if linux is not None else []
    stopped += Lab(where).down()
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def run_status(directory: Path | None) -> None:
    where = lab_dir(directory)
    linux = _linux(where)
    with _as_click_errors():
        status = linux.status() if linux is not None else Lab(where).status()
    click.echo(json.dumps(status, indent=2))


def _linux_verbs() -> dict[str, Callable[[LinuxLab, str | None, float], str]]:
    """The verbs that make sense on a systemd + engine box (there is no VM, no forward)."""
    from talon.lab.linux import box as linux

    return {
        "service-down": lambda box, service, _s: linux.service_down(box, service or "worker"),
        "runtime-down": lambda box, _service, _s: linux.engine_down(box),
        "engine-down": lambda box, _service, _s: linux.engine_down(box),
        "regress": lambda box, _service, s: linux.arm_regress(box, s),
        "container-unhealthy": lambda box, service, _s: linux.container_unhealthy(
            box, service or "typesense"
        ),
    }


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
        "socket-drift": lambda lab, _service, _s: faults.socket_drift(lab),
        "engine-down": lambda lab, _service, _s: faults.engine_down(lab),
    }


def run_inject(directory: Path | None, fault: str, service: str | None, seconds: float) -> None:
    where = lab_dir(directory)
    linux = _linux(where)
    with _as_click_errors():
        if linux is not None:
            verbs = _linux_verbs()
            if fault not in verbs:
                raise LabError(
                    f"{fault} has no meaning on the {LINUX} profile (no VM, no forwards); "
                    f"there: {', '.join(verbs)}"
                )
            click.echo(verbs[fault](linux, service, seconds))
            return
        if fault == "container-unhealthy":
            raise LabError(
                f"the {Lab(where).profile()} profile runs no containers: "
                f"`talon lab up --profile {LINUX}` has them"
            )
        click.echo(_verbs()[fault](Lab(where), service, seconds))


def run_heal_all(directory: Path | None) -> None:
    from talon.lab import faults

    where = lab_dir(directory)
    linux = _linux(where)
    with _as_click_errors():
        if linux is not None:
            from talon.lab.linux.box import heal_all

            click.echo(heal_all(linux))
        else:
            click.echo(faults.heal_all(Lab(where)))
