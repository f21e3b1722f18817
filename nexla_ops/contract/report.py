"""The report: a text table or one JSON document. Paths, field paths and types only."""

from __future__ import annotations

from collections import Counter

MAX_TEXT_FINDINGS = 8  # per endpoint in the table; --json has them all


def summary(results) -> dict:
    verdicts = Counter(r.verdict for r in results)
    return {"endpoints": len(results), "ok": verdicts.get("ok", 0),
            "differ": sum(r.differs for r in results),
            "verdicts": dict(sorted(verdicts.items()))}


def document(results) -> dict:
    return {"ok": not any(r.differs for r in results),
            "endpoints": [r.as_json() for r in results], "summary": summary(results)}


def text(results) -> str:
    width = max([len(r.endpoint.name) for r in results] + [8])
    lines = [f"{'endpoint'.ljust(width)}  verdict"]
    for r in results:
        lines.append(f"{r.endpoint.name.ljust(width)}  {r.verdict}"
                     + (f" (HTTP {r.status})" if r.status not in (None, 200) else ""))
        details = [f"{f.kind}: {f.field or '(body)'}: expected {f.expected}, got {f.got}"
                   for f in r.findings]
        details += [f"sdk rejects: {e['field'] or '(body)'}: {e['error']}" for e in r.sdk]
        for line in details[:MAX_TEXT_FINDINGS]:
            lines.append(f"{''.ljust(width)}    {line}")
        if len(details) > MAX_TEXT_FINDINGS:
            lines.append(f"{''.ljust(width)}    ... {len(details) - MAX_TEXT_FINDINGS} more "
                         "(--json lists them all)")
    s = summary(results)
    lines.append("")
    lines.append(f"{s['endpoints']} endpoints: {s['ok']} ok, {s['differ']} differ, "
                 f"{s['endpoints'] - s['ok'] - s['differ']} without an id to test with")
    return "\n".join(lines)
