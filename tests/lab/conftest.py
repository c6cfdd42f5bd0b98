"""One lab per test module that asks for it: up before, down (by pid) after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from talon.lab.substrate import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()
