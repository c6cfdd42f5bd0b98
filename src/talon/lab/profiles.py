"""What each lab profile imitates (docs/lab-profiles.md). Cheap to import: the CLI reads it.

The lab offers exactly what the platform it imitates offers (DESIGN.md principle 8):

- the default profile is named after the VM tool it imitates (``TOOL``; its
  stand-in is ``talon.lab.vmtool``): a Mac's VM runtime. Its forwards belong
  to the VM's host agent, which only a force-cycle of the VM restarts; its
  engine socket moves at every boot while the old socket file stays; the tool
  reports the current one. Talon drives it through its product adapter for
  that tool.
- ``linux``: no VM and nothing imitated: a real ``systemd --user`` manager, a
  real container engine as its unit, the services as that engine's containers
  (``talon.lab.linux``); Talon drives them through its systemd and engine adapters.
- ``tunnels``: a VM whose forwards are tunnel processes of their own (``ssh -L``
  or socat under a process manager), restartable alone; no engine socket, no VM
  tool: the lab's own runtime adapter and cycle tool.
"""

from __future__ import annotations

# The one name of the imitated platform outside the lab's stand-in for its tool: the
# profile is called what the tool is called (tests/test_platform_names.py exempts it).
TOOL = "colima"
TUNNELS = "tunnels"
LINUX = "linux"  # not a VM: talon.lab.linux (a real systemd user manager and engine)
PROFILES = (TOOL, TUNNELS, LINUX)
VM_PROFILES = (TOOL, TUNNELS)
DEFAULT_PROFILE = TOOL
# Names a lab.json (or a generated config) may still hold from before the rename.
ALIASES = {"agent": TOOL}
IMITATES = {
    TOOL: "a Mac's VM runtime: its host agent owns the forwards, its engine socket moves "
    "at each boot",
    TUNNELS: "a VM whose forwards are tunnel processes of their own",
    LINUX: "a Linux box: a real systemd user manager, a real container engine whose "
    "containers are the services",
}


def canonical(profile: str) -> str:
    """The profile a (possibly older) name stands for; unknown names are left as they are."""
    return ALIASES.get(profile, profile)


def has_vm_tool(profile: str) -> bool:
    """Does this profile have the VM tool, and with it an engine socket that moves?"""
    return canonical(profile) == TOOL
