"""The status page's inline CSS and JavaScript, and the Content-Security-Policy that admits them.

Both are constants, so their SHA-256 hashes are computed once and the policy
allows exactly these two blocks and nothing else: no external resource, no
inline ``style=`` attribute, no ``eval``. The script only reads the page's own
``data-*`` attributes and fetches the page's own ``?part=main`` fragment.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mute:#57606a;--card:#f5f7f9;
--line:#d0d7de;--good:#1a7f37;--warn:#9a6700;--bad:#cf222e;--on:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mute:#9198a1;
--card:#161b22;--line:#30363d;--good:#3fb950;--warn:#d29922;--bad:#f85149;--on:#0d1117}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);overflow-wrap:anywhere;
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main,footer{max-width:68rem;margin:0 auto;padding:0 1rem}
footer{color:var(--mute);font-size:.875rem;padding-bottom:2rem}
a{color:inherit}
h1{font-size:1.5rem;margin:0}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
h3{font-size:1.05rem;margin:1rem 0 .5rem}
h2 small,h3 small,.mute{color:var(--mute);font-weight:400}
code{font:.9375em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
[hidden]{display:none!important}
#banner{position:sticky;top:0;z-index:1;background:var(--bad);color:var(--on);
padding:.5rem 1rem;font-weight:600}
.top{margin:1rem 0;padding:.75rem 1rem;border-left:.5rem solid var(--line);
background:var(--card);border-radius:.5rem}
.top.good{border-color:var(--good)}.top.warn{border-color:var(--warn)}
.top.bad{border-color:var(--bad)}
.top p{margin:.25rem 0}
.sig{display:inline-block;padding:.125rem .75rem;border-radius:1rem;font-weight:700;
color:var(--on);background:var(--mute)}
.sig.good{background:var(--good)}.sig.warn{background:var(--warn)}.sig.bad{background:var(--bad)}
.c-good{color:var(--good)}.c-warn{color:var(--warn)}.c-bad{color:var(--bad)}
.box{margin:1rem 0;padding:.75rem 1rem;border:2px solid var(--line);border-radius:.5rem}
.box.bad{border-color:var(--bad)}.box.warn{border-color:var(--warn)}
.box h2{margin-top:0}
.box p{margin:.25rem 0}
.countdown{font-size:1.5rem;font-weight:700;font-variant-numeric:tabular-nums}
ul.plain{margin:.25rem 0;padding-left:1.25rem}
.probes{list-style:none;margin:0;padding:0;display:grid;gap:.5rem;
grid-template-columns:repeat(auto-fill,minmax(min(100%,21rem),1fr))}
.probe{background:var(--card);border:1px solid var(--line);border-left:.35rem solid var(--line);
border-radius:.5rem;padding:.5rem .75rem;min-width:0}
.probe.good{border-left-color:var(--good)}.probe.warn{border-left-color:var(--warn)}
.probe.bad{border-left-color:var(--bad)}.probe.mute{border-left-color:var(--mute)}
.probe>div{margin:.125rem 0}
.st{font-weight:700}
.tag{font-size:.875rem;border:1px solid var(--line);border-radius:.25rem;padding:0 .25rem}
.paths{font-size:.9375rem}
.path{white-space:nowrap}
.path.untried{color:var(--mute)}
.trail{list-style:none;margin:.5rem 0;padding:0}
.trail li{display:flex;flex-wrap:wrap;gap:0 .5rem;padding:.375rem 0;
border-top:1px solid var(--line)}
.trail .reason{flex:1 1 100%}
.trail .acted{color:var(--good)}.trail .blocked{color:var(--warn)}.trail .failed{color:var(--bad)}
details{margin:.5rem 0;border:1px solid var(--line);border-radius:.5rem;padding:.25rem .75rem}
summary{cursor:pointer;padding:.25rem 0}
time{font-variant-numeric:tabular-nums}
"""

JS = """
"use strict";
(() => {
  const body = document.body;
  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  const every = Math.max(1, Number(body.dataset.refresh) || 5) * 1000;
  let loaded = performance.now();
  let since = null;
  const pad = (n) => String(n).padStart(2, "0");
  const span = (s) => {
    s = Math.floor(s);
    if (s < 60) return s + "\u00a0s"; // a no-break space, as the server writes it
    if (s < 3600) return Math.floor(s / 60) + "\u00a0min";
    if (s < 86400) return Math.floor(s / 3600) + "\u00a0h";
    return Math.floor(s / 86400) + "\u00a0d";
  };
  const ago = (s) => (s <= -1 ? "in " + span(-s) : s < 1 ? "just now" : span(s) + " ago");
  const left = (s) => {
    s = Math.max(0, Math.ceil(s));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  };
  const tick = () => {
    const e = (performance.now() - loaded) / 1000;
    for (const el of main.querySelectorAll("[data-age]")) {
      el.textContent = ago(Number(el.dataset.age) + e);
    }
    for (const el of main.querySelectorAll("[data-remaining]")) {
      el.textContent = left(Number(el.dataset.remaining) - e);
    }
  };
  const refresh = async () => {
    const url = new URL(location.href);
    url.searchParams.set("part", "main");
    url.username = ""; // fetch refuses a URL with credentials; the browser's auth cache has them
    url.password = "";
    try {
      const reply = await fetch(url, { cache: "no-store", credentials: "same-origin" });
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      const html = await reply.text();
      const open = [...main.querySelectorAll("details[open][id]")].map((d) => d.id);
      const x = window.scrollX;
      const y = window.scrollY;
      main.innerHTML = html;
      loaded = performance.now();
      for (const id of open) {
        const d = document.getElementById(id);
        if (d) d.open = true;
      }
      window.scrollTo(x, y);
      const top = main.querySelector("[data-title]");
      if (top) document.title = top.dataset.title;
      body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
      since = null;
      banner.hidden = true;
    } catch (err) {
      if (since === null) since = new Date();
      const why = err instanceof TypeError ? "no answer" : err.message;
      const at = [since.getHours(), since.getMinutes(), since.getSeconds()].map(pad).join(":");
      banner.textContent =
        "daemon unreachable since " + at + " (" + why + "); retrying every " + every / 1000 + " s";
      banner.hidden = false;
    }
    tick();
    setTimeout(refresh, every);
  };
  setInterval(tick, 1000);
  tick();
  setTimeout(refresh, every);
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Everything else is refused: other scripts, styles, frames, forms, plugins, fonts.
CSP = "; ".join(
    (
        "default-src 'none'",
        f"script-src {_sha256(JS)}",
        f"style-src {_sha256(CSS)}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
