"""Nothing outside ``talon/adapters`` names a platform (DESIGN, principle 7).

The same Talon runs unchanged on a Mac (launchd, a VM runtime) and on a Linux
box, so outside ``src/talon/adapters`` no text file (code, docstring, comment,
default, description, schema) may name a platform tool or somebody's home:

- a tool: launchctl, systemctl, colima, limactl, docker, kubectl. Matched as
  case-insensitive substrings rather than whole words: ``KubectlClient``,
  ``_kubectl`` and ``DOCKER_HOST`` name the tool as much as ``kubectl`` does,
  and none of these words hides inside an innocent one.
- a path under a home: ``/Users/``, ``/home/``, ``/root/``, and ``~/`` followed
  by a name (``~/.kube``). A bare ``"~/"`` is the syntax a configured path may
  start with (``value.startswith("~/")``), not a path.
- a home lookup: ``$HOME`` or ``${HOME}``, a quoted ``"HOME"`` (``env.get("HOME")``),
  ``Path.home()``, ``expanduser(``, ``pwd.getpwuid`` / ``getpwnam``.

The home lookup has one sanctioned place, ``talon.node.expand_path``, and no
adapter: DESIGN gives ``talon.node`` the job of turning the environment and
the platform's conventions into paths. NodeIdentity's directories come from
TALON_*_DIR, else from platformdirs (which looks the home up itself), and
``expand_path`` is how an operator's own ``~`` in a configured path becomes
their home. ``~`` and HOME mean the same on macOS and Linux, so there is no
per-platform variant to put behind an adapter, and the function writes no
home in code: it reads the one in the environment it is given. Every other
configured path goes through it.

Exemptions are few, each with its reason, and each must still be needed
(``test_every_exemption_is_still_needed``). Anything else gets fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "talon"
ADAPTERS = "adapters/"

BANNED: tuple[re.Pattern[str], ...] = (
    re.compile("launchctl|systemctl|colima|limactl|docker|kubectl", re.IGNORECASE),
    re.compile(r"/Users/|/home/|/root/|~/(?=[\w.$-])"),
    re.compile(r"\$\{?HOME\b|['\"]HOME['\"]|\bPath\.home\(|\bexpanduser\(|\bgetpw(?:uid|nam)\("),
)


@dataclass(frozen=True)
class Exemption:
    where: str  # a path under src/talon; one ending in "/" covers the folder
    allows: re.Pattern[str]  # a hit inside a match of this is allowed there
    reason: str

    def covers(self, rel: str) -> bool:
        return rel.startswith(self.where) if self.where.endswith("/") else rel == self.where


EXEMPTIONS: tuple[Exemption, ...] = (
    Exemption(
        "lab/kube/",
        re.compile("kubectl", re.IGNORECASE),
        "the lab's stand-in for a Kubernetes API server: its job is to be talked to by the "
        "real kubectl client in the lab, so it names that client's quirks, and the lab's own "
        "fault verbs run it there (layout.kubectl). Only the tool's name; no home path.",
    ),
    Exemption(
        "config/",
        re.compile(r"\bcolima_timeout_secs\b"),
        "a key of the original Rust Talon's configuration format, which Talon must keep "
        "reading unchanged; only the key's name, which config/ declares and nobody else reads.",
    ),
    Exemption(
        "config/builtins/original.py",
        re.compile(r"colima|docker|~/\.colima/", re.IGNORECASE),
        "the original Rust Talon's built-in probes as a stack profile (issue 20 point 2): "
        "an original-format config must keep getting them under the original's names "
        "(colima, docker, vm:docker) with the original's values as defaults (its engine "
        "socket under ~/.colima); config data, read by no adapter. Only this module.",
    ),
    Exemption(
        "lab/profiles.py",
        re.compile(r'^TOOL = "colima"'),
        "the lab's default profile is named after the VM tool of the platform it imitates "
        "(issue 18: `talon lab up --profile colima`); only that one constant, which every "
        "other lab module uses instead of the name.",
    ),
    Exemption(
        "lab/vmtool.py",
        re.compile("colima|docker", re.IGNORECASE),
        "the lab's stand-in for that VM tool: Talon's product adapter runs it under the "
        "tool's name, reads its own JSON (`docker_socket`, runtime `docker`) and its home "
        "variable, and the stand-in builds that adapter for the lab. Only this module; no "
        "home path.",
    ),
    Exemption(
        "lab/linux/",
        re.compile("docker|systemctl", re.IGNORECASE),
        "the lab's linux profile imitates nothing: it runs Debian's real dockerd (and its "
        "docker-init) and a real systemd user manager, driven by `systemctl`, so its modules "
        "name the tools they start. Only this folder, only those two names; no home path. "
        "Talon itself still reaches them through its adapters.",
    ),
    Exemption(
        "node.py",
        re.compile(r'\benv\.get\("HOME"\)|\bos\.path\.expanduser\("~"\)'),
        "expand_path, the one sanctioned home lookup (see this module's docstring); only "
        "these two expressions, never a literal home path.",
    ),
)


@dataclass(frozen=True)
class Hit:
    rel: str
    line: int
    column: int
    token: str
    exemption: Exemption | None

    def __str__(self) -> str:
        return f"src/talon/{self.rel}:{self.line}:{self.token}"


def scan_text(rel: str, text: str, exemptions: tuple[Exemption, ...] = EXEMPTIONS) -> list[Hit]:
    """Every banned token in ``text`` (the file ``rel`` under src/talon), with its exemption."""
    applicable = [e for e in exemptions if e.covers(rel)]
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        allowed = [(e, m.span()) for e in applicable for m in e.allows.finditer(line)]
        for pattern in BANNED:
            for match in pattern.finditer(line):
                start, end = match.span()
                why = next((e for e, (a, b) in allowed if a <= start and end <= b), None)
                hits.append(Hit(rel, number, start, match.group(), why))
    return sorted(hits, key=lambda h: (h.line, h.column))


def text_files() -> dict[str, str]:
    """Every text file under src/talon but adapters/ (no __pycache__, nothing binary)."""
    found = {}
    for path in sorted(SRC.rglob("*")):
        rel = path.relative_to(SRC).as_posix()
        if not path.is_file() or "__pycache__" in path.parts or rel.startswith(ADAPTERS):
            continue
        data = path.read_bytes()
        if b"\0" not in data:
            found[rel] = data.decode("utf-8", errors="replace")
    return found


def _all_hits() -> list[Hit]:
    return [hit for rel, text in text_files().items() for hit in scan_text(rel, text)]


def test_nothing_outside_adapters_names_a_platform() -> None:
    offenders = [str(hit) for hit in _all_hits() if hit.exemption is None]
    assert not offenders, (
        "platform names outside talon/adapters (move them behind an adapter, or word them "
        "neutrally):\n" + "\n".join(offenders)
    )


def test_the_walk_reads_the_whole_tree_but_adapters() -> None:
    files = text_files()
    assert len(files) >= 60, sorted(files)
    assert {"node.py", "probes/k8s.py", "schemas/check.schema.json"} <= files.keys()
    assert not [rel for rel in files if rel.startswith(ADAPTERS) or rel.endswith(".pyc")]


def test_the_checker_reports_every_kind_of_banned_name() -> None:
    sample = (
        'subprocess.run(["kubectl", "get", "nodes"])\n'
        "class KubectlClient: ...\n"
        'SOCKET = "/Users/alice/.colima/default/docker.sock"\n'
        'cache = Path.home() / ".kube"\n'
        'log = "~/Library/Logs/talon.log"\n'
        'home = os.environ["HOME"]\n'
        'conf = "$HOME/.config" or os.path.expanduser(raw)\n'
        "# systemctl, launchctl, limactl and /home/bob are as bad in a comment\n"
    )
    found = [(h.line, h.token) for h in scan_text("probes/sample.py", sample)]
    assert found == [
        (1, "kubectl"),
        (2, "Kubectl"),
        (3, "/Users/"),
        (3, "colima"),
        (3, "docker"),
        (4, "Path.home("),
        (5, "~/"),
        (6, '"HOME"'),
        (7, "$HOME"),
        (7, "expanduser("),
        (8, "systemctl"),
        (8, "launchctl"),
        (8, "limactl"),
        (8, "/home/"),
    ]
    assert all(h.exemption is None for h in scan_text("probes/sample.py", sample))


def test_exemptions_allow_only_what_they_name_where_they_name_it() -> None:
    def left(rel: str, line: str) -> list[str]:
        return [h.token for h in scan_text(rel, line) if h.exemption is None]

    assert left("lab/kube/server.py", "# kubectl sends JSON") == []
    assert left("lab/kube/layout.py", "cache = '~/.kube/cache'") == ["~/"]
    assert left("lab/faults.py", "layout.kubectl(lab.dir)") == ["kubectl"]
    assert left("config/models.py", "    colima_timeout_secs: Seconds = 5") == []
    assert left("config/models.py", "    colima_profile: str = ''") == ["colima"]
    assert left("core/policy.py", "p.colima_timeout_secs") == ["colima"]
    assert left("lab/profiles.py", 'TOOL = "colima"') == []
    assert left("lab/profiles.py", 'IMITATES = "colima on a Mac"') == ["colima"]
    assert left("lab/substrate.py", 'DEFAULT = "colima"') == ["colima"]
    assert left("lab/vmtool.py", 'info["docker_socket"] = "unix://..."') == []
    assert left("lab/vmtool.py", "# kubectl too") == ["kubectl"]
    assert left("lab/linux/box.py", 'lab.systemctl("kill", ENGINE)  # dockerd') == []
    assert left("lab/linux/box.py", "# launchctl, colima") == ["launchctl", "colima"]
    assert left("lab/faults.py", "# systemctl") == ["systemctl"]
    assert left("node.py", 'home = env.get("HOME") or os.path.expanduser("~")') == []
    assert left("node.py", 'base = Path.home() / "talon"') == ["Path.home("]
    assert left("cli/run.py", 'home = env.get("HOME")') == ['"HOME"']
    assert left("config/probes.py", 'value.startswith(("unix:///", "/", "~/", "$"))') == []


def test_every_exemption_is_still_needed() -> None:
    used = {hit.exemption for hit in _all_hits() if hit.exemption is not None}
    stale = [e.where for e in EXEMPTIONS if e not in used]
    assert not stale, f"exemptions that allow nothing any more, remove them: {stale}"
