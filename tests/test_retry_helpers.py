"""retry_helpers: decorator and call helper on the SDK, the circuit breaker, the re-run CLI."""

from __future__ import annotations

import json
import re
import sys

import pytest

import nexla_ops
from nexla_ops import resilience
from nexla_ops.commands import retry_helpers
from test_retry import SOURCE, hits


@pytest.fixture
def client(sandbox):
    client = resilience.make_client(sandbox.service_key, api_url=sandbox.url)
    client.sources.get(123)  # session token fetched before the counted calls
    sandbox.control.clear_requests()
    return client


def test_make_client_turns_sdk_retries_off(client, sandbox):
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=503,
                              times=100)
    with pytest.raises(Exception):  # noqa: B017 - the raw SDK error, whatever its class
        client.sources.get(123)
    assert len(hits(sandbox, SOURCE)) == 1


def test_decorator_uses_the_policy(client, sandbox):
    @resilience.with_retries(attempts=3, max_wait=0.05)
    def get_source(source_id):
        return client.sources.get(source_id)

    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=503,
                              times=2)
    assert get_source(123).id == 123
    assert len(hits(sandbox, SOURCE)) == 3
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=503,
                              times=100)
    sandbox.control.clear_requests()
    with pytest.raises(nexla_ops.Transient):
        get_source(123)
    assert len(hits(sandbox, SOURCE)) == 3


def test_call_helper_passes_non_transient_errors_through(client, sandbox):
    from nexla_sdk.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        resilience.call_with_retries(client.sources.get, 999999, max_wait=0.05)
    assert len(hits(sandbox, "/data_sources/999999")) == 1


def test_circuit_breaker_opens_half_opens_and_closes(client, sandbox):
    now = [0.0]
    breaker = resilience.CircuitBreaker(failure_threshold=3, cooldown=10, clock=lambda: now[0])

    def get_source():
        return resilience.call_with_retries(client.sources.get, 123, attempts=1,
                                               breaker=breaker)

    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=503,
                              times=100)
    for _ in range(3):
        assert breaker.state == "closed"
        with pytest.raises(nexla_ops.Transient):
            get_source()
    assert breaker.state == "open"
    sent = len(hits(sandbox, SOURCE))
    with pytest.raises(resilience.CircuitOpen) as err:
        get_source()
    assert "open" in err.value.message and err.value.exit_code == nexla_ops.EXIT_TRANSIENT
    assert len(hits(sandbox, SOURCE)) == sent  # failed fast: nothing sent

    now[0] = 10.0
    assert breaker.state == "half_open"
    with pytest.raises(nexla_ops.Transient):
        get_source()  # the trial call fails: open again for another cooldown
    assert breaker.state == "open"
    assert len(hits(sandbox, SOURCE)) == sent + 1

    now[0] = 20.0
    sandbox.control.clear_faults()
    assert breaker.state == "half_open"
    assert get_source().id == 123
    assert breaker.state == "closed"


def test_circuit_breaker_ignores_non_transient_errors(client):
    breaker = resilience.CircuitBreaker(failure_threshold=1, cooldown=60)
    from nexla_sdk.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        breaker.call(client.sources.get, 999999)
    assert breaker.state == "closed"


# -- CLI -------------------------------------------------------------------------------------

FLAKY = ("import pathlib, sys; p = pathlib.Path('runs'); n = len(p.read_text()) "
         "if p.exists() else 0; p.write_text('x' * (n + 1)); "
         "sys.exit(int(sys.argv[1]) if n + 1 < int(sys.argv[2]) else int(sys.argv[3]))")


@pytest.mark.parametrize("fail_code,succeed_on,final,attempts,runs,code", [
    (6, 3, 0, 5, 3, 0),  # transient twice, then fine
    (6, 99, 0, 3, 3, 6),  # still transient after 3 runs
    (4, 99, 0, 5, 1, 4),  # not transient: returned at once
])
def test_cli_reruns_while_transient(run_script, script_cwd, fail_code, succeed_on, final,
                                    attempts, runs, code):
    result = run_script("retry_helpers", "--attempts", attempts, "--max-wait", "0.05", "--",
                        sys.executable, "-c", FLAKY, fail_code, succeed_on, final,
                        sandbox=False)
    assert result.code == code, result.err
    assert len((script_cwd / "runs").read_text()) == runs
    assert result.err.count("exited 6 (transient); retrying") == runs - 1


def test_cli_describe(run_script):
    described = run_script("retry_helpers", "--describe", "--json", "--attempts", "7",
                           sandbox=False)
    assert described.code == 0
    policy = described.json()
    assert policy["attempts"] == 7 and policy["sdk_retries"].startswith("off")
    text = run_script("retry_helpers", "--describe", sandbox=False)
    assert text.code == 0 and "attempts: 5" in text.out


def test_cli_needs_a_command(run_script):
    result = run_script("retry_helpers", sandbox=False)
    assert result.code == 2 and "command" in result.err
    missing = run_script("retry_helpers", "--", "no-such-command-xyz", sandbox=False)
    assert missing.code == 2 and "no-such-command-xyz" in missing.err


def test_missing_command_error_suggests_a_command_the_help_endorses(run_script):
    result = run_script("retry_helpers", sandbox=False)
    assert result.code == 2
    suggested = re.search(r"-- (python scripts/[a-z_]+\.py)", result.err)
    assert suggested, result.err
    # health_check.py speaks Nagios (its 6 is not "transient"): the --help says not to wrap it
    assert "health_check" not in suggested.group(1)
    assert suggested.group(1) in retry_helpers.EXAMPLES.split("(health_check.py")[0]


def test_cli_describe_reads_environment(run_script):
    result = run_script("retry_helpers", "--describe", "--json",
                        env={"NEXLA_MAX_ATTEMPTS": "2", "NEXLA_MAX_WAIT": "1.5"}, sandbox=False)
    assert json.loads(result.out)["attempts"] == 2
    assert result.json()["max_wait_s"] == 1.5
