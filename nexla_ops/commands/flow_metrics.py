"""Daily records, bytes and errors of a flow, a resource, a user or the org, with run
statistics (duration p50/p95, throughput, success rate) and SLA attainment per day.

Figures come from Nexla's metrics endpoints: a resource's daily metrics, its flow's run
summaries, the account metrics of an org or a user, and the dashboard. A flow's records read
are its source's, its records written and errors its destinations'. Days are UTC days. Only
GETs are sent.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag

EXAMPLES = """examples:
  # the last 30 days of flow 1001, as a table
  python scripts/flow_metrics.py --flow 1001

  # one destination in May, as CSV
  python scripts/flow_metrics.py --resource-type data_sinks --resource-id 301 \\
      --from 2024-05-01 --to 2024-05-31 --csv --output may.csv

  # SLA attainment with a chart and an HTML report
  python scripts/flow_metrics.py --flow 1001 --sla sla.yaml --chart flow.png --html flow.html

  # the whole org (the caller's), as JSON
  python scripts/flow_metrics.py --org --json

SLA file (JSON or YAML): {"defaults": {"freshness": "8h", "success_rate": 0.95,
  "duration_p95": "2m"}, "flows": [{"id": 1001, "freshness": "4h"}]}
  freshness: the longest gap without a new successful run completion during a day (counted
  from the last success before the day, to the day's end or now); success_rate: successes /
  finished runs of the day; duration_p95: the day's nearest-rank p95 run duration. A day is met
  when every target judged that day is; attainment = days met / days evaluated.

exit codes: 0 report written (whatever the SLA verdicts); 2 bad input (nothing sent);
  3 configuration (or matplotlib missing for --chart/--html); 4 auth; 5 unknown flow,
  resource, user or org; 6 transient
"""

RESOURCE_TYPES = ("data_sources", "data_sets", "data_sinks")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    from nexla_ops.metrics.window import date_flag

    parser = argparse.ArgumentParser(
        prog=prog or "flow_metrics.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pick = parser.add_argument_group("what to report on (exactly one)")
    pick.add_argument("--flow", type=id_flag, metavar="ID", help="a flow (any node id of it)")
    pick.add_argument("--resource-type", choices=RESOURCE_TYPES,
                      help="with --resource-id: one source, nexset or destination")
    pick.add_argument("--resource-id", type=id_flag, metavar="ID")
    pick.add_argument("--org", type=id_flag, nargs="?", const=0, metavar="ID",
                      help="the whole org (default: yours), from its account metrics")
    pick.add_argument("--user", type=id_flag, nargs="?", const=0, metavar="ID",
                      help="a user's flows (default: you), from the account metrics")
    when = parser.add_argument_group("window (UTC days, both included)")
    when.add_argument("--from", dest="first", type=date_flag, metavar="YYYY-MM-DD",
                      help="first day (default: 29 days before --to)")
    when.add_argument("--to", dest="last", type=date_flag, metavar="YYYY-MM-DD",
                      help="last day (default: today)")
    parser.add_argument("--sla", metavar="FILE", help="SLA targets (JSON or YAML; see below)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("text", "json", "csv"),
                     help="stdout/--output format (default text; --json and --csv are short "
                          "for it)")
    out.add_argument("--csv", action="store_true", help="one CSV row per day")
    out.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    out.add_argument("--chart", metavar="FILE.png",
                     help="a chart of records and errors per day and the SLA attainment "
                          "(.png, or .svg or .pdf by the name's ending)")
    out.add_argument("--html", metavar="FILE", help="a self-contained HTML report")
    nexla_ops.add_common_args(parser)
    return parser


def _check(args, parser: argparse.ArgumentParser) -> None:
    if (args.resource_type is None) != (args.resource_id is None):
        parser.error("--resource-type and --resource-id go together")
    chosen = [args.flow is not None, args.resource_id is not None, args.org is not None,
              args.user is not None]
    if sum(chosen) != 1:
        parser.error("choose exactly one of --flow, --resource-type/--resource-id, --org, "
                     "--user")
    formats = {f for f in (args.format, "json" if args.json else None,
                           "csv" if args.csv else None) if f}
    if len(formats) > 1:
        parser.error(f"--format: {' and '.join(sorted(formats))} asked for at once")
    args.format = formats.pop() if formats else "text"


def run(args, ctx) -> int:
    from nexla_ops.files import check_output_path, write_output
    from nexla_ops.metrics import chart, collect, outputs, report, sla, window

    span = window.build_window(args.first, args.last)
    if args.sla == "":
        raise nexla_ops.BadInput("--sla: expected a file path, got ''")
    config = sla.load_sla(args.sla) if args.sla is not None else None
    _distinct_files(args)
    check_output_path(args.output)
    outputs.check_file_flag(args.chart, "--chart")
    chart.image_format(args.chart)
    outputs.check_file_flag(args.html, "--html")
    if args.chart or args.html:
        chart.require_matplotlib()
    from nexla_ops.metrics.fetch import Reads

    doc = collect.collect(Reads(ctx, ctx.config.deadline), args, span, config)
    png = chart.render(doc) if args.html else None
    if args.chart:
        same = png is not None and chart.image_format(args.chart) == "png"
        write_output(args.chart, png if same else chart.render(doc, args.chart), "--chart")
        ctx.log(f"wrote the chart to {args.chart}")
    if args.html:
        write_output(args.html, report.render_html(doc, png), "--html")
        ctx.log(f"wrote the HTML report to {args.html}")
    ctx.progress_done()
    write_output(args.output, outputs.render(doc, args.format))
    if args.output not in (None, "-"):
        ctx.log(f"wrote the {args.format} report to {args.output}")
    return 0


def _distinct_files(args) -> None:
    """BadInput when two of --output, --chart, --html and --sla name one file: one would
    overwrite the other (or the SLA file itself)."""
    import os
    import stat

    seen: dict[str, str] = {}
    for flag, path in (("--sla", args.sla), ("--output", args.output), ("--chart", args.chart),
                       ("--html", args.html)):
        if path in (None, "", "-") or not os.path.exists(path) and flag == "--sla":
            continue
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            continue  # /dev/null twice is fine: devices and FIFOs are written in place
        real = os.path.realpath(path)
        if real in seen:
            raise nexla_ops.BadInput(f"{flag}: names the same file as {seen[real]} ({path})")
        seen[real] = flag


def main(argv=None, *, prog: str | None = None) -> int:
    parser = build_parser(prog)

    def checked_run(args, ctx):
        _check(args, parser)
        return run(args, ctx)

    return nexla_ops.main_wrapper(checked_run, parser, argv)
