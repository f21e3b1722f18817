"""One endpoint's result: call it, compare, decide the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from nexla_ops.errors import AuthError, NotFound, OpsError, Transient

from . import compare
from .catalogue import Endpoint
from .discovery import fill, needed
from .loader import schema_for
from .sdkcheck import sdk_errors

OK, NOT_FOUND, SDK_REJECTS, REFUSED = "ok", "not found", "sdk rejects", "refused"
# verdicts that are not a difference: nothing to test with
NO_ID = "not found (no id to test with)"


@dataclass
class Result:
    endpoint: Endpoint
    verdict: str = OK
    status: int | None = None
    findings: list = field(default_factory=list)
    sdk: list = field(default_factory=list)
    body: object = None  # kept in memory for --record; never printed

    @property
    def differs(self) -> bool:
        return self.verdict not in (OK, NO_ID)

    def as_json(self) -> dict:
        return {"endpoint": self.endpoint.name, "reference": self.endpoint.key,
                "used_by": self.endpoint.used_by, "verdict": self.verdict,
                "status": self.status,
                "findings": [f.as_json() for f in self.findings],
                "sdk_model": (self.endpoint.sdk_model or "").removeprefix("nexla_sdk.models.")
                or None, "sdk_errors": self.sdk}


def check_endpoint(ctx, endpoint: Endpoint, ids: dict) -> Result:
    result = Result(endpoint)
    missing = [name for name in needed(endpoint.path, *endpoint.params.values())
               if name not in ids]
    if missing:
        result.verdict = NO_ID
        return result
    path = endpoint.path.format(**ids)
    params = {name: fill(value, ids) for name, value in endpoint.params.items()}
    try:
        body = ctx.request("GET", path, params=params or None, what=endpoint.name)
    except NotFound:
        result.verdict, result.status = NOT_FOUND, 404
        return result
    except AuthError as exc:
        if exc.status != 403:  # the key itself: stop the run (exit 4)
            raise
        result.verdict, result.status = REFUSED, 403
        return result
    except Transient:
        raise
    except OpsError as exc:  # another 4xx or a body that is not JSON
        result.verdict, result.status = REFUSED, exc.status
        return result
    result.status, result.body = 200, body
    result.findings = compare.check(schema_for(endpoint.key), body, endpoint.optional)
    result.sdk = sdk_errors(endpoint.sdk_model, body)
    if result.findings:
        result.verdict = result.findings[0].kind
    elif result.sdk:
        result.verdict = SDK_REJECTS
    return result
