"""Read, check and validate ``config.toml`` and the services file.

Loading builds a brand-new ``LoadedConfig`` or raises ``ConfigError`` listing
every problem found; a caller that holds a good config keeps it on error (R28).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from talon.config import locate
from talon.config.builtins.expand import expand
from talon.config.models import ORIGINAL_WORKER_SECRETS, TalonConfig
from talon.config.probes import KIND_MODELS, ProbeSpec
from talon.errors import ConfigError, ConfigProblem
from talon.node import NodeIdentity, expand_path

INSECURE_ENV = "TALON_ALLOW_INSECURE_CONFIG"


@dataclass(frozen=True)
class LoadedConfig:
    config: TalonConfig
    config_path: Path
    services_path: Path
    identity: NodeIdentity
    warnings: tuple[str, ...] = ()

    @property
    def probes(self) -> tuple[ProbeSpec, ...]:
        return self.config.service_probes


def default_config_path(identity: NodeIdentity, env: Mapping[str, str]) -> Path:
    explicit = env.get("TALON_CONFIG", "").strip()
    return expand_path(explicit, env) if explicit else identity.config_dir / "config.toml"


def check_trust(path: Path) -> ConfigProblem | None:
    """Refuse files others could edit: they define shell commands Talon runs."""
    info = path.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return ConfigProblem(
            path,
            None,
            f"is writable by group or others (mode {stat.filemode(info.st_mode)})",
            f"chmod go-w {path}  (or pass --allow-insecure-config / {INSECURE_ENV}=1)",
        )
    if info.st_uid not in (os.geteuid(), 0):
        return ConfigProblem(
            path,
            None,
            f"is owned by uid {info.st_uid}, not by this user ({os.geteuid()})",
            "chown it to the user Talon runs as "
            f"(or pass --allow-insecure-config / {INSECURE_ENV}=1)",
        )
    return None


def read_toml(path: Path, role: str, allow_insecure: bool) -> tuple[str, dict[str, Any]]:
    if not path.is_file():
        fix = (
            "create it (see examples/ and the README)"
            if role == "config"
            else ("create it, or point services_file in config.toml at the right file")
        )
        raise ConfigError([ConfigProblem(path, None, f"{role} file not found", fix)])
    if not allow_insecure and (problem := check_trust(path)):
        raise ConfigError([problem])
    text = path.read_text(encoding="utf-8")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # 3.11's TOMLDecodeError has no lineno attribute; its message has "(at line N, ...".
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise ConfigError(
            [ConfigProblem(path, None, f"invalid TOML: {exc}", "fix the TOML syntax", line)]
        ) from None


def _problems(
    exc: ValidationError, path: Path, text: str, prefix: tuple[str, ...], model: type[BaseModel]
) -> list[ConfigProblem]:
    out = []
    for error in exc.errors():
        loc = prefix + tuple(str(p) for p in error["loc"])
        known = _known_keys(model, error["loc"][:-1])
        message, fix = locate.describe(dict(error), known)
        line = locate.find_line(text, loc)
        out.append(ConfigProblem(path, ".".join(loc), message, fix, line))
    return out


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the (sub)model at ``loc``, for "did you mean" hints."""
    for part in loc:
        field = model.model_fields.get(str(part))
        inner = getattr(field.annotation, "__args__", (field.annotation,)) if field else ()
        sub = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if sub is None:
            return []
        model = sub
    return [f.alias or name for name, f in model.model_fields.items()]


def parse_services(
    text: str, data: dict[str, Any], path: Path, config: TalonConfig
) -> tuple[ProbeSpec, ...]:
    """Build every probe of the services file, or raise with all problems."""
    problems: list[ConfigProblem] = []
    probes: list[ProbeSpec] = []

    def problem(where: tuple[str, ...], message: str, fix: str) -> None:
        line = locate.find_line(text, where)
        problems.append(ConfigProblem(path, ".".join(where), message, fix, line))

    for kind, sections in data.items():
        model = KIND_MODELS.get(kind)
        if model is None:
            hint = locate.suggest(kind, KIND_MODELS)
            fix = f"did you mean [{hint}.NAME]?" if hint else f"use one of {sorted(KIND_MODELS)}"
            problem((kind,), f"unknown probe kind '{kind}'", fix)
            continue
        if not isinstance(sections, dict):
            problem((kind,), f"'{kind}' must be a table of probes", f"write [{kind}.NAME] sections")
            continue
        for name, raw in sections.items():
            if not isinstance(raw, dict):
                problem(
                    (kind, name), "is not a probe section", f"write [{kind}.{name}] and its keys"
                )
                continue
            if clash := [k for k in ("name", "kind") if k in raw]:
                problem(
                    (kind, name, clash[0]),
                    f"'{clash[0]}' comes from the section header",
                    f"remove the key; the header [{kind}.{name}] sets it",
                )
                continue
            fields = {
                "timeout_secs": _default_timeout(kind, config),
                **raw,
                "name": name,
                "kind": kind,
            }
            try:
                probes.append(cast(ProbeSpec, model.model_validate(fields)))
            except ValidationError as exc:
                problems.extend(_problems(exc, path, text, (kind, name), model))
    if problems:
        raise ConfigError(problems)
    return tuple(probes)


def _default_timeout(kind: str, config: TalonConfig) -> int:
    from talon.kinds import RUNTIME_PROBE_KINDS

    if kind in RUNTIME_PROBE_KINDS:
        return config.probes.runtime_timeout_secs
    return config.probes.k8s_timeout_secs if kind == "k8s" else config.probes.service_timeout_secs


def resolve_services_path(config: TalonConfig, config_path: Path, env: Mapping[str, str]) -> Path:
    path = expand_path(config.services_file, env)
    return path if path.is_absolute() else config_path.parent / path


def load(
    config_path: Path | None = None,
    *,
    identity: NodeIdentity,
    allow_insecure: bool = False,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    env = os.environ if env is None else env
    allow_insecure = allow_insecure or env.get(INSECURE_ENV, "") in ("1", "true", "yes")
    path = (config_path or default_config_path(identity, env)).absolute()
    text, data = read_toml(path, "config", allow_insecure)
    try:
        config = TalonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, path, text, (), TalonConfig)) from None
    services_path = resolve_services_path(config, path, env)
    services_text, services_data = read_toml(services_path, "services", allow_insecure)
    dynamic = parse_services(services_text, services_data, services_path, config)
    stack = expand(config, data, path, text, services_data, dynamic)
    update: dict[str, Any] = {"service_probes": stack.probes}
    if stack.runtime_kind is not None:  # the profile's runtime, as config.toml names none
        update["runtime"] = config.runtime.model_copy(update={"kind": stack.runtime_kind})
    if stack.original:  # the original's /health answered 200 always; its gateway reads that
        update["health"] = config.health.model_copy(update={"unhealthy_status": 200})
        # and its agents read the prompt on stdin, with no argument appended
        update["agent"] = config.agent.model_copy(update={"prompt_via": "stdin"})
        if config.worker is not None:  # and its worker got WORKER_ROLE=host and 7 leased secrets
            update["worker"] = config.worker.model_copy(
                update={"env": {"WORKER_ROLE": "host"}, "secrets": dict(ORIGINAL_WORKER_SECRETS)}
            )
    config = config.model_copy(update=update)
    from talon.config.warnings import collect_warnings

    warnings = [*stack.warnings, *collect_warnings(config, identity, env)]
    return LoadedConfig(config, path, services_path, identity, tuple(warnings))
