"""The deploy fault matrix: a fault on every write of a full apply never leaves half a deployment.

A clean apply of FULL (credential, source, derived nexset, two destinations, activation) is
recorded first; its writes are FULL_WRITES. Then, for every write index k and each fault kind,
the sandbox is reset, the fault is set to hit exactly the k-th write (the same method and path
regex, skipping the earlier matches), and an apply runs. Afterwards the sandbox must hold either
the complete deployment or nothing new - no duplicate, no orphan - and a plain second apply must
converge to the complete deployment.
"""

from __future__ import annotations

import re

import pytest

from test_deploy_helpers import (
    FULL,
    FULL_WRITES,
    assert_complete_full,
    new_objects,
    shape,
    snapshot,
    writes,
)

FAULTS = {
    "status500": {"action": "status", "status": 500},
    "drop": {"action": "drop"},
    "commit_then_fail": {"action": "commit_then_fail", "fail_with": 502},
}

pytest_plugins = ["test_deploy_helpers"]  # the deploy fixture


_recorded: list[tuple[str, str]] = []


def _rule_for(k: int, recorded: list[tuple[str, str]]) -> dict:
    """A rule matching exactly the k-th recorded write: its method and path, skipping the
    earlier writes that the same rule would match."""
    method, path = recorded[k]
    pattern = "^" + re.sub(r"\\/\d+|/\d+", r"/\\d+", re.escape(path)) + "$"
    skip = sum(1 for m, p in recorded[:k] if m == method and re.search(pattern, p))
    rule = {"method": method, "path": pattern, "times": 1}
    if skip:
        rule["skip"] = skip
    return rule


def test_clean_apply_writes_exactly_the_expected_requests(deploy, sandbox):
    run = deploy(FULL)
    assert run.code == 0, run.err
    assert [(m, shape(p)) for m, p in writes(run)] == FULL_WRITES


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("k", range(len(FULL_WRITES)))
def test_fault_on_each_write_leaves_all_or_nothing(deploy, sandbox, k, fault):
    if not _recorded:  # a clean apply, recorded once (ids are deterministic after a reset)
        clean = deploy(FULL)
        assert clean.code == 0, clean.err
        assert [(m, shape(p)) for m, p in writes(clean)] == FULL_WRITES
        _recorded.extend(writes(clean))
        sandbox.control.reset("demo")
    recorded = _recorded

    before = snapshot(sandbox)
    spec = _rule_for(k, recorded)
    rule = sandbox.control.add_fault(**spec, **FAULTS[fault])
    assert rule.get("skip_remaining", 0) == spec.get("skip", 0), "the sandbox ignored `skip`"
    run = deploy(FULL)
    hits = {r["id"]: r for r in sandbox.control.faults()}[rule["id"]]["hits"]
    assert hits == 1, f"the fault never fired on write {k} {recorded[k]}"
    sandbox.control.clear_faults()

    new = new_objects(sandbox, before)
    if run.code == 0:
        assert run.json()["status"] == "applied"
        assert_complete_full(sandbox, before)
    else:
        assert run.code == 1, run.err
        assert run.json()["status"] == "rolled_back", run.json()
        assert run.json()["leftovers"] == []
        assert all(not objs for objs in new.values()), new

    again = deploy(FULL)
    assert again.code == 0, again.err
    assert_complete_full(sandbox, before)
    assert writes(deploy(FULL)) == []
