"""A config's built-in stack, expanded into probes beside the services file's own.

The profile's tables are validated by the same models as the services file; a
probe of the services file with the same KIND.NAME replaces the built-in (the
way to change one beyond its ``[stack]`` keys); ``[stack] disable`` switches
built-ins off. The profile's ``[runtime] kind`` applies when config.toml names none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from talon.config import locate
from talon.config.builtins import AUTO, NONE, ORIGINAL, Profile, Timeouts, profile_named
from talon.config.builtins.recognise import MARKER, is_original, marked, talon_kinds, talon_only
from talon.config.probes import KIND_MODELS, ProbeSpec
from talon.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from talon.config.models import TalonConfig


@dataclass(frozen=True)
class Stack:
    profile: Profile | None = None
    probes: tuple[ProbeSpec, ...] = ()  # the built-ins, then the services file's
    runtime_kind: str | None = None  # to apply: the profile's, when config.toml names none
    warnings: tuple[str, ...] = field(default=())
    original: bool = False  # the original Talon's format: its rules where Talon's differ


def _which(
    config: TalonConfig, data: Mapping[str, Any], services: Mapping[str, Any]
) -> tuple[Profile | None, list[str]]:
    stack = config.stack
    if stack.profile == NONE:
        return None, []
    if stack.profile != AUTO:
        return profile_named(stack.profile), []
    if is_original(data, services):
        return profile_named(ORIGINAL), []
    warnings = []
    kinds = talon_kinds(services)
    if marked(data) and not talon_only(data) and kinds:
        # The original's own config.toml beside a services file that grew Talon's kinds.
        warnings.append(
            f"config.toml is the original Talon's (it sets [{MARKER[0]}] {MARKER[1]}), but the "
            f"services file has Talon's own kinds ({', '.join(kinds)}), so the original's "
            f'built-in probes are not added: add [stack] profile = "{ORIGINAL}" to keep them, '
            f'or profile = "{NONE}" to say so'
        )
    elif set_keys := [*stack.settings(), *(["disable"] if stack.disable else [])]:
        warnings.append(
            f"[stack] sets {', '.join(set_keys)} but no profile applies (profile = "
            f'"{AUTO}" and this config is not the original\'s format): name one, e.g. '
            f'profile = "{ORIGINAL}"'
        )
    return None, warnings


def timeouts(config: TalonConfig) -> Timeouts:
    p = config.probes
    return Timeouts(
        runtime=float(p.runtime_timeout_secs),
        cluster=float(p.k8s_timeout_secs),
        service=float(p.service_timeout_secs),
        critical_after=p.critical_after_consecutive_failures,
    )


def build(profile: Profile, config: TalonConfig, path: Path, text: str) -> tuple[ProbeSpec, ...]:
    """The profile's probes with this config's ``[stack]`` values, or every problem."""
    line = locate.find_line(text, ("stack",))
    problems: list[ConfigProblem] = []
    stack = config.stack
    unread = sorted(set(stack.settings()) - set(profile.defaults))
    for key in unread:
        problems.append(
            ConfigProblem(
                path,
                f"stack.{key}",
                f"profile {profile.name!r} has no use for '{key}'",
                f"remove it; {profile.name} reads {', '.join(sorted(profile.defaults))}",
                locate.find_line(text, ("stack", key)),
            )
        )
    probes: list[ProbeSpec] = []
    for table in profile.build({**profile.defaults, **stack.settings()}, timeouts(config)):
        fields = {**table.keys, "name": table.name, "kind": table.kind}
        try:
            probes.append(cast(ProbeSpec, KIND_MODELS[table.kind].model_validate(fields)))
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                message, _ = locate.describe(dict(error), ())
                problems.append(
                    ConfigProblem(
                        path,
                        "stack",
                        f"profile {profile.name!r} built {table.key} with an invalid {where}: "
                        f"{message}",
                        "correct the [stack] value it came from",
                        line,
                    )
                )
    known = {p.key: p for p in probes}
    for key in stack.disable:
        if key not in known:
            problems.append(
                ConfigProblem(
                    path,
                    "stack.disable",
                    f"{key!r} is not a probe of profile {profile.name!r}",
                    f"use KIND.NAME, one of {', '.join(known)}",
                    locate.find_line(text, ("stack", "disable")),
                )
            )
    if problems:
        raise ConfigError(problems)
    off = set(stack.disable)
    return tuple(p.model_copy(update={"enabled": False}) if p.key in off else p for p in probes)


def expand(
    config: TalonConfig,
    data: Mapping[str, Any],
    path: Path,
    text: str,
    services: Mapping[str, Any],
    dynamic: tuple[ProbeSpec, ...],
) -> Stack:
    """The probes this config runs: its stack's built-ins, then its services file's."""
    if is_original(data, services):
        dynamic = tuple(_as_original(p) for p in dynamic)
    profile, warnings = _which(config, data, services)
    if profile is None:
        return Stack(None, dynamic, None, tuple(warnings))
    builtins = build(profile, config, path, text)
    mine = {p.key for p in dynamic}
    if replaced := [b.key for b in builtins if b.key in mine]:
        warnings.append(
            f"the services file's {', '.join(replaced)} replace{'s' if len(replaced) == 1 else ''}"
            f" the built-in of profile {profile.name!r} of the same name"
        )
    runtime = data.get("runtime")
    named = isinstance(runtime, dict) and "kind" in runtime
    return Stack(
        profile,
        tuple(b for b in builtins if b.key not in mine) + dynamic,
        None if named else profile.runtime_kind,
        tuple(warnings),
        is_original(data, services),
    )


def _as_original(probe: ProbeSpec) -> ProbeSpec:
    """A script of the original's services file passes on exit 0 and fails on anything
    else (the original's rule): its `exit 1` is a failure, not a Nagios warning."""
    if probe.kind == "script" and "exit_codes" not in probe.model_fields_set:
        return probe.model_copy(update={"exit_codes": "zero_ok"})
    return probe
