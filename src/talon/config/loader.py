"""Read, check and validate ``config.toml`` and the services file.

Loading builds a brand-new ``LoadedConfig`` or raises ``ConfigError`` listing
every problem found; a caller that holds a good config keeps it on error (R28).
"""

from __future__ import annotations

import codecs
import errno
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
# Deeper than any setting nests (a probe's endpoint.via is 4 levels): more is refused at
# read, before it can exhaust a validator's stack.
MAX_DEPTH = 16


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
    """The file's text and its tables, or a ConfigError that says what is wrong and where.

    Whatever the bytes are (not UTF-8, UTF-16, torn, absurdly nested, a number of
    thousands of digits, a NUL in a string), the answer is a problem, never an exception.
    """
    try:
        found = path.is_file()
        if found and not allow_insecure and (problem := check_trust(path)):
            raise ConfigError([problem])
        data = path.read_bytes() if found else b""
    except OSError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    None,
                    f"{role} file cannot be read: {exc.strerror or exc}",
                    _unreadable_fix(role, exc),
                )
            ]
        ) from None
    if not found:
        fix = (
            "create it (see examples/ and the README)"
            if role == "config"
            else ("create it, or point services_file in config.toml at the right file")
        )
        raise ConfigError([ConfigProblem(path, None, f"{role} file not found", fix)])
    text = _decode(path, data)
    parsed = _parse(path, text)
    problems = _hostile(path, text, parsed)
    if problems:
        raise ConfigError(problems)
    return text, parsed


def _unreadable_fix(role: str, exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "shorten the path" + (" in services_file" if role == "services" else "")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "let the user Talon runs as read it (chmod u+r, or chown)"
    return "check the path and the file system"


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text; a UTF-8 byte-order mark (some editors write one) is dropped."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    None,
                    "is UTF-16 (or UTF-32) text; TOML files are UTF-8",
                    "save the file as UTF-8",
                    1,
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    None,
                    f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, "
                    f"column {column} ({exc.reason})",
                    "save the file as UTF-8 (re-type the character, or convert it: "
                    f"iconv -f LATIN1 -t UTF-8 {path.name})",
                    line,
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # 3.11's TOMLDecodeError has no lineno attribute; its message has "(at line N, ...".
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        if line is None and "end of document" in str(exc):  # a string or table never closed
            line = max(1, len(text.splitlines()))
        problem = ConfigProblem(path, None, f"invalid TOML: {exc}", "fix the TOML syntax", line)
    except RecursionError:  # tomllib recurses once per level of [ and {
        problem = ConfigProblem(
            path,
            None,
            "invalid TOML: arrays or inline tables nested too deeply to be read",
            f"Talon's settings nest at most {MAX_DEPTH} levels: remove the extra [ or {{",
            _deepest_line(text),
        )
    except ValueError as exc:  # int() refuses numbers of more than 4300 digits
        long = re.search(r"\d{100,}", text)
        problem = ConfigProblem(
            path,
            None,
            f"invalid TOML: a number too long to read ({str(exc).split(':')[0]})",
            "write a number in the setting's range (no setting takes more than a few digits)",
            text.count("\n", 0, long.start()) + 1 if long else None,
        )
    raise ConfigError([problem])


def _deepest_line(text: str) -> int | None:
    counts = [line.count("[") + line.count("{") for line in text.splitlines()]
    best = max(range(len(counts)), key=counts.__getitem__, default=None)
    return None if best is None or not counts[best] else best + 1


def _hostile(path: Path, text: str, data: dict[str, Any]) -> list[ConfigProblem]:
    """Values TOML allows but no setting can use: nesting deeper than any setting's (which
    would only exhaust the validators' stack) and NUL characters, which no path, command
    or name can carry (the OS refuses them where Talon would use them, long after load)."""
    problems: list[ConfigProblem] = []
    stack: list[tuple[tuple[str, ...], object]] = [((), data)]
    while stack and len(problems) < 20:
        where, value = stack.pop()
        if len(where) > MAX_DEPTH:
            problems.append(
                ConfigProblem(
                    path,
                    locate.dotted(where[:MAX_DEPTH]),
                    f"is nested more than {MAX_DEPTH} levels deep",
                    "remove the extra levels: Talon's settings nest a few levels at most",
                    locate.find_line(text, where[:MAX_DEPTH]),
                )
            )
            continue
        items: list[tuple[str, object]] = []
        if isinstance(value, dict):
            items = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(str(i), v) for i, v in enumerate(value)]
        elif isinstance(value, str) and "\x00" in value:
            problems.append(
                ConfigProblem(
                    path,
                    locate.dotted(where),
                    "contains a NUL character (\\u0000), which no path, command or name can hold",
                    "remove the \\u0000",
                    locate.find_line(text, where),
                )
            )
        for key, item in items:
            if "\x00" in key:
                problems.append(
                    ConfigProblem(
                        path,
                        locate.dotted((*where, key)),
                        "the key contains a NUL character (\\u0000)",
                        "remove the \\u0000 from the key",
                        locate.find_line(text, where) if where else None,
                    )
                )
            else:
                stack.append(((*where, key), item))
    return problems


def _problems(
    exc: ValidationError,
    path: Path,
    text: str,
    prefix: tuple[str, ...],
    model: type[BaseModel],
    given: object,
) -> list[ConfigProblem]:
    out = []
    for error in exc.errors():
        where = locate.key_path(given, error["loc"])
        loc = prefix + where
        known = _known_keys(model, where[:-1])
        message, fix = locate.describe(dict(error), known)
        line = locate.find_line(text, loc)
        out.append(ConfigProblem(path, locate.dotted(loc), locate.cap(message), fix, line))
    return out


def _known_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """Valid keys of the (sub)model at ``loc``, for "did you mean" hints."""
    for part in loc:
        if part.isdigit():  # an item of an array of tables: the same model
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        annotation = field.annotation if field else None
        inner = _flatten(annotation)
        sub = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if sub is None:
            return []
        model = sub
    return [f.alias or name for name, f in model.model_fields.items()]


def _flatten(annotation: object) -> list[object]:
    """``X | None``, ``list[X]``, ``list[X] | None`` ... -> [X, None, ...]."""
    out: list[object] = []
    todo = [annotation]
    while todo:
        item = todo.pop()
        args = getattr(item, "__args__", None)
        if args:
            todo.extend(args)
        else:
            out.append(item)
    return out


def parse_services(
    text: str, data: dict[str, Any], path: Path, config: TalonConfig
) -> tuple[ProbeSpec, ...]:
    """Build every probe of the services file, or raise with all problems."""
    problems: list[ConfigProblem] = []
    probes: list[ProbeSpec] = []

    def problem(where: tuple[str, ...], message: str, fix: str) -> None:
        line = locate.find_line(text, where)
        problems.append(ConfigProblem(path, locate.dotted(where), message, fix, line))

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
            if not name.strip():
                problem(
                    (kind, name), "a probe needs a name", f"write [{kind}.NAME], NAME not blank"
                )
                continue
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
            try:  # strict: a wrong type is an error, never coerced (only int -> float)
                probes.append(cast(ProbeSpec, model.model_validate(fields, strict=True)))
            except ValidationError as exc:
                problems.extend(_problems(exc, path, text, (kind, name), model, fields))
    if problems:
        raise ConfigError(problems)
    return tuple(probes)


def _default_timeout(kind: str, config: TalonConfig) -> int:
    from talon.kinds import RUNTIME_PROBE_KINDS

    if kind in RUNTIME_PROBE_KINDS:
        return config.probes.runtime_timeout_secs
    return config.probes.k8s_timeout_secs if kind == "k8s" else config.probes.service_timeout_secs


def _usable(path: Path) -> bool:
    """A path whose length the OS accepts (longer ones fail every call with ENAMETOOLONG)."""
    return len(os.fsencode(path)) < 4096 and all(len(os.fsencode(p)) <= 255 for p in path.parts)


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
        config = TalonConfig.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, path, text, (), TalonConfig, data)) from None
    services_path = resolve_services_path(config, path, env)
    if not _usable(services_path):
        raise ConfigError(
            [
                ConfigProblem(
                    path,
                    "services_file",
                    f"is not a path this system can open ({len(config.services_file)} "
                    "characters, or a part longer than 255 bytes)",
                    'write the services file\'s path, e.g. services_file = "services.toml"',
                    locate.find_line(text, ("services_file",)),
                )
            ]
        )
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
