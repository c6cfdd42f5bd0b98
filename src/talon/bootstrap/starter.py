"""The starter configuration `talon init` writes: only what this host has, commented.

Pure: an ``Inventory`` and a ``NodeIdentity`` in, the text of ``config.toml``
and of its services file out. A probe whose target was not found is still
written, with ``enabled = false`` and the reason, so the operator can see
what Talon could watch and flip one key; the loader validates disabled probes
too, so every line written here is known to load. Everything not written keeps
its default (see examples/full/).

On a host whose platform and runtime a built-in stack profile is made for (the
original Talon's: a Mac with its VM runtime), ``[stack]`` names that profile and
lists its keys with their defaults; the profile's probes then stand in for the
generic runtime, cluster and redis ones.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from dataclasses import dataclass

from talon.adapters.inventory import Inventory
from talon.config.builtins import Profile, profile_for
from talon.node import NodeIdentity

SERVICES_FILE = "services.toml"


@dataclass(frozen=True)
class StarterFiles:
    """``config.toml`` and the services file it names (relative to it)."""

    config: str
    services: str
    services_name: str = SERVICES_FILE


def _str(value: str) -> str:
    """A TOML basic string: JSON's escapes are a subset of TOML's."""
    return json.dumps(value)


def _comment(lines: list[str] | tuple[str, ...], indent: str = "#   - ") -> str:
    return "".join(f"{indent}{line}\n" for line in lines)


def _header(inventory: Inventory, identity: NodeIdentity) -> str:
    return (
        f"# Talon's configuration for node {identity.node_id!r} ({identity.platform}, "
        f"{identity.arch}), written by `talon init`.\n"
        "# Found on this host when it was written:\n"
        + _comment(inventory.found)
        + "# Only what was found is switched on; every key not written here keeps its default\n"
        "# (all of them: examples/full/config.toml). Next: `talon validate`, `talon check`,\n"
        "# then `talon run --shadow` to watch what Talon would do without letting it act.\n"
        f"# State: {identity.state_dir}   Logs: {identity.log_dir}\n"
    )


# Kinds a starter can name without settings only the operator knows (a socket URL ...).
STARTER_MANAGERS = ("null", "launchd", "systemd")


def _stack_text(profile: Profile, inventory: Inventory) -> str:
    keys = "".join(
        f"# {key} = {json.dumps(value)}\n"
        for key, value in profile.defaults.items()
        if value is not None and key != "kubeconfig"
    )
    kubeconfig = f"kubeconfig = {_str(inventory.kubeconfig)}\n" if inventory.kubeconfig else ""
    return (
        "\n[stack]\n"
        + _comment(textwrap.wrap(f"A built-in stack profile, {profile.summary}.", 84), "# ")
        + '# Its probes are Talon\'s own kinds (README, "Built-in stack profile"); every value\n'
        "# it would hard-code is a key, shown here with its default: uncomment to change.\n"
        f"profile = {_str(profile.name)}\n" + kubeconfig + keys
    )


def _config_text(inventory: Inventory, identity: NodeIdentity) -> str:
    manager = inventory.process_manager
    out = [_header(inventory, identity), "\n"]
    out.append(
        "check_interval_secs = 60            # seconds between probe cycles\n"
        f"services_file = {_str(SERVICES_FILE)}     # the probes; relative to this file\n"
    )
    out.append(
        "\n[runtime]\n"
        "# The container runtime: Talon asks it for the VM's address (for 'vm' endpoint\n"
        "# paths) and its health, and force-cycles it when it is down. null: none here.\n"
        f"kind = {_str(inventory.runtime_kind)}\n"
    )
    if inventory.runtime_socket:
        out.append(
            f"socket = {_str(inventory.runtime_socket)}\n"
            "# (the engine's socket, found through the environment of the shell that ran\n"
            "# `talon init`; a service manager does not pass that environment on)\n"
        )
    out.append(
        "\n[process_manager]\n"
        "# Who answers service probes, restarts services, and runs Talon itself after\n"
        '# `talon install`. null: none was detected; set kind = "supervisord" with\n'
        "# supervisord_url and supervisord_conf_dir to use a supervisord.\n"
        f"kind = {_str(manager if manager in STARTER_MANAGERS else 'null')}\n"
    )
    out.append(
        "\n[exec]\n"
        "# PATH of every tool and script Talon runs: these directories, then the system\n"
        "# ones, then Talon's own PATH (a service manager's PATH is minimal).\n"
        f"path = [{', '.join(_str(p) for p in inventory.extra_path)}]\n"
    )
    out.append(
        "\n[health]\n"
        "# /health and /metrics; keep it on loopback (another address needs a token).\n"
        "enabled = true\n"
        'bind = "127.0.0.1:9999"\n'
    )
    profile = profile_for(inventory.runtime_kind, identity.platform)
    if profile is not None:
        out.append(_stack_text(profile, inventory))
    return "".join(out)


HOST_PROBES = """\
# The host itself: present everywhere. Scripts follow the Nagios plugin
# convention: exit 0 ok, 1 warning, 2 critical, 3 unknown.
[script.root_disk]
command = '''
used=$(df -P / | awk 'NR==2 { sub("%", "", $5); print $5 }')
echo "root filesystem ${used}% used"
[ "$used" -lt 95 ] || exit 2
[ "$used" -lt 85 ] || exit 1
'''
critical = true
class = "infra"
layer = "host"

[script.tmp_writable]
command = 'f=$(mktemp) && rm -f "$f" && echo "temporary directory writable"'
class = "infra"
layer = "host"
"""


def _switch(present: bool, why_not: str) -> str:
    return "" if present else f"enabled = false                     # {why_not}\n"


def _services_text(inventory: Inventory, profile: Profile | None) -> str:
    out = [
        "# Talon's probes, written by `talon init`: one [KIND.NAME] section each.\n"
        "# A probe with enabled = false watches something that was not found here:\n"
        "# set it to true once it exists. Every kind and key: examples/full/services.toml.\n\n",
        HOST_PROBES,
    ]
    if profile is not None:
        out.append(
            "\n# The runtime, the cluster and its services: config.toml's [stack] profile\n"
            f"# {profile.name!r} checks them. A section here with the same KIND.NAME as one of\n"
            "# its probes replaces that probe.\n"
        )
        return "".join(out)
    runtime = inventory.runtime_kind != "null"
    out.append(
        "\n# The container runtime answers on its control path (socket or the VM's shell).\n"
        "# A failure here explains every failure above it (one incident, root cause first).\n"
        "[runtime.containers]\n"
        "critical = true\n" + _switch(runtime, "no container runtime was found ([runtime] kind)")
    )
    kubeconfig = f"kubeconfig = {_str(inventory.kubeconfig)}\n" if inventory.kubeconfig else ""
    why = "no cluster client with a kubeconfig was found"
    out.append(
        "\n# The cluster: its API answers /readyz, and every node is Ready.\n"
        "[k8s.api]\n"
        'check = "api"\n'
        "critical = true\n" + kubeconfig + _switch(inventory.cluster, why) + "\n"
        "[k8s.nodes]\n"
        'check = "node_ready"\n' + kubeconfig + _switch(inventory.cluster, why)
    )
    out.append(
        "\n# Redis answers PING; check_persistence also fails on a failed AOF write.\n"
        "[redis.redis]\n"
        f"address = {_str(inventory.redis_address)}\n"
        + _switch(inventory.redis, f"nothing answered PING on {inventory.redis_address}")
    )
    return "".join(out)


def starter_config(inventory: Inventory, identity: NodeIdentity) -> StarterFiles:
    """The two files of a starter configuration for this host; both parse as TOML."""
    profile = profile_for(inventory.runtime_kind, identity.platform)
    files = StarterFiles(_config_text(inventory, identity), _services_text(inventory, profile))
    tomllib.loads(files.config)  # a bug here must never reach an operator's disk
    tomllib.loads(files.services)
    return files
