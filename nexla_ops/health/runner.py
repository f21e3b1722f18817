"""One health check run: list the flows, choose the ones asked for, fetch what the listing
lacks (older runs, credential probes, with --credentials the credential listing) within the
budget, judge each flow (and each credential they use), check the deployment files for drift,
and return the report as data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from .budget import Deadline
from .checks import evaluate, needs_created_at, needs_history, summarize, unchecked
from .model import STATE_NAMES, UNKNOWN, Check, FlowResult, worst
from .observe import (
    Api,
    Listing,
    fetch_created_at,
    fetch_history,
    list_flows,
    probe_credential,
    run_bounded,
)
from .settings import Thresholds


@dataclass(frozen=True)
class Selection:
    """Which flows, beyond the config file's targets, and how to check them.

    tags: only flows with a resource carrying one of these; projects: only flows in one of
    these projects (ids as ASCII digits, else names); flows: only these flow ids (one not
    found is UNKNOWN); expect_paused: flow ids for which PAUSED
    is OK; probe_credentials: probe every credential the chosen flows use; concurrency: parallel
    per-flow calls; credentials: the --credentials check's settings (each used credential is
    then judged once, in Report.credentials, and a probe's verdict lands there, not on each
    flow).
    """

    tags: list | None = None
    projects: list | None = None
    flows: list | None = None
    expect_paused: list | None = None
    probe_credentials: bool = False
    concurrency: int = 8
    credentials: object = None  # credentials.CredentialSettings: judge each used credential


@dataclass
class Report:
    """The run's outcome: per-flow results (sorted by flow id), the summary (its exit_code is
    the Nagios code), notes on what could not be covered, when the flows were judged, and the
    deployments' and credentials' results (None when not asked for)."""

    results: list
    summary: dict
    notes: list = field(default_factory=list)
    now: datetime | None = None
    deployments: list | None = None
    credentials: list | None = None  # [CredentialResult] with --credentials

    @property
    def exit_code(self) -> int:
        return self.summary["exit_code"]


def select(listing: Listing, defaults: Thresholds, targets, ctx, *, tags=None, projects=None,
           flows=None, expect_paused=None):
    """[(Flow, Thresholds)] to check, plus results for configured resources not found."""
    expected_paused = set(expect_paused or [])
    missing = []
    if targets is not None:
        index = {}
        for flow in listing.flows:
            for resource in flow.resources:
                index.setdefault(resource, flow)
        chosen = {}
        for target in targets:
            flow = index.get((target.type, target.id))
            if flow is None:
                why = ("the flow listing stopped before it was found" if not listing.complete
                       else "not found in any flow visible to this key")
                missing.append(FlowResult(None, target.label, "UNKNOWN", UNKNOWN,
                                          [Check("selection", UNKNOWN, why)]))
            elif flow.flow_id in chosen:
                ctx.warn(f"config: {target.label} is in flow {flow.flow_id}, already selected by an "
                         "earlier entry; its settings are ignored")
            else:
                chosen[flow.flow_id] = (flow, target.thresholds)
        pairs = list(chosen.values())
    else:
        pairs = [(flow, defaults) for flow in listing.flows]
    if flows:
        wanted_ids = set(flows)
        pairs = [(f, th) for f, th in pairs if f.flow_id in wanted_ids]
        why = ("the flow listing stopped before it was found" if not listing.complete
               else "not found among the flows visible to this key")
        missing.extend(FlowResult(None, f"flow {flow_id}", "UNKNOWN", UNKNOWN,
                                  [Check("selection", UNKNOWN, why)])
                       for flow_id in sorted(wanted_ids - {f.flow_id for f, _ in pairs}))
    if tags:
        wanted = set(tags)
        pairs = [(f, th) for f, th in pairs if f.tags & wanted]
    if projects:
        ids = set()
        for project in projects:
            if project.isascii() and project.isdigit():  # "²".isdigit() too; a name then
                ids.add(int(project))
            else:
                ids.update(pid for pid, name in listing.projects.items() if name == project)
        pairs = [(f, th) for f, th in pairs if f.project_id in ids]
    pairs = [(f, replace(th, expect_paused=True) if f.flow_id in expected_paused else th) for f, th in pairs]
    return sorted(pairs, key=lambda pair: pair[0].flow_id), missing


def _stream(api, ctx, defaults: Thresholds, selection: Selection, now: datetime, judged: list):
    """List the flows, judging on each page those the listing alone can judge (into `judged`).
    Returns the listing (holding only the flows that need their history), their
    (Flow, Thresholds) pairs, and results for --flow ids that were not found."""
    thresholds: dict = {}
    seen: set = set()

    def on_page(flows: list, listing: Listing) -> list:
        seen.update(flow.flow_id for flow in flows)
        page = Listing(flows, listing.projects, listing.credentials, complete=True)
        chosen, _ = select(page, defaults, None, ctx, tags=selection.tags,
                           projects=selection.projects, flows=selection.flows,
                           expect_paused=selection.expect_paused)
        kept = []
        for flow, th in chosen:
            if needs_history(flow, th, now) or needs_created_at(flow):
                thresholds[flow.flow_id] = th
                kept.append(flow)
            else:
                judged.append(evaluate(flow, th, now, None))
        return kept

    # The resource lists carry what only --tag and --project NAME need (tags, project names).
    listing = list_flows(api, ctx, selection.concurrency, on_page,
                         details=bool(selection.tags or selection.projects))
    pairs = [(flow, thresholds[flow.flow_id]) for flow in listing.flows]
    why = ("the flow listing stopped before it was found" if not listing.complete
           else "not found among the flows visible to this key")
    missing = [FlowResult(None, f"flow {flow_id}", "UNKNOWN", UNKNOWN,
                          [Check("selection", UNKNOWN, why)])
               for flow_id in sorted(set(selection.flows or ()) - seen)]
    return listing, pairs, missing


def check_flows(ctx, deadline: Deadline, defaults: Thresholds, targets=None,
                selection: Selection | None = None) -> Report:
    """Check every flow chosen (targets from settings.load_config, or every flow with
    `defaults`, narrowed by `selection`). Raises nexla_ops errors when the listing's first page
    cannot be read; what the deadline leaves unchecked is UNKNOWN in the report."""
    selection = selection or Selection()
    started_at = datetime.now(timezone.utc)
    api = Api(ctx, deadline)
    judged: list = []
    creds = selection.credentials
    if targets is None and not selection.probe_credentials and creds is None:
        # Nothing needs the whole listing: judge each page's flows as it arrives and keep
        # only those that need more (their run history), so memory does not grow with N.
        now = started_at
        listing, pairs, missing = _stream(api, ctx, defaults, selection, now, judged)
    else:
        listing = list_flows(api, ctx, selection.concurrency)
        now = datetime.now(timezone.utc)
        pairs, missing = select(listing, defaults, targets, ctx, tags=selection.tags,
                                projects=selection.projects, flows=selection.flows,
                                expect_paused=selection.expect_paused)

    tasks = {}
    for flow, th in pairs:
        if needs_history(flow, th, now):
            tasks[("history", flow.flow_id)] = lambda f=flow, t=th: fetch_history(api, f, t, now)
        if needs_created_at(flow):
            tasks[("created", flow.flow_id)] = lambda f=flow: fetch_created_at(api, f)
    usage = {}
    if creds is not None:
        from .credentials import credential_tasks, credential_usage

        usage = credential_usage(pairs)
        tasks.update(credential_tasks(api, ctx, usage, creds, probe=selection.probe_credentials,
                                      concurrency=selection.concurrency))
    elif selection.probe_credentials:
        for cred_id in sorted({c for flow, _ in pairs for c in flow.credential_ids}):
            name = listing.credentials.get(cred_id, "")
            tasks[("credential", cred_id)] = lambda c=cred_id, n=name: probe_credential(api, c, n)
    if tasks:
        ctx.progress(f"checking {len(tasks)} flow(s) and credential(s) individually")
    done, failed = run_bounded(tasks, selection.concurrency, deadline)
    credentials = None
    if selection.probe_credentials and creds is None:
        credentials = {key[1]: value for key, value in done.items() if key[0] == "credential"}
        for key, exc in failed.items():
            if key[0] == "credential":
                credentials[key[1]] = (UNKNOWN, f"credential {key[1]}: {exc.message}")

    results = [*missing, *judged]
    for flow, th in pairs:
        key = ("history", flow.flow_id)
        if key in failed:
            results.append(FlowResult(flow.flow_id, flow.name, flow.status, UNKNOWN,
                                      [Check("history", UNKNOWN, f"run history: {failed[key].message}")]))
            continue
        if key in tasks and key not in done:
            results.append(unchecked(flow.flow_id, flow.name,
                                     f"not checked before the --timeout of {deadline.seconds:g}s"))
            continue
        if key in done:
            flow.runs, flow.history_complete = done[key]
        created = ("created", flow.flow_id)
        if created in done:  # unknown on failure or timeout: judged as before, not pending
            flow.created_at = done[created]
        results.append(evaluate(flow, th, now, credentials))
    results.sort(key=lambda r: (r.flow_id is None, r.flow_id or 0, r.name))

    notes = [listing.problem] if listing.problem else []
    if not results and not notes:
        notes.append("no flows matched the selection")
    duration = deadline.elapsed()
    summary = summarize(results, started_at, duration, api.calls, incomplete=bool(listing.problem))
    if notes:  # an incomplete listing or an empty selection cannot be reported as fine
        overall = worst([summary["exit_code"], UNKNOWN]) if results else UNKNOWN
        summary["state"], summary["exit_code"] = STATE_NAMES[overall], overall
    report = Report(results, summary, notes, now)
    if creds is not None:
        from .credentials import credential_counts, judge_credentials

        report.credentials = judge_credentials(
            api, usage, listing.credentials, creds, probe=selection.probe_credentials,
            done=done, failed=failed, deadline=deadline, concurrency=selection.concurrency,
            now=now)
        summary["credentials"] = credential_counts(report.credentials)
        # Only credentials that flows meant to run use: a paused flow's is reported, not counted.
        overall = worst([summary["exit_code"], *(c.state for c in report.credentials if c.counted)])
        summary["state"], summary["exit_code"] = STATE_NAMES[overall], overall
        summary["api_calls"] = api.calls
        summary["duration_seconds"] = round(deadline.elapsed(), 3)
    ctx.progress_done()
    return report


def run_checks(ctx, deadline: Deadline, defaults: Thresholds, targets=None,
               selection: Selection | None = None, *, flows: bool = True,
               deployment_files: list | None = None) -> Report:
    """check_flows (unless flows=False: only deployments were asked for), then each of
    `deployment_files` for drift (deployments.check_deployments) in what is left of the
    budget; the overall state is the worst of both."""
    selection = selection or Selection()
    started_at = datetime.now(timezone.utc)
    if flows:
        report = check_flows(ctx, deadline, defaults, targets, selection)
    else:
        report = Report([], summarize([], started_at, 0.0, 0, incomplete=False), [], started_at)
    if deployment_files is None:
        return report
    from .deployments import check_deployments, deployment_counts

    report.deployments = check_deployments(ctx, deployment_files, deadline, selection.concurrency)
    summary = report.summary
    summary["deployments"] = deployment_counts(report.deployments)
    states = [r.state for r in report.deployments] + ([summary["exit_code"]] if flows else [])
    overall = worst(states)
    summary["state"], summary["exit_code"] = STATE_NAMES[overall], overall
    summary["duration_seconds"] = round(deadline.elapsed(), 3)
    return report
