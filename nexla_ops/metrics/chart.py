"""The chart: records and errors per day (two panels) and, with an SLA, each judged flow's
running attainment (days met / days evaluated up to each day) with its missed days marked.
PNG by default, SVG or PDF by the file name's ending. matplotlib is imported here, on first
use, with the Agg backend (no display needed)."""

from __future__ import annotations

import datetime as dt
import io
import os

from nexla_ops.errors import BadInput, ConfigError
from nexla_ops.redact import escape_text, one_line

from .outputs import title

FORMATS = ("png", "svg", "pdf")


def image_format(path: str | None) -> str:
    """The chart's format from its file name (png when it names none); BadInput for others."""
    ending = os.path.splitext(path or "")[1].lower().lstrip(".")
    if not ending:
        return "png"
    if ending not in FORMATS:
        raise BadInput(f"--chart: expected a .png, .svg or .pdf file name, got {path!r:.80}")
    return ending


def require_matplotlib() -> None:
    """ConfigError (exit 3) now, before anything is sent, when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("--chart/--html need matplotlib: python -m pip install "
                          "'matplotlib>=3.7'")


def running_attainment(days: list[dict]) -> list[tuple[dt.date, float]]:
    points, met, evaluated = [], 0, 0
    for day in days:
        if day["evaluated"]:
            evaluated += 1
            met += bool(day["met"])
            points.append((dt.date.fromisoformat(day["date"]), 100 * met / evaluated))
    return points


def render(doc: dict, path: str | None = None) -> bytes:
    """The chart as bytes, in the format `path`'s ending names (PNG without one)."""
    import logging

    import matplotlib

    matplotlib.use("Agg", force=True)
    # matplotlib's own notes (a font cache built on first use) are not ours to print
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    from matplotlib.figure import Figure  # no pyplot: no global state, nothing left open

    days = [dt.date.fromisoformat(row["date"]) for row in doc["daily"]]
    flows = (doc.get("sla") or {}).get("flows", [])
    panels = 3 if flows else 2
    fig = Figure(figsize=(10, 2.4 * panels + 0.6), dpi=100, layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True)
    fig.suptitle(one_line(escape_text(title(doc)), 120), fontsize=11)

    records, errors = axes[0], axes[1]
    records.bar(days, [row["records"] or 0 for row in doc["daily"]], color="#4C72B0",
                label="records")
    if any(row.get("records_written") is not None for row in doc["daily"]):
        records.plot(days, [row["records_written"] or 0 for row in doc["daily"]],
                     color="#55A868", marker=".", label="records written")
    records.set_ylabel("records / day")
    records.legend(loc="upper left", fontsize=8)
    errors.bar(days, [row["errors"] or 0 for row in doc["daily"]], color="#C44E52",
               label="errors")
    errors.set_ylabel("errors / day")
    if all(row["errors"] is None for row in doc["daily"]):
        errors.set_yticks([])
        errors.text(0.5, 0.5, "errors are not reported for this target", ha="center",
                    va="center", transform=errors.transAxes)
    if flows:
        line = axes[2]
        for flow in flows:
            points = running_attainment(flow["days"])
            drawn = line.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                              markersize=3, label=f"flow {flow['flow_id']}")
            missed = [dt.date.fromisoformat(d) for d in flow["missed"]]
            if missed:  # on the flow's own line, in its colour
                value = dict(points)
                line.scatter(missed, [value[d] for d in missed], marker="x", s=60,
                             color=drawn[0].get_color(), zorder=3,
                             label=f"flow {flow['flow_id']}: day missed")
        line.set_ylim(-5, 105)
        line.set_ylabel("SLA attainment %\n(running)")
        line.legend(loc="lower left", fontsize=8)
    for axis in axes:
        axis.grid(axis="y", alpha=0.3)
    for label in axes[-1].get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format(path))
    return buffer.getvalue()
