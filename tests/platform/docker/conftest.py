"""Talon on a real Docker engine: the engine and containers of tests/support/dockerd.py."""

from tests.support import dockerd as real

docker_engine, containers = real.docker_engine, real.containers
