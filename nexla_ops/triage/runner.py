"""One triage run: the bulk reads, the judgement and ranking, per-flow reads for the failing
flows only, the next steps, and the document (what the triage command calls)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import nexla_ops
from nexla_ops import probe
from nexla_ops.health.budget import Deadline
from nexla_ops.health.observe import Api
from nexla_ops.output import dumps
from nexla_ops.stopping import map_threads

from . import advice, compare, details, evidence, findings, report


def _probe_credentials(api, found: evidence.Evidence, concurrency: int) -> None:
    """Probe, once each, the credentials that running flows use (GET .../probe; read-only)."""
    wanted = sorted({c for flow in found.flows if flow.status not in findings.NOT_RUNNING
                     for c in flow.credential_ids if c in found.credentials})

    def one(cred_id: int) -> None:
        try:
            verdict = probe.probe_credential(api.get, cred_id)
        except nexla_ops.OpsError as exc:  # no verdict (a missing role, say): noted, not fatal
            found.probe_problems.append(f"credential {cred_id}: {exc.message}")
            return
        if verdict.missing:  # the listing just named it: a 404 here is no verdict on it
            found.probe_problems.append(f"credential {cred_id}: its probe answered not found")
            return
        found.credentials[cred_id].probe = "ok" if verdict.ok else (verdict.reason or "failed")

    map_threads(one, wanted, concurrency, "probe")


def triage(ctx, api, *, window: float, window_label: str, stale_after: float,
           limit: int, probe_credentials: bool, concurrency: int) -> dict:
    now = datetime.now(timezone.utc)
    since = now - timedelta(seconds=window)
    found = evidence.gather(api, ctx, since)
    if probe_credentials:
        _probe_credentials(api, found, concurrency)
    ranked = findings.rank(found, since, now, stale_after)
    shown = ranked[:limit] if limit else ranked
    failing = [f for f in shown if f.failed_runs]
    map_threads(lambda f: details.enrich(api, f, found, since, now), failing, concurrency,
                "triage")
    shown.sort(key=lambda f: f.impact, reverse=True)  # recounted over the whole window
    counts = {name: 0 for name in findings.SEVERITY_NAMES.values()}
    for finding in ranked:
        counts[findings.SEVERITY_NAMES[finding.severity]] += 1
    gaps = _gaps(found, shown)
    doc = {
        # ok: the triage ran (a failure prints {"ok": false, "error"}); healthy: nothing broken;
        # complete: everything was read (gaps says what was not)
        "ok": True, "healthy": not ranked, "complete": not gaps, "gaps": gaps,
        "broken": len(ranked), "flows_checked": len(found.flows),
        "counts": counts,
        "window": {"since": since.isoformat(), "until": now.isoformat(),
                   "label": window_label},
        "flows": [report.finding_document(f, i, advice.next_steps(
            f, found, window_label, sandbox=ctx.config.sandbox)) for i, f in enumerate(shown, 1)],
        "shown": len(shown),
    }
    doc["api_calls"] = api.calls
    return doc


def _gaps(found: evidence.Evidence, shown: list) -> list[str]:
    """What this triage could not read, one line each."""
    gaps = [found.listing_problem] if found.listing_problem else []
    if found.unreadable_flows:
        gaps.append(f"{found.unreadable_flows} listed flow(s) had no usable id and were not "
                    "judged")
    if found.unreadable_status:
        gaps.append(f"{found.unreadable_status} flow(s) had no readable status (judged as "
                    "running)")
    gaps += [f"probe unavailable: {nexla_ops.one_line(p, 300)}" for p in found.probe_problems]
    if found.notifications_problem:
        gaps.append(f"notifications unavailable: {found.notifications_problem}")
    gaps += [f"flow {f.flow.flow_id}: details unavailable: {f.details['unavailable']}"
             for f in shown if f.details.get("unavailable")]
    return gaps


def exit_code(doc: dict, comparing: bool) -> int:
    """1 something broken; else 7 when part of the account could not be read (a clean bill of
    health must not rest on what was skipped); else 0."""
    if comparing:
        return nexla_ops.EXIT_FAILED if doc["latest_failed"] else nexla_ops.EXIT_OK
    if not doc["healthy"]:
        return nexla_ops.EXIT_FAILED
    return nexla_ops.EXIT_OK if doc["complete"] else nexla_ops.EXIT_PARTIAL


def _check_flags(args) -> None:
    if args.flow is not None:
        given = [flag for flag, on in (("--limit", args.limit), ("--probe-credentials",
                                                                 args.probe_credentials)) if on]
        if given:
            raise nexla_ops.BadInput(f"{given[0]}: applies to the ranked triage, not to --flow")


def _duration(text: str, flag: str) -> float:
    seconds = nexla_ops.parse_duration(text, field=flag)
    if not 0 < seconds <= 366 * 86400:
        raise nexla_ops.BadInput(f"{flag}: expected a duration between 1s and 366d, got {text!r}")
    return seconds


def run(args, ctx) -> int:
    window = _duration(args.since, "--since")
    stale_after = _duration(args.stale_after, "--stale-after")
    _check_flags(args)
    nexla_ops.check_output_path(args.output)
    to_file = args.output not in (None, "-")
    api = Api(ctx, Deadline(ctx.config.deadline))
    if args.flow is not None:
        doc = {"ok": True, **compare.compare_flow(api, args.flow)}
        text = report.render_comparison(doc)
    else:
        doc = triage(ctx, api, window=window, window_label=args.since.strip(),
                     stale_after=stale_after, limit=args.limit,
                     probe_credentials=args.probe_credentials, concurrency=args.concurrency)
        text = report.render_text(doc)
    ctx.progress_done()
    for gap in doc.get("gaps", []):
        ctx.warn("triage incomplete: %s", gap)
    out = dumps(doc) + "\n" if args.json else text
    if to_file:
        nexla_ops.write_output(args.output, out)
        # stdout still says how it went: a short document with --json, else the summary line
        if args.json:
            sys.stdout.write(dumps({"ok": True, "output": args.output, **{
                k: doc[k] for k in ("healthy", "broken", "flows_checked", "flow_id",
                                    "latest_failed") if k in doc}}) + "\n")
        else:
            sys.stdout.write(report.summary_line(doc) + "\n" if args.flow is None else
                             out.splitlines()[0] + "\n")
    else:
        sys.stdout.write(out)
    return exit_code(doc, comparing=args.flow is not None)
