"""Talon on a real systemd: the managers of tests/support/systemd.py as this directory's fixtures."""

from tests.support import systemd as real

user_scope, system_scope, system_dir = real.user_scope, real.system_scope, real.system_dir
