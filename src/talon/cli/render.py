"""Human output with rich (imported only when a human asked for a table)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from talon.core import Diagnosis
from talon.report import CycleReport, ProbeResult, Status

_STYLE = {
    Status.OK: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "magenta",
    Status.SKIPPED: "dim",
}


def _path_text(result: ProbeResult) -> str:
    """Which path answered; for a failure, every path tried and how it ended."""
    if result.endpoint_class:
        tried = sum(p.tried for p in result.paths)
        return result.endpoint_class + (f" (of {tried} tried)" if tried > 1 else "")
    marks = [f"{p.path_class} ✗" for p in result.paths if p.tried]
    return ", ".join(marks) or "-"


def print_report(
    report: CycleReport, warnings: Sequence[str] = (), console: Console | None = None
) -> None:
    console = console or Console()
    table = Table(title=f"talon check — {report.node_id} ({report.platform}/{report.arch})")
    for column in ("probe", "class", "status", "path", "latency", "message"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        name = r.key + (" *" if r.critical else "") + (" (info)" if r.informational else "")
        table.add_row(
            name,
            r.probe_class,
            f"[{'yellow' if r.degraded else _STYLE[r.status]}]{r.state}[/]",
            _path_text(r),
            f"{r.latency_ms:.1f} ms",
            escape(r.message),
        )
    console.print(table)
    s = report.summary()
    console.print(
        f"{s['total']} probes: {s['ok']} ok, {s['degraded']} degraded (only through a fallback "
        f"path), {s['warning']} warning, {s['critical']} critical, "
        f"{s['unknown']} unknown, {s['skipped']} skipped  (* critical probe)"
        f" — exit {report.exit_code}"
    )
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def print_diagnosis(diagnosis: Diagnosis, console: Console | None = None) -> None:
    """The core's reading of this snapshot, as if its failures persisted."""
    console = console or Console()
    if not diagnosis.findings:
        return
    platform = diagnosis.platform
    can = ", ".join(sorted(c.value for c in platform.can)) or "nothing"
    console.print(
        f"this node: runtime {platform.runtime}, process manager {platform.process_manager} "
        f"(can: {can})"
    )
    heals = diagnosis.heals or (None,) * len(diagnosis.findings)
    for f, heal in zip(diagnosis.findings, heals, strict=True):
        note = "[dim](explained by a lower layer)[/]" if f.explained else "[bold](root cause)[/]"
        console.print(f"diagnosis: [bold]{f.fault.value}[/] on {f.probe} {note}")
        if not f.explained:
            said = f"{heal.kind.value} → {heal.target}" if heal else "none on this node: escalate"
            console.print(f"  heal here: [cyan]{escape(said)}[/]")
    for a in diagnosis.actions:
        tier = f"tier {a.tier} " if a.tier else ""
        target = f" → {a.target}" if a.target else ""
        console.print(
            f"  the daemon would {tier}[cyan]{a.kind.value}[/]{target}: {escape(a.reason)}"
        )
