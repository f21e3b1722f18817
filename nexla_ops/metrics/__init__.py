"""Flow metrics: daily records, bytes and errors of a flow, a resource, a user or the org; run
summaries (duration p50/p95, throughput, success rate); SLA attainment per day; and the outputs
(text, JSON, CSV, a PNG chart, a self-contained HTML report).

    window    the UTC days a report covers (--from/--to)
    fetch     every API call (GETs only, within one time budget: retries and redaction apply)
    daily     per-day totals from the daily metrics and account metrics endpoints
    runs      runs from run summaries, and their statistics
    sla       the SLA file and per-day attainment
    collect   one report document from the above
    outputs   text, JSON and CSV; binary files (the chart) written like --output
    chart     the PNG (matplotlib, imported only when drawing)
    report    the HTML page
"""
