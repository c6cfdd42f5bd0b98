"""Tier 2/3: hand the incident to an agent (a configured command) with a prompt file.

The prompt file holds what a responder needs: the node, the classification,
the failing probes with every path's outcome, the repair hints, what Talon
already tried and how it went, and where the evidence bundle lives. The
command gets the file's path as ``{prompt}`` (or as its last argument) and in
TALON_PROMPT_FILE; its exit and output are recorded in the incident.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from talon.actions.outcome import Outcome, from_command
from talon.adapters.command import run_command
from talon.store.files import atomic_write


def build_prompt(
    *,
    node_id: str,
    incident: Mapping[str, Any],
    failures: Sequence[Mapping[str, Any]],
    tried: Sequence[Mapping[str, Any]],
    hints: str,
    bundle: Path,
    local: bool,
    hypothesis: str = "",
) -> str:
    lines = [
        f"# Talon hand-off: incident {incident.get('id')} on node {node_id}",
        "",
        "You are the "
        + (
            "local agent: the network is down, so work only on this machine."
            if local
            else "cloud agent."
        )
        + " Diagnose and, if it is safe, repair. Never run `redis-check-aof --fix` or delete "
        "data without a human. Write what you did to stdout.",
        "",
        f"Root cause: {incident.get('root_cause')}; "
        f"faults: {', '.join(incident.get('faults', []))}",
    ]
    if hypothesis:  # seed 004's, from the last failed recovery's evidence
        lines += ["", f"Hypothesis the evidence supports: {hypothesis}"]
    if hints:
        lines += ["", f"Repair hints: {hints}"]
    lines += ["", "## Failing probes (every path tried)"]
    lines += [f"- {json.dumps(f, default=str)}" for f in failures] or ["- none"]
    lines += ["", "## What Talon already tried"]
    lines += [
        f"- {t.get('kind')} {t.get('target') or ''}: {t.get('outcome', 'running')} "
        f"{t.get('detail', '')}".rstrip()
        for t in tried
    ] or ["- nothing yet"]
    lines += ["", f"Evidence bundle: {bundle}", ""]
    return "\n".join(lines)


async def agent_handoff(
    command: str,
    *,
    prompt: str,
    prompt_path: Path,
    timeout: float,
    env: Mapping[str, str],
    extra_env: Mapping[str, str],
    via: str = "argument",
) -> Outcome:
    """The prompt is in a file (TALON_PROMPT_FILE, ``{prompt}``) and on stdin, always;
    ``via = "argument"`` also appends the file's path when the command has no ``{prompt}``."""
    atomic_write(prompt_path, prompt.encode())
    quoted = shlex.quote(str(prompt_path))
    line = command.replace("{prompt}", quoted) if "{prompt}" in command else command
    if via == "argument" and "{prompt}" not in command:
        line = f"{command} {quoted}"
    child_env = {**env, **extra_env, "TALON_PROMPT_FILE": str(prompt_path)}
    result = await run_command(
        ["sh", "-c", line], timeout=timeout, env=child_env, input=prompt.encode()
    )
    return from_command(result, "agent", timeout)
