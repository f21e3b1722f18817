"""The HTML report: one self-contained page (inline CSS, the chart as a data: URI, no external
reference), every value HTML-escaped."""

from __future__ import annotations

import base64
import html

from nexla_ops.redact import escape_text, one_line, redact_text

from .daily import COLUMNS
from .outputs import RUN_FIELDS, SLA_DAY_FIELDS, targets_text, title

STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:right}th{background:#eee}td.no{background:#f8d7da}img{max-width:100%}"""


def _text(value) -> str:
    """API text as one escaped, redacted line of HTML."""
    return html.escape(one_line(escape_text(redact_text("" if value is None else str(value))),
                                300))


def _table(rows: list[dict], columns) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            missed = value is False and column.endswith("met")
            shown = "" if value is None else "yes" if value is True else "NO" if value is False \
                else value
            opening = '<td class="no">' if missed else "<td>"
            cells.append(f"{opening}{_text(shown)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_html(doc: dict, png: bytes | None) -> str:
    heading = _text(title(doc))
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
             f"<title>{heading}</title><style>{STYLE}</style></head><body>",
             f"<h1>{heading}</h1>"]
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<img alt=\"records, errors and SLA attainment per day\" "
                     f"src=\"data:image/png;base64,{data}\">")
    if doc.get("runs"):
        parts += ["<h2>Runs in the window</h2>", _table([doc["runs"]], RUN_FIELDS)]
    for flow in (doc.get("sla") or {}).get("flows", []):
        share = "n/a" if flow["attainment"] is None else f"{flow['attainment']:.1%}"
        parts += [f"<h2>SLA: flow {_text(flow['flow_id'])}</h2>",
                  f"<p>{flow['days_met']} of {flow['days_evaluated']} days met ({share}); "
                  f"targets: {_text(targets_text(flow['targets']))}</p>",
                  _table(flow["days"], SLA_DAY_FIELDS)]
    parts += ["<h2>Per day</h2>", _table(doc["daily"], COLUMNS),
              "<h2>Totals over the window</h2>", _table([doc["totals"]], list(doc["totals"]))]
    if doc.get("notes"):
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_text(n)}</li>" for n in doc["notes"])
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
