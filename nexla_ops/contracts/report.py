"""A contract check's report as text (a line per nexset, then its findings), JSON, a Nagios
status line with perfdata, or Prometheus textfile-collector metrics; laid out as
health_check's, from its pieces. Rendering only: the runner writes the text."""

from __future__ import annotations

import json
import time

import nexla_ops
from nexla_ops.health.model import OK, SEVERITY, STATE_NAMES
from nexla_ops.health.outputs import COLOURS, one_a_line, set_state
from nexla_ops.redact import escape_text

CHECK_TITLES = {"schema": "schema", "quality": "data quality"}
FINDINGS_SHOWN = 20  # per nexset in text output; JSON has them all


def _nexsets(summary) -> str:
    count = summary["nexsets"]
    return f"{count} nexset{'s' * (count != 1)}"


def _counts(summary) -> str:
    counts = summary["counts"]
    return ", ".join(f"{counts[name]} {name.lower()}" for name in ("CRITICAL", "WARNING", "UNKNOWN", "OK"))


def _described(result) -> str:
    return f"{escape_text(result.title)}: {escape_text(result.reason())}"


def _finding_lines(result, check: str) -> list:
    """The findings listed under a nexset's line: every rule's outcome for a quality check, the
    changes of a schema check when there are several (one fits on the nexset's own line)."""
    if check == "quality":
        return result.findings
    problems = result.problems()
    return problems if len(problems) > 1 else []


def render_text(results, summary, notes, check: str, colour: bool) -> str:
    lines = []
    for result in results:
        label = f"{STATE_NAMES[result.state]:<8}"
        if colour:
            label = f"{COLOURS[result.state]}{label}\033[0m"
        shown = _finding_lines(result, check)
        if not shown:
            lines.append(f"{label} {_described(result)}")
            continue
        lines.append(f"{label} {escape_text(result.title)}")
        lines.extend(f"  {STATE_NAMES[f.state]:<8} {escape_text(f.message)}"
                     for f in shown[:FINDINGS_SHOWN])
        if len(shown) > FINDINGS_SHOWN:
            lines.append(f"  ... and {len(shown) - FINDINGS_SHOWN} more (--json has them all)")
    lines.extend(escape_text(note) for note in notes)
    lines.append(f"{summary['state']}: {_nexsets(summary)}, {CHECK_TITLES[check]} "
                 f"checked in {summary['duration_seconds']:.2f}s: {_counts(summary)}")
    return "\n".join(lines) + "\n"


def render_json(results, summary, notes) -> str:
    """The summary and notes indented, then one nexset a line (greps and diffs well)."""
    head = json.dumps({"summary": nexla_ops.to_jsonable(summary),
                       "notes": nexla_ops.to_jsonable(notes)}, indent=2)
    body = f',\n  "nexsets": {one_a_line(r.to_doc() for r in results)}'
    return head.removesuffix("\n}") + body + "\n}\n"


def render_nagios(results, summary, notes, check: str) -> str:
    problems = sorted((r for r in results if r.state != OK),
                      key=lambda r: (-SEVERITY[r.state], r.nexset_id))
    detail = "; ".join(f"{STATE_NAMES[r.state]} {_described(r)}" for r in problems[:3])
    if len(problems) > 3:
        detail += f"; +{len(problems) - 3} more"
    text = f"{_nexsets(summary)} ({CHECK_TITLES[check]}): {_counts(summary)}"
    extra = [escape_text(note) for note in notes] + ([detail] if detail else [])
    if extra:
        text += " - " + "; ".join(extra)
    perf = " ".join([*(f"{name.lower()}={summary['counts'][name]}" for name in STATE_NAMES),
                     f"duration={summary['duration_seconds']}s"])
    # '|' starts perfdata and a newline Nagios' long output: neither may come from API text.
    text = text.replace("|", "/").replace("\n", " ")
    return f"NEXLA {summary['state']} - {text} | {perf}\n"


def render_prometheus(results, summary, check: str, finished_ts: float) -> str:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    labels = ["nexset_id", "name"]
    prefix = f"nexla_nexset_{check}"
    state = Gauge(f"{prefix}_state", f"1 for the nexset's current {CHECK_TITLES[check]} state, "
                                     "0 for the others", [*labels, "state"], registry=registry)
    problems = Gauge(f"{prefix}_problems",
                     "Breaking and additive schema changes against the baseline"
                     if check == "schema" else "Rules that failed on the samples",
                     [*labels, "severity"], registry=registry)
    Gauge(f"{prefix}_check_duration_seconds", "Wall time of the last check run",
          registry=registry).set(summary["duration_seconds"])
    Gauge(f"{prefix}_check_last_run_timestamp_seconds", "Unix time the last check run finished",
          registry=registry).set(finished_ts)
    Gauge(f"{prefix}_check_status", "Overall result as a Nagios code: 0 OK, 1 WARNING, "
                                    "2 CRITICAL, 3 UNKNOWN", registry=registry).set(summary["exit_code"])
    for result in results:
        ids = (str(result.nexset_id), escape_text(nexla_ops.redact_text(result.name)))
        set_state(state, ids, result.state)
        if not result.unknown:
            found = result.problems()
            for severity, code in (("critical", 2), ("warning", 1)):
                problems.labels(*ids, severity).set(sum(f.state == code for f in found))
    return generate_latest(registry).decode("utf-8")


def render(fmt: str, results, summary, notes, *, check: str, colour: bool = False) -> str:
    """The report in `fmt`, redacted where it quotes API text outside JSON (as health_check's:
    JSON escapes what it quotes, and a quality finding's examples are redacted as it is built)."""
    if fmt == "json":
        return render_json(results, summary, notes)
    if fmt == "nagios":
        return nexla_ops.redact_text(render_nagios(results, summary, notes, check))
    if fmt == "prometheus":
        return render_prometheus(results, summary, check, time.time())
    return nexla_ops.redact_text(render_text(results, summary, notes, check, colour))
