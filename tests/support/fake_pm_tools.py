"""FAKE of ``launchctl`` for tests: launchd cannot run here (there is no launchd off macOS).

systemd does run here, and its tests use the real ``systemctl`` against real managers
(tests/support/systemd.py); only launchd, colima and lima keep fakes. Run as ``python
-S fake_pm_tools.py launchctl ARGS...`` by the wrapper ``FakePlatformTools`` writes
first on PATH (left out, there is no wrapper and PATH is the wrappers' directory
alone). Every call appends its argv (and pid) to ``$FAKE_PM_DIR/calls.jsonl``; jobs
live in ``$FAKE_PM_DIR/state.json``, and every changing verb changes them (a restart
gives a new pid). Knobs in the state: ``hang`` (``"launchctl VERB"`` or ``"launchctl
*"``: sleep for an hour), ``deny`` (the same keys, mapped to what the tool says when
refused), ``no_domain`` (domains that do not exist: the user is not logged in at the GUI).

Formats copied from the tool's documentation and from its output as printed:

- launchctl(1) (macOS 13+). ``print DOMAIN/LABEL``: ``gui/501/LABEL = {`` then
  ``key = value`` lines at one tab (``active count``, ``path``, ``type``,
  ``state`` = running | not running | spawn scheduled, ``program``, nested
  ``arguments``/``environment`` blocks, ``domain``, ``runs``, ``pid``, ``last
  exit code`` = ``(never exited)`` | ``0`` | ``78: EX_CONFIG``, or ``last
  terminating signal = Terminated: 15``, ``job state``, ``properties``), then
  ``}``. An unknown label: exit 113, ``Bad request.`` and ``Could not find
  service "LABEL" in domain for user gui: 501`` (``... for system``). ``list``:
  ``PID\\tStatus\\tLabel`` and one row a job, ``-`` for no pid, a negative
  status for the signal that ended it. Refusals print ``Bootstrap failed: N:
  MSG``, ``Boot-out failed: N: MSG``, ``Could not kickstart service: N: MSG``
  and exit N: 1 "Operation not permitted", 150 "Operation not permitted while
  System Integrity Protection is engaged", 5 "Input/output error" (also a
  second bootstrap of a loaded job), 119 "Service is disabled" (bootstrap of
  a disabled label), 3 "No such process" (bootout of a job not loaded, kill
  of a job not running). A gui domain nobody is logged in to: "Could not find
  domain for port (Aqua)" (as reported in actions/runner#349).
"""

from __future__ import annotations

import json
import os
import plistlib
import sys
import time
from pathlib import Path
from typing import Any

LAUNCHD_ERRORS = {
    "Operation not permitted": 1,
    "Input/output error": 5,
    "Operation not permitted while System Integrity Protection is engaged": 150,
}
SIGNALS = {"SIGTERM": "Terminated: 15", "SIGKILL": "Killed: 9", "SIGHUP": "Hangup: 1"}


# ------------------------------------------------------------------ plumbing
def _dir() -> Path:
    return Path(os.environ["FAKE_PM_DIR"])


def load() -> dict[str, Any]:
    path = _dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(state: dict[str, Any]) -> None:
    tmp = _dir() / "state.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(_dir() / "state.json")


def say(text: str, code: int) -> int:
    sys.stderr.write(text + "\n")
    return code


def new_pid(state: dict[str, Any]) -> int:
    state["next_pid"] = state.get("next_pid", 5000) + 1
    return int(state["next_pid"])


def knob(state: dict[str, Any], name: str, tool: str, verb: str) -> Any:
    table = state.get(name, {})
    for key in (f"{tool} {verb}", f"{tool} *"):
        if key in table:
            return table[key] if isinstance(table, dict) else True
    return None


# ------------------------------------------------------------------ launchctl
def _target(target: str) -> tuple[str, str]:
    if target == "system" or target.startswith("system/"):
        return "system", target[len("system/") :]
    kind, uid, *rest = target.split("/", 2)
    return f"{kind}/{uid}", rest[0] if rest else ""


def _nowhere(domain: str, label: str, bad_request: bool = False) -> int:
    where = "system" if domain == "system" else "user " + domain.replace("/", ": ")
    text = f'Could not find service "{label}" in domain for {where}'
    return say(("Bad request.\n" if bad_request else "") + text, 113)


PRINT = """\
{domain}/{label} = {{
\tactive count = {active}
\tpath = {path}
\ttype = {kind}
\tstate = {state}

\tprogram = {program}
\targuments = {{
{arguments}
\t}}

\tdefault environment = {{
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}}

\tenvironment = {{
\t\tXPC_SERVICE_NAME => {label}
\t}}

\tdomain = {domain}{asid}
\tminimum runtime = 10
\texit timeout = 5
\truns = {runs}
{pid}\timmediate reason = speculative
\t{ended}

\tspawn type = daemon (3)
\tjob state = {job_state}

\tproperties = keepalive | runatload | inferred program
}}
"""


def _print(domain: str, label: str, job: dict[str, Any]) -> str:
    argv = job.get("program") or ["/usr/local/bin/worker"]
    kind = "LaunchDaemon" if domain == "system" else "LaunchAgent"
    running = job["state"] == "running"
    code = job.get("last_exit")
    named = "(never exited)" if code is None else {78: "78: EX_CONFIG"}.get(code, str(code))
    return PRINT.format(
        domain=domain,
        label=label,
        active=int(running),
        path=job.get("path", f"/Library/{kind}s/{label}.plist"),
        kind=kind,
        state=job["state"],
        program=argv[0],
        arguments="\n".join(f"\t\t{a}" for a in argv),
        asid="" if domain == "system" else " [100005]",
        runs=job.get("runs", 1),
        pid=f"\tpid = {job['pid']}\n" if running else "",
        ended=f"last terminating signal = {job['signal']}"
        if job.get("signal")
        else f"last exit code = {named}",
        job_state="running" if running else "exited",
    )


def _start(state: dict[str, Any], job: dict[str, Any], killed: str | None) -> None:
    job.update(state="running", pid=new_pid(state), runs=job.get("runs", 0) + 1)
    if killed:
        job.update(signal=killed, last_exit=None)


def launchctl(args: list[str], state: dict[str, Any]) -> int:
    verb, rest = (args[0] if args else ""), args[1:]
    if knob(state, "hang", "launchctl", verb):
        time.sleep(3600)
    denied = knob(state, "deny", "launchctl", verb)
    if denied:
        code = LAUNCHD_ERRORS[denied]
        prefix = {"bootstrap": "Bootstrap failed", "bootout": "Boot-out failed"}.get(
            verb, f"Could not {verb} service"
        )
        return say(f"{prefix}: {code}: {denied}", code)
    domains: dict[str, dict[str, Any]] = state.setdefault("launchd", {})
    disabled: dict[str, list[str]] = state.setdefault("launchd_disabled", {})
    target = rest[-1] if rest else ""
    if any(target.startswith(d) for d in state.get("no_domain", [])):  # not logged in at the GUI
        return say("Could not find domain for port (Aqua)", 113)
    if verb == "list":
        print("PID\tStatus\tLabel")
        for label, job in domains.get(state.get("caller", "gui/501"), {}).items():
            pid = job["pid"] if job["state"] == "running" else "-"
            status = (
                -int(job["signal"].rsplit(" ", 1)[1])
                if job.get("signal")
                else job.get("last_exit") or 0
            )
            print(f"{pid}\t{status}\t{label}")
        return 0
    if verb == "bootstrap":
        domain, plist = rest[0], Path(rest[1])
        if not plist.exists():
            return say("Bootstrap failed: 2: No such file or directory", 2)
        doc = plistlib.loads(plist.read_bytes())
        label = doc["Label"]
        if label in disabled.get(domain, []):
            return say("Bootstrap failed: 119: Service is disabled", 119)
        if label in domains.get(domain, {}):
            return say("Bootstrap failed: 5: Input/output error", 5)
        job = {"state": "not running", "runs": 0, "path": str(plist)}
        job["program"] = doc["ProgramArguments"]
        if doc.get("RunAtLoad"):
            _start(state, job, None)
        domains.setdefault(domain, {})[label] = job
        save(state)
        return 0
    if verb in ("enable", "disable"):
        domain, label = _target(rest[0])
        labels = set(disabled.get(domain, []))
        labels = labels | {label} if verb == "disable" else labels - {label}
        disabled[domain] = sorted(labels)
        save(state)
        return 0
    domain, label = _target(rest[-1])
    job = domains.get(domain, {}).get(label)
    if job is None:
        if verb == "bootout":
            return say("Boot-out failed: 3: No such process", 3)
        return _nowhere(domain, label, bad_request=verb == "print")
    if verb == "print":
        sys.stdout.write(_print(domain, label, job))
        return 0
    if verb == "kickstart":
        if job["state"] != "running" or "-k" in rest:
            _start(state, job, "Killed: 9" if job["state"] == "running" else None)
            save(state)
        return 0
    if verb == "kill":
        if job["state"] != "running":
            return say("Could not kill service: 3: No such process", 3)
        job.update(state="not running", pid=None, signal=SIGNALS.get(rest[0], "Terminated: 15"))
        save(state)
        return 0
    if verb == "bootout":
        del domains[domain][label]
        save(state)
        return 0
    return say(
        f"Unrecognized subcommand: {verb}\nUsage: launchctl <subcommand> ... | help [subcommand]", 1
    )


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    with (_dir() / "calls.jsonl").open("a") as f:
        f.write(json.dumps({"argv": [tool, *args], "pid": os.getpid()}) + "\n")
    return {"launchctl": launchctl}[tool](args, load())


if __name__ == "__main__":
    sys.exit(main())
