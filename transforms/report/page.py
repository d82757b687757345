"""The report's HTML: one self-contained page, every text escaped.

Thumbnails are data URIs, stored once in a JSON map and put into ``<img
data-thumb=ID>`` elements by a few lines of script, so an image that is
both a sample and a neighbour is embedded once. Keys, labels and messages go
through :func:`html.escape`; JSON inside ``<script>`` has ``<`` escaped.
"""
from __future__ import annotations

import collections
import html
import json
import posixpath
import urllib.parse
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from transforms.core import file_names

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.meta td:first-child{color:#666}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:200px}
.card img,.ph{width:160px;height:160px;object-fit:contain;display:block;margin:0 auto 6px;background:#eee}
.ph{display:flex;align-items:center;justify-content:center;color:#888;font-size:12px}
.key{font-size:12px;word-break:break-all;margin-bottom:4px}
.bar{position:relative;height:18px;margin:2px 0;background:#eef;overflow:hidden}
.bar span{position:absolute;left:0;top:0;bottom:0;background:#8ab4f8}
.bar em{position:relative;font-style:normal;font-size:12px;padding-left:4px;white-space:nowrap}
.nn{display:flex;gap:8px;align-items:flex-start;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;margin-bottom:8px}
.nn figure{margin:0;width:110px;font-size:11px;word-break:break-all}
.nn img,.nn .ph{width:100px;height:100px}
.nn .query{border-right:2px solid #ccc;padding-right:8px}
#map circle{fill:#4a7bd0;fill-opacity:.6}#map circle.s{fill:#d04a4a;cursor:pointer}
#tip{position:fixed;display:none;background:#fff;border:1px solid #999;padding:4px;pointer-events:none}
#tip img{width:120px;height:120px;object-fit:contain}
.fail td:nth-child(4){max-width:600px;word-break:break-word}
"""

_SCRIPT = """
const THUMBS = JSON.parse(document.getElementById('thumbs').textContent);
for (const img of document.querySelectorAll('img[data-thumb]')) {
  img.src = THUMBS[img.dataset.thumb];
}
const tip = document.getElementById('tip');
for (const dot of document.querySelectorAll('#map circle[data-thumb]')) {
  dot.addEventListener('mouseenter', e => {
    tip.querySelector('img').src = THUMBS[dot.dataset.thumb];
    tip.querySelector('div').textContent = dot.dataset.key;
    tip.style.display = 'block';
    tip.style.left = (e.clientX + 12) + 'px';
    tip.style.top = (e.clientY + 12) + 'px';
  });
  dot.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
}
"""


def esc(value: object) -> str:
  return html.escape(str(value), quote=True)


class Thumbs:
  """Data URIs by id, each embedded once."""

  def __init__(self):
    self.uris: Dict[str, str] = {}
    self._ids: Dict[str, str] = {}

  def img(self, key: str, uri: Optional[str], css: str = "") -> str:
    if uri is None:
      return f'<div class="ph {css}">no preview</div>'
    if key not in self._ids:
      self._ids[key] = f"t{len(self._ids)}"
      self.uris[self._ids[key]] = uri
    return (f'<img class="{css}" data-thumb="{self._ids[key]}" '
            f'alt="{esc(posixpath.basename(key))}">')

  def id_of(self, key: str) -> Optional[str]:
    return self._ids.get(key)


def name(key: str) -> str:
  return posixpath.basename(str(key)) or str(key)


def run_section(metadata: Mapping[str, str], counts: Mapping[str, int],
                shown: int, total: int) -> str:
  rows = [("model", metadata.get("model", "?")),
          ("task", metadata.get("task", "?")),
          ("image size", metadata.get("image_size", "?")),
          # Runs from before the field existed were all float32.
          ("precision", metadata.get("precision", "float32")),
          # Runs from before the field existed were all TensorFlow.
          ("engine", " ".join([metadata.get("engine", "tensorflow"),
                               metadata.get("engine_version", "")]).strip()),
          ("score", metadata.get("score", "-")),
          ("results", counts.get("results", 0)),
          ("failures", counts.get("failures", 0))]
  for extra in ("inputs", "skipped_done", "fetched", "fetched_bytes"):
    if counts.get(extra):
      rows.append((extra.replace("_", " "), counts[extra]))
  rows.append(("shown", f"{shown} of {total} results"))
  body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                 for k, v in rows)
  return f'<h2>Run</h2><table class="meta" id="run">{body}</table>'


def fetch_section(counts: Mapping[str, int], seconds: float,
                  failures_by_host: Mapping[str, int],
                  failures: Sequence[Mapping], hosts_shown: int = 10) -> str:
  """URL inputs: what was fetched, how fast, and the hosts with the most
  failures, each with its reasons (from the failures whose key is the
  URL)."""
  fetched, size = counts.get("fetched", 0), counts.get("fetched_bytes", 0)
  rate = f"{fetched / seconds:.1f} URLs/s" if seconds else "-"
  reasons: Dict[str, collections.Counter] = collections.defaultdict(
      collections.Counter)
  for row in failures:
    host = urllib.parse.urlsplit(str(row.get("key", ""))).hostname
    if row.get("stage") == "fetch" and host:
      reasons[host][row.get("reason", "?")] += 1
  worst = sorted(failures_by_host.items(), key=lambda hc: (-hc[1], hc[0]))
  body = [f'<table class="meta" id="fetch-summary"><tr><td>fetched</td>'
          f"<td>{esc(fetched)} URLs, {esc(f'{size / 2**20:.1f}')} MB</td></tr>"
          f"<tr><td>fetch rate</td><td>{esc(rate)}</td></tr></table>"]
  if worst:
    rows = "".join(
        f"<tr><td>{esc(host)}</td><td>{esc(count)}</td>"
        f"<td>{esc(_reasons(reasons.get(host, {})))}</td></tr>"
        for host, count in worst[:hosts_shown])
    body.append('<table class="meta" id="fetch-hosts"><tr><th>host</th>'
                f"<th>failures</th><th>reasons</th></tr>{rows}</table>")
    if len(worst) > hosts_shown:
      body.append(f"<p>{esc(len(worst) - hosts_shown)} more hosts with "
                  "failures</p>")
  return "<h2>Fetching</h2>" + "".join(body)


def _reasons(counts: Mapping[str, int]) -> str:
  return ", ".join(f"{reason} {count}" for reason, count in
                   sorted(counts.items(), key=lambda rc: (-rc[1], rc[0])))


def classification_section(cards: Sequence[Tuple[str, str, Sequence[
    Tuple[str, float]], str]]) -> str:
  """cards: (key, image html, [(label, score)], score kind)."""
  out = ['<h2>Predictions</h2><div class="grid" id="predictions">']
  for key, image, top, kind in cards:
    top_score = max([abs(s) for _, s in top] + [1e-9])
    bars = []
    for label, score in top:
      width = (max(0.0, min(1.0, score)) if kind in ("softmax", "sigmoid")
               else max(0.0, score) / top_score)
      bars.append(f'<div class="bar" title="{esc(label)}: {score:.4f}">'
                  f'<span style="width:{100 * width:.1f}%"></span>'
                  f'<em>{esc(str(label).split(",")[0])} {score:.2f}</em>'
                  "</div>")
    out.append(f'<div class="card" data-key="{esc(key)}">{image}'
               f'<div class="key">{esc(name(key))}</div>{"".join(bars)}'
               "</div>")
  out.append("</div>")
  return "".join(out)


def neighbours_section(entries: Sequence[Tuple[str, str, Sequence[Tuple[
    str, str, float]]]]) -> str:
  """entries: (query key, image html, [(key, image html, cosine)])."""
  out = ['<h2>Nearest neighbours (cosine)</h2><div id="neighbours">']
  for key, image, neighbours in entries:
    figures = "".join(
        f'<figure data-key="{esc(k)}">{img}<figcaption>{esc(name(k))} '
        f'<b>{sim:.3f}</b></figcaption></figure>'
        for k, img, sim in neighbours)
    out.append(f'<div class="nn" data-key="{esc(key)}"><figure class="query">'
               f'{image}<figcaption>{esc(name(key))}</figcaption></figure>'
               f"{figures}</div>")
  out.append("</div>")
  return "".join(out)


def map_section(points: Sequence[Tuple[float, float, str, Optional[str]]],
                total: int) -> str:
  """points: (x, y, key, thumb id or None) scaled to [0, 1]."""
  size = 560
  dots = []
  for x, y, key, thumb in points:
    cx, cy = 10 + x * (size - 20), 10 + (1 - y) * (size - 20)
    if thumb:
      dots.append(f'<circle class="s" cx="{cx:.1f}" cy="{cy:.1f}" r="5" '
                  f'data-thumb="{thumb}" data-key="{esc(name(key))}">'
                  f"<title>{esc(name(key))}</title></circle>")
    else:
      dots.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5">'
                  f"<title>{esc(name(key))}</title></circle>")
  note = ("" if len(points) == total else
          f" ({len(points)} of {total} points drawn)")
  return (f"<h2>Embedding map (PCA){esc(note)}</h2>"
          f'<svg id="map" width="{size}" height="{size}" '
          f'viewBox="0 0 {size} {size}" style="background:#fff;border:1px '
          f'solid #ddd">{"".join(dots)}</svg>'
          '<div id="tip"><img alt=""><div></div></div>')


def failures_section(failures: Sequence[Mapping[str, object]]) -> str:
  if not failures:
    return '<h2>Failures</h2><p id="failures">None.</p>'
  counts: Dict[str, int] = {}
  for f in failures:
    counts[str(f.get("reason"))] = counts.get(str(f.get("reason")), 0) + 1
  by_reason = "".join(
      f'<tr data-reason="{esc(r)}"><td>{esc(r)}</td><td>{c}</td></tr>'
      for r, c in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0])))
  rows = "".join(
      f'<tr data-reason="{esc(f.get("reason"))}"><td>'
      f'{esc(file_names.shown(str(f.get("key")), bool(f.get("key_escaped"))))}'
      '</td>'
      f'<td>{esc(f.get("stage"))}</td><td>{esc(f.get("reason"))}</td>'
      f'<td>{esc(f.get("message"))}</td></tr>'
      for f in sorted(failures, key=lambda f: (str(f.get("reason")),
                                               str(f.get("key")))))
  return ('<h2>Failures</h2><table id="failure-reasons"><tr><th>reason</th>'
          f"<th>count</th></tr>{by_reason}</table><p></p>"
          '<table class="fail" id="failures"><tr><th>key</th><th>stage</th>'
          f"<th>reason</th><th>message</th></tr>{rows}</table>")


def document(title: str, sections: List[str], thumbs: Thumbs) -> str:
  data = json.dumps(thumbs.uris).replace("<", "\\u003c")
  return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
          f"<h1>{esc(title)}</h1>{''.join(sections)}"
          f'<script type="application/json" id="thumbs">{data}</script>'
          f"<script>{_SCRIPT}</script></body></html>")
