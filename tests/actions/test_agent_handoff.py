"""The agent hand-off: the prompt in a file (TALON_PROMPT_FILE), on stdin always, and as
the command's last argument unless the config says stdin (the original Talon's way: its
`pi -p ...` read the prompt on stdin, and an extra argument would become its prompt)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from talon.actions.agent import agent_handoff
from talon.adapters.command import exec_env


def _run(tmp_path: Path, command: str, via: str) -> None:
    outcome = asyncio.run(
        agent_handoff(
            command,
            prompt="# fix the node\n",
            prompt_path=tmp_path / "prompt.md",
            timeout=10,
            env=exec_env(),
            extra_env={},
            via=via,
        )
    )
    assert outcome.status == "done", outcome


def test_stdin_only_as_the_original(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(tmp_path, f'cat > {out}; printf "%s" "$#" > {out}.args', via="stdin")
    assert out.read_text() == "# fix the node\n"
    assert (tmp_path / "out.args").read_text() == "0"  # nothing appended to the command


def test_argument_appends_the_prompt_file_and_stdin_still_has_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(tmp_path, f"cat > {out}; echo", via="argument")
    assert out.read_text() == "# fix the node\n"
    _run(tmp_path, f"sh -c 'cat \"$1\" > {out}.file' _", via="argument")
    assert (tmp_path / "out.file").read_text() == "# fix the node\n"
