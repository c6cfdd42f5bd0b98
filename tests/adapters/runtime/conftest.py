"""Fixtures of the runtime adapter tests: fake tools first on PATH, a short socket dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.runtime.fakes import FakeTools, short_dir


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    return FakeTools(tmp_path)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with short_dir() as path:
        yield path
