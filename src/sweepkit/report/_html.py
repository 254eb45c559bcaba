"""`report.html`: one self-contained page with every figure, the summaries and a sortable, filterable table of
all trials. It works offline: the figures are the report's own PNGs, inlined as data URIs (the same bytes as
the `.png` files next to it), and nothing is fetched from anywhere (no CDN, no fonts, no script but ours).
"""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sweepkit.report._data import ReportData, label
from sweepkit.report._figures import Drawn
from sweepkit.report._folds import folds_table
from sweepkit.report._text import TOP_K, fmt, resource_rows, time_rows
from sweepkit.results import atomic_write, violations
from sweepkit.space import flatten


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if text and text.strip() else ""


def _figure(figure: Drawn, data: ReportData) -> str:
    """One figure's section: its PNG (or the sentence saying why there is none), and what goes with it."""
    spec = figure.spec
    if figure.message is not None:
        body = f'<p class="empty">{html.escape(figure.message)}</p>'
    else:
        inline = base64.b64encode(figure.png).decode("ascii")
        body = f'<img class="figure" alt="{html.escape(spec.title)}" src="data:image/png;base64,{inline}">'
    if spec.key == "folds":
        body += folds_table(data)
    about = spec.about + (f" Here: {data.importance.title}." if spec.key == "importance" else "")
    about = f'<p class="about">{html.escape(about)}</p>'
    return f'<section id="{spec.key}"><h2>{spec.title}</h2>{about}{body}</section>'


# -- tables ---------------------------------------------------------------------------------------------
def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _top_table(data: ReportData) -> str:
    top = data.result.top(TOP_K)
    if not top:
        return ""
    names = list(dict.fromkeys(n for t in top for n in flatten(t.params)))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["rank", "trial", data.metric, *names])
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in [str(r), str(t.number), fmt(t.value), *(fmt(flatten(t.params).get(n)) for n in names)]
        )
        + "</tr>"
        for r, t in enumerate(top, 1)
    )
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _trials_table(data: ReportData) -> str:
    """Every trial, one row each; columns sort on a click (the script at the end of the page)."""
    params = list(dict.fromkeys(n for p in data.flat for n in p))
    metrics = list(
        dict.fromkeys(k for t in data.trials for k, v in t.metrics.items() if k != data.metric and _scalar(v))
    )
    workers = any(t.worker for t in data.trials)
    head = [
        "trial",
        "state",
        data.metric,
        "seconds",
        "start",
        *(["worker"] if workers else []),
        *params,
        *metrics,
        "reason / error",
    ]
    out = ['<table class="grid sortable" id="trials"><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    esc = html.escape
    for t, flat in zip(data.trials, data.flat, strict=True):
        cells = [
            str(t.number),
            t.state if t.feasible else f"{t.state} (infeasible: {violations(t.constraints)})",
            fmt(t.value),
            f"{t.duration:.3f}" if t.duration is not None else "",
            t.start.isoformat(sep=" ", timespec="seconds") if t.start else "",
            *([t.worker or ""] if workers else []),
            *(_cell(flat.get(n)) for n in params),
            *(_cell(t.metrics.get(m)) for m in metrics),
            t.reason or _first_line(t.error),
        ]
        out.append(f'<tr class="{t.state.lower()}"><td>' + "</td><td>".join(esc(c) for c in cells) + "</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str | bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return fmt(value) if isinstance(value, int | float) else label(value)


# -- the page -------------------------------------------------------------------------------------------
def write_html(data: ReportData, drawn: list[Drawn], path: Path, files: list[str]) -> None:
    r = data.result
    best = r.best_trial
    overview = [
        ("metric", f"{r.metric} ({r.goal})"),
        ("strategy", f"{r.strategy}" + (f" ({r.strategy_reason})" if r.strategy_reason else "")),
        ("trials", f"{len(r.trials):,} ({data.counts_text()})"),
    ]
    if r.stop_reason:
        overview.append(("stopped", r.stop_reason))
    if best is not None:
        overview.append(("best", f"trial {best.number}: {r.metric} = {fmt(best.value)}"))
        overview += [(f"  {k}", fmt(v)) for k, v in flatten(best.params).items()]
    parts = [f"<h1>Sweep {html.escape(r.name)}</h1>"]
    if best is None:
        parts.append(f'<p class="empty big">{html.escape(data.no_finished_text())}</p>')
    parts.append(_kv_table(overview))
    nav = ['<a href="#summary">summary</a>', *(f'<a href="#{d.spec.key}">{d.spec.title.lower()}</a>' for d in drawn)]
    figures = [_figure(d, data) for d in drawn]
    nav += ['<a href="#top">best trials</a>', '<a href="#resources">resources</a>', '<a href="#trials">all trials</a>']
    parts.append(f'<nav id="summary">{" · ".join(nav)}</nav>')
    parts += figures
    top = _top_table(data)
    parts.append(f'<section id="top"><h2>Best {len(r.top(TOP_K))} trials</h2>{top or _empty(data)}</section>')
    res = [*time_rows(data), *resource_rows(data)]
    parts.append(f'<section id="resources"><h2>Time and resources</h2>{_kv_table(res)}</section>')
    if data.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
        parts.append(f'<section id="notes"><h2>Notes</h2><ul>{notes}</ul></section>')
    parts.append(
        f'<section id="trials-section"><h2>All trials</h2><p class="about">Click a column to sort it; type to '
        f'keep the rows that contain the text. <input id="filter" placeholder="filter, e.g. pruned"></p>'
        f'<div class="scroll">{_trials_table(data)}</div></section>'
    )
    listed = ", ".join(html.escape(f) for f in files)
    made = datetime.now(UTC).isoformat(sep=" ", timespec="seconds")
    parts.append(f"<footer>Written by sweepkit report at {made} UTC, next to: {listed}.</footer>")
    page = _PAGE.format(title=html.escape(f"sweep {r.name}: report"), body="\n".join(parts))
    atomic_write(path, page)


def _empty(data: ReportData) -> str:
    return f'<p class="empty">{html.escape(data.no_finished_text())}</p>'


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0 auto;max-width:1280px;padding:12px 24px;color:#222}
h1{margin:8px 0 12px}
img.figure{display:block;max-width:100%;height:auto}
h2{margin:28px 0 4px;border-bottom:1px solid #ddd;padding-bottom:2px}
nav{margin:12px 0;padding:8px 0;border-top:1px solid #eee;border-bottom:1px solid #eee}
nav a{color:#1f77b4}
.about{color:#555;margin:2px 0 8px}
.empty{background:#fff8e1;border-left:4px solid #f0b400;padding:10px 14px}
.big{font-size:16px}
table{border-collapse:collapse}
table.kv th{text-align:left;padding:2px 14px 2px 0;font-weight:600;white-space:pre}
table.grid{font-size:12.5px}
table.grid th,table.grid td{border:1px solid #e3e3e3;padding:3px 7px;text-align:left;white-space:nowrap}
table.grid thead th{background:#f5f5f5;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
tr.pruned td:nth-child(2){color:#c25e00}
tr.failed td:nth-child(2){color:#d62728}
tr.complete td:nth-child(2){color:#1f77b4}
.scroll{max-height:640px;overflow:auto;border:1px solid #e3e3e3}
#filter{margin-left:8px;padding:2px 6px}
footer{margin:30px 0 10px;color:#777;font-size:12px}
"""

# A few lines of our own rather than a table library: no dependency, nothing to fetch, works offline.
_SCRIPT = """
(function(){
  var table=document.getElementById("trials"); if(!table) return;
  var body=table.tBodies[0];
  function num(s){return s===""?NaN:Number(s);}
  table.querySelectorAll("th").forEach(function(th,col){th.addEventListener("click",function(){
    var asc=th.dataset.dir!=="asc";
    table.querySelectorAll("th").forEach(function(h){delete h.dataset.dir;}); th.dataset.dir=asc?"asc":"desc";
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[col].textContent,y=b.cells[col].textContent,nx=num(x),ny=num(y);
      if(x===""||y==="") return x===y?0:(x===""?1:-1);          /* empty cells last, either way */
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return asc?c:-c;});
    var frag=document.createDocumentFragment(); rows.forEach(function(r){frag.appendChild(r);}); body.appendChild(frag);
  });});
  var filter=document.getElementById("filter");
  filter.addEventListener("input",function(){var q=filter.value.toLowerCase();
    Array.prototype.forEach.call(body.rows,function(r){r.hidden=q!==""&&r.textContent.toLowerCase().indexOf(q)<0;});});
})();
"""

_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
    "<style>" + _STYLE.replace("{", "{{").replace("}", "}}") + "</style>"
    "</head>\n<body>\n{body}\n"
    "<script>" + _SCRIPT.replace("{", "{{").replace("}", "}}") + "</script>\n</body></html>\n"
)
