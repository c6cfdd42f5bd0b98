"""One lab per test module that asks for it: up before, down (by pid) after; ``fresh``
hands it to a test healthy and takes it back healed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from talon.lab import faults
from talon.lab.substrate import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def fresh(lab: Lab) -> Iterator[Lab]:
    """Each test starts from a healthy lab and leaves it healed."""
    faults.heal_all(lab)
    yield lab
    faults.heal_all(lab)
