"""The status page: the status view (``talon.status/v1``) as HTML, by a pure function.

Rendered on the server, so the page shows the truth even without JavaScript
(a ``<noscript>`` refresh reloads it). With JavaScript, ``?part=main`` gives
the ``<main>`` element's content only, rendered by the same function, and the
page swaps it in every ``refresh_s`` seconds; relative times and the hold
countdown tick between refreshes from values computed on the daemon's clock
(``data-age``, ``data-remaining``), so a browser whose clock is wrong still
counts right. Every value from the view goes through ``html.escape``: probe
messages and incident reasons come from the outside world.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from talon.cli.status import resources_lines, worker_line
from talon.web.page_assets import CSS, JS

DEFAULT_REFRESH_S = 5
SIGNAL_TONE = {"stable": "good", "recovering": "warn"}  # failed recovery, degraded hold: bad
# critical, unknown: bad; degraded: ok, but only through a fallback path
STATUS_TONE = {"ok": "good", "warning": "warn", "skipped": "mute", "degraded": "warn"}
MARK = {True: "✓", False: "✗"}


def e(value: Any) -> str:
    """Escape anything for text and for quoted attribute values; ``None`` is a dash."""
    return "—" if value is None else html.escape(str(value), quote=True)


def span(seconds: float) -> str:
    """``12 s``, ``3 min``: a no-break space keeps the number with its unit on a phone."""
    s = int(seconds)
    if s < 60:
        return f"{s}\u00a0s"
    if s < 3600:
        return f"{s // 60}\u00a0min"
    if s < 86400:
        return f"{s // 3600}\u00a0h"
    return f"{s // 86400}\u00a0d"


def ago(seconds: float) -> str:
    """``12 s ago``, ``3 min ago``; the page's script uses the same wording."""
    if seconds <= -1:
        return f"in {span(-seconds)}"
    return "just now" if seconds < 1 else f"{span(seconds)} ago"


def left(seconds: float) -> str:
    """A countdown: ``29:58``, ``1:05:00``."""
    s = max(0, int(-(-seconds // 1)))  # ceil: 0.2 s left is still 0:01
    h, m = divmod(s, 3600)
    m, sec = divmod(m, 60)
    return (f"{h}:{m:02d}" if h else f"{m}") + f":{sec:02d}"


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(at: float | None) -> str:
    """An absolute time of day (UTC), with the date on hover."""
    if at is None:
        return "—"
    moment = datetime.fromtimestamp(at, UTC)
    return (
        f'<time datetime="{e(moment.isoformat())}" title="{e(utc(at))}">'
        f"{moment:%H:%M:%S} UTC</time>"
    )


def when(at: float | None, now: float) -> str:
    """A relative time that keeps ticking, with the absolute UTC time on hover."""
    if at is None:
        return "—"
    iso = datetime.fromtimestamp(at, UTC).isoformat()
    age = now - at
    return (
        f'<time datetime="{e(iso)}" title="{e(utc(at))}" data-age="{age:.3f}">{e(ago(age))}</time>'
    )


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _tone(table: Mapping[str, str], value: Any) -> str:
    return table.get(str(value), "bad")


def _header(view: Mapping[str, Any], now: float) -> str:
    node = view.get("node") or {}
    node_id, signal, state = node.get("node_id"), view.get("signal"), view.get("state")
    tone = _tone(SIGNAL_TONE, signal)
    summary = view.get("summary") or {}
    cycle = view.get("last_cycle")
    if cycle is None or cycle.get("finished_at") is None:
        updated = "no cycle recorded yet"
    else:
        updated = f"updated {when(cycle['finished_at'], now)}"
    counts = (
        f"{e(summary.get('passed', 0))}/{e(summary.get('total', 0) - summary.get('skipped', 0))} "
        "probes pass"
        + (f", {e(summary['degraded'])} degraded" if summary.get("degraded") else "")
        + (f", {e(summary['skipped'])} skipped" if summary.get("skipped") else "")
    )
    return (
        f'<header class="top {tone}" id="top" data-title="{e(node_id)}: {e(signal)}">'
        f'<h1 id="node">{e(node_id)}</h1>'
        f'<p><span class="sig {tone}" id="signal">{e(signal)}</span> '
        f'state <b id="state">{e(state)}</b></p>'
        f'<p class="mute">{e(node.get("platform"))}/{e(node.get("arch"))} · {counts} · '
        f'<span id="updated">{updated}</span> · fetched {when(now, now)}</p>'
        "</header>"
    )


def _alerts(view: Mapping[str, Any], now: float) -> str:
    health = view.get("health") or {}
    out = []
    if health.get("stale"):
        cycle = view.get("last_cycle") or {}
        last = when(cycle.get("finished_at"), now) if cycle.get("finished_at") else "never"
        out.append(
            '<div class="box bad" id="stale"><h2>Stale</h2><p>The daemon\'s loop has not '
            f"finished a cycle in {e(round(health.get('stale_after_s') or 0))} s (last: {last}): "
            "what this page shows may be old.</p></div>"
        )
    # the header already shows the signal; /health's other reasons (stale, a dead task) go here
    reasons = [r for r in health.get("reasons") or [] if not str(r).startswith("signal is")]
    warnings = list(view.get("warnings") or [])
    if reasons or warnings:
        items = [f"<li>/health: {e(r)}</li>" for r in reasons]
        items += [f"<li>{e(w)}</li>" for w in warnings]
        out.append(
            '<div class="box warn" id="warnings"><h2>Warnings</h2>'
            f'<ul class="plain">{"".join(items)}</ul></div>'
        )
    return "".join(out)


def _hold(view: Mapping[str, Any], now: float) -> str:
    hold = view.get("hold")
    if not hold:
        return ""
    remaining = float(hold.get("remaining_s") or 0.0)
    return (
        f'<section class="box bad" id="hold"><h2>Hold: {e(hold.get("reason"))}</h2>'
        "<p>No force-cycle and no heal script for</p>"
        f'<p class="countdown" id="countdown" data-remaining="{remaining:.3f}">'
        f"{e(left(remaining))}</p>"
        f"<p>Held since {when(hold.get('since'), now)}, until {clock(hold.get('until'))}. "
        "<code>talon hold clear</code> ends it early.</p></section>"
    )


def _paused(view: Mapping[str, Any], now: float) -> str:
    """A banner per running pause: an operator said "I am working on this box" (F28)."""
    out = []
    for pause in view.get("paused") or []:
        probe = pause.get("probe")
        remaining = float(pause.get("remaining_s") or 0.0)
        if probe is None:
            title, what = "Healing paused", "No heal, no agent and no SOS for this node for"
        else:
            title = f"Healing of <code>{e(probe)}</code> paused"
            what = f"No heal of <code>{e(probe)}</code> for"
        out.append(
            f'<section class="box warn pause" data-probe="{e(probe or "")}">'
            f"<h2>{title}</h2><p>Probes keep running and reporting. {what}</p>"
            f'<p class="countdown" data-remaining="{remaining:.3f}">{e(left(remaining))}</p>'
            f"<p>Paused by {e(pause.get('by'))} {when(pause.get('since'), now)}, until "
            f"{clock(pause.get('until'))}. <code>talon resume</code> ends it early.</p></section>"
        )
    return f'<div id="paused">{"".join(out)}</div>' if out else ""


def _verification(view: Mapping[str, Any], now: float) -> str:
    v = view.get("verification")
    if not v:
        return ""
    warmup = float(v.get("warmup_remaining_s") or 0.0)
    phase = (
        f'warmup ends in <b data-remaining="{warmup:.3f}">{e(left(warmup))}</b>'
        if warmup > 0
        else f"durability window since {when(v.get('durable_since'), now)}"
    )
    return (
        f'<section class="box warn" id="verification"><h2>Verifying a heal</h2>'
        f"<p>Started {when(v.get('started_at'), now)}; {phase}; "
        f"{e(v.get('greens', 0))} green checks so far.</p></section>"
    )


def _trail(trail: Iterable[Mapping[str, Any]], now: float) -> str:
    rows = [
        f'<li class="decision">{when(d.get("at"), now)}'
        f' <code class="rule">{e(d.get("rule"))}</code>'
        f' <b class="{e(d.get("outcome"))}">{e(d.get("outcome"))}</b>'
        f' <span class="reason">{e(d.get("reason"))}</span></li>'
        for d in trail
    ]
    return f'<ol class="trail">{"".join(rows)}</ol>' if rows else '<p class="mute">no decisions</p>'


def _incident_facts(incident: Mapping[str, Any], now: float) -> str:
    attempts = ", ".join(f"{e(k)} ×{e(n)}" for k, n in (incident.get("attempts") or {}).items())
    parts = [
        f"root cause <b>{e(incident.get('root_cause'))}</b>",
        f"faults {e(', '.join(incident.get('faults') or []) or None)}",
        f"opened {when(incident.get('opened_at'), now)}",
    ]
    if incident.get("closed_at") is not None:
        parts.append(f"closed {when(incident['closed_at'], now)} ({e(incident.get('outcome'))})")
    parts.append(f"actions {attempts or 'none'}")
    return " · ".join(parts)


def _incident(view: Mapping[str, Any], now: float) -> str:
    incident = view.get("incident")
    if not incident:
        return ""
    return (
        f'<section class="box warn" id="incident"><h2>Incident <code>{e(incident.get("id"))}'
        f"</code></h2><p>{_incident_facts(incident, now)}</p>"
        f"{_trail(incident.get('trail') or [], now)}</section>"
    )


def _paths(probe: Mapping[str, Any]) -> str:
    out = []
    for p in probe.get("paths") or []:
        title = f"{p.get('target') or ''} — {p.get('message') or ''}".strip(" —")
        if p.get("ok"):
            outcome, css = f"{MARK[True]} {ms(p.get('latency_ms'))}", "path ok"
        elif p.get("tried", True):
            outcome, css = f"{MARK[False]} {p.get('error_kind') or 'failed'}", "path failed"
        else:
            outcome, css = "– not tried", "path untried"
        out.append(
            f'<span class="{css}" title="{e(title)}">{e(p.get("path_class"))} {e(outcome)}</span>'
        )
    return " · ".join(out)


def _probe(p: Mapping[str, Any]) -> str:
    tags = "".join(
        f' <span class="tag">{name}</span>'
        for name, on in (("critical", p.get("critical")), ("info", p.get("informational")))
        if on
    )
    via = ""
    if p.get("endpoint_class"):
        target = f" <code>{e(p['answered_by'])}</code>" if p.get("answered_by") else ""
        via = f"via <b>{e(p['endpoint_class'])}</b>{target} · "
    shown = "degraded" if p.get("degraded") else p.get("status")
    tone = _tone(STATUS_TONE, shown)
    status = e(shown) + (f" ({e(p['error_kind'])})" if p.get("error_kind") else "")
    lines = [
        f'<div><b><code>{e(p.get("key"))}</code></b> <span class="st c-{tone}">{status}</span>'
        f"{tags}</div>",
    ]
    if via or p.get("latency_ms") is not None:
        lines.append(f'<div class="mute">{via}{e(ms(p.get("latency_ms")))}</div>')
    if p.get("message"):
        lines.append(f'<div class="msg">{e(p["message"])}</div>')
    if p.get("degraded"):
        lines.append(
            '<div class="c-warn">answered only through a fallback path: localhost is down, '
            "users on the host cannot reach it (not counted as passing)</div>"
        )
    if p.get("paths"):
        lines.append(f'<div class="paths">{_paths(p)}</div>')
    if p.get("classification"):
        note = " (explained by the root cause)" if p.get("explained") else ""
        lines.append(f'<div class="c-bad">classified {e(p["classification"])}{note}</div>')
    if p.get("consecutive_failures"):
        lines.append(f'<div class="mute">{e(p["consecutive_failures"])} failures in a row</div>')
    return f'<li class="probe {tone}" data-key="{e(p.get("key"))}">{"".join(lines)}</li>'


def _probes(view: Mapping[str, Any]) -> str:
    probes = list(view.get("probes") or [])
    if not probes:
        return '<h2 id="probes">Probes</h2><p class="mute">no probe results yet</p>'
    layers = list(view.get("layers") or [])
    layers += sorted({str(p.get("layer")) for p in probes} - set(layers))  # never hide a probe
    out = ['<h2 id="probes">Probes</h2>']
    for layer in layers:
        members = [p for p in probes if str(p.get("layer")) == layer]
        passing = sum(p.get("status") == "ok" and not p.get("degraded") for p in members)
        out.append(
            f'<section class="layer" id="layer-{e(layer)}"><h3>{e(layer)} '
            f"<small>{passing}/{len(members)} ok</small></h3>"
            f'<ul class="probes">{"".join(_probe(p) for p in members)}</ul></section>'
        )
    return "".join(out)


def _host(view: Mapping[str, Any]) -> str:
    out = []
    if (resources := view.get("resources")) is not None:
        try:
            out += [f"<li>{e(line)}</li>" for line in resources_lines(resources)]
        except (KeyError, TypeError, ValueError):
            out.append('<li class="mute">resources unreadable</li>')
    out += [f'<li class="c-warn">{e(f)}</li>' for f in view.get("findings") or []]
    if (worker := view.get("worker")) is not None:
        out.append(f'<li id="worker">{e(worker_line(worker))}</li>')
    if not out:
        return ""
    return f'<h2 id="host">Host</h2><ul class="plain">{"".join(out)}</ul>'


def _recent(view: Mapping[str, Any], now: float) -> str:
    incidents = view.get("recent_incidents") or []
    if not incidents:
        return ""
    out = ['<h2 id="recent">Recent incidents</h2>']
    for incident in incidents:
        out.append(
            f'<details id="incident-{e(incident.get("id"))}"><summary><code>'
            f"{e(incident.get('id'))}</code> {e(incident.get('root_cause'))} → "
            f"{e(incident.get('outcome'))}, closed {when(incident.get('closed_at'), now)}"
            f"</summary><p>{_incident_facts(incident, now)}</p>"
            f"{_trail(incident.get('trail') or [], now)}</details>"
        )
    return "".join(out)


def _daemon(view: Mapping[str, Any], now: float) -> str:
    daemon = view.get("daemon") or {}
    if not daemon:
        return ""
    shadow = " · <b>shadow mode</b>: decides, never acts" if daemon.get("shadow") else ""
    return (
        f'<p class="mute" id="daemon">talon run pid {e(daemon.get("pid"))}, started '
        f"{when(daemon.get('started_at'), now)}{shadow}</p>"
    )


def render_main(view: Mapping[str, Any]) -> str:
    """The content of ``<main>``: what the page's script swaps in on each refresh."""
    now = float(view.get("now") or 0.0)
    return "".join(
        (
            _header(view, now),
            _alerts(view, now),
            _hold(view, now),
            _paused(view, now),
            _incident(view, now),
            _verification(view, now),
            _probes(view),
            _host(view),
            _recent(view, now),
            _daemon(view, now),
        )
    )


def render_page(
    view: Mapping[str, Any], *, refresh_s: int = DEFAULT_REFRESH_S, part: str | None = None
) -> str:
    """The whole page, or with ``part="main"`` only the content of ``<main>``."""
    main = render_main(view)
    if part == "main":
        return main
    node_id = (view.get("node") or {}).get("node_id")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(node_id)}: {e(view.get('signal'))}</title>"
        '<link rel="icon" href="data:,">'
        f'<noscript><meta http-equiv="refresh" content="{max(refresh_s, 10)}"></noscript>'
        f"<style>{CSS}</style></head>"
        f'<body data-refresh="{int(refresh_s)}" data-refreshes="0">'
        '<div id="banner" role="alert" hidden></div>'
        f'<main id="main">{main}</main>'
        f"<footer><p>Refreshes every {int(refresh_s)} s. Also as JSON: "
        '<a href="/status.json">/status.json</a> · <a href="/health">/health</a> · '
        '<a href="/metrics">/metrics</a></p></footer>'
        f"<script>{JS}</script></body></html>"
    )
