"""The comparison's verdicts and its table: pure functions of the results dict."""

from __future__ import annotations

from typing import Any

HANG = "http x1000, 1% hang (1 s)"
HANG_TIMEOUT_S = 1.0
TOOLS = ("talon", "uvloop", "monit", "blackbox")  # uvloop: Talon on the optional loop


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals against this run's figures."""
    sc, out = r["scenarios"], []

    def get(scenario: str, tool: str, metric: str) -> float | None:
        value = sc.get(scenario, {}).get(tool, {}).get(metric)
        return None if value is None else float(value)

    http = "http x1000" if "http x1000" in sc else "http x200"
    cpu, monit_cpu = get(http, "talon", "cpu_ms_per_check"), get(http, "monit", "cpu_ms_per_check")
    if cpu is not None and monit_cpu:
        out.append(_goal(f"CPU per HTTP check ({http}) <= 0.35 ms", cpu, cpu <= 0.35, "ms"))
        uv = get(http, "uvloop", "cpu_ms_per_check")
        if uv is not None:
            out.append(_goal(f"CPU per HTTP check, uvloop ({http}) <= 0.2 ms", uv, uv <= 0.2, "ms"))
        out.append(
            _goal(
                f"CPU per HTTP check within 3.5x of Monit ({http})",
                cpu / monit_cpu,
                cpu / monit_cpu <= 3.5,
                "x Monit",
            )
        )
    wall, monit_wall = get(HANG, "talon", "cycle_wall_s"), get(HANG, "monit", "cycle_wall_s")
    if wall and monit_wall:
        # a tool that checks at once still waits out one timeout: Monit's wall / timeout
        ceiling = monit_wall / HANG_TIMEOUT_S
        out.append(
            _goal(
                "cycle wall with 1% hanging >= 20x ahead of Monit",
                monit_wall / wall,
                monit_wall / wall >= 20,
                "x faster",
                f"no tool can beat {ceiling:.1f}x: the cycle waits out one 1 s timeout",
            )
        )
    script = get("script x100", "talon", "cpu_ms_per_check")
    if script is not None:
        out.append(_goal("CPU per script check <= 2 ms (with sh)", script, script <= 2, "ms"))
    lat, cycle = r["latency"].get("talon"), get("http x50", "talon", "cycle_wall_s")
    if lat and cycle is not None:
        bound = r["interval_s"] + cycle
        out.append(
            _goal(
                f"detection latency <= interval + cycle ({bound:.2f} s), worst trial",
                lat["max_s"],
                lat["max_s"] <= bound,
                "s",
            )
        )
    return out


def _goal(name: str, value: float, met: bool, unit: str, note: str = "") -> dict[str, Any]:
    return {"goal": name, "value": round(value, 4), "unit": unit, "met": met, "note": note}


def table(r: dict[str, Any]) -> str:
    def fmt(v: float | None, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    def ratio(a: float | None, b: float | None) -> str:
        return "n/a" if a is None or not b else f"{a / b:.2f}"

    rows: list[tuple[str, ...]] = [
        ("scenario", "metric", *TOOLS, "talon/monit", "talon/bbox", "uvloop/monit")
    ]
    metrics = (
        ("cycle wall s", "cycle_wall_s", 3),
        ("CPU ms/check", "cpu_ms_per_check", 3),
        ("  of which children", "children_ms_per_check", 3),
        ("peak RSS MB", "rss_peak_mb", 1),
        ("false failures", "false_failures", 0),
    )
    for name, row in r["scenarios"].items():
        for label, key, digits in metrics:
            v = {t: row.get(t, {}).get(key) for t in TOOLS}
            if not any(v.values()):  # no figure, or no false failure
                continue
            rows.append(
                (
                    name,
                    label,
                    *(fmt(v[t], digits) for t in TOOLS),
                    ratio(v["talon"], v["monit"]),
                    ratio(v["talon"], v["blackbox"]),
                    ratio(v["uvloop"], v["monit"]),
                )
            )
    lat = r["latency"]
    for label, key in (("latency median s", "median_s"), ("latency max s", "max_s")):
        v = {t: lat.get(t, {}).get(key) for t in TOOLS}
        rows.append(
            (
                f"http x50, interval {r['interval_s']} s",
                label,
                *(fmt(v[t], 2) for t in TOOLS),
                ratio(v["talon"], v["monit"]),
                ratio(v["talon"], v["blackbox"]),
                ratio(v["uvloop"], v["monit"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    out = "\n".join(lines)
    out += "\n\ngoals:\n" + "\n".join(
        f"  [{'met' if g['met'] else 'NOT met'}] {g['goal']}: {g['value']:.3g} {g['unit']}"
        + (f" ({g['note']})" if g["note"] else "")
        for g in r["goals"]
    )
    la, lb = r["load_before"], r["load_after"]
    out += f"\n\nload average before {la[0]:.2f} / after {lb[0]:.2f} ({r['cpus']} CPUs)"
    return out
