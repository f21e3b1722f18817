"""examples/ci/github-actions.yml: its structure, then its plan and apply steps run verbatim by
bash against the sandbox over HTTP, with only the environment swapped (the sandbox's URL and
key for the repository secrets, this checkout for NEXLA_OPS_DIR, a file per step for the step
summary)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, _script_env

WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
DEPLOY_FLOW = '"$NEXLA_OPS_DIR/scripts/deploy_flow.py"'
# Short retries and timeouts: a hang fails the test instead of stalling it.
FAST_ENV = {"NEXLA_TIMEOUT": "5", "NEXLA_MAX_ATTEMPTS": "3", "NEXLA_MAX_WAIT": "0.05",
            "NEXLA_DEADLINE": "20"}
SECRET_REF = re.compile(r"^\$\{\{ secrets\.([A-Z0-9_]+) \}\}$")
RUN_STEPS = (("plan", "plan"), ("apply", "plan"), ("apply", "apply"))


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def step(workflow, job, step_id):
    (found,) = [s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id]
    return found


def invocations(script):
    """The argument lists of every deploy_flow call in a `run:` script (up to a redirection)."""
    calls = []
    for command in re.sub(r"\\\n\s*", "", script).splitlines():
        if DEPLOY_FLOW not in command:
            continue
        words = shlex.split(command.split(DEPLOY_FLOW, 1)[1])
        stop = next((i for i, w in enumerate(words) if w in {"|", "||", ">", "2>"}), len(words))
        calls.append(words[:stop])
    return calls


# -- structure ---------------------------------------------------------------------------------


def test_triggers_jobs_and_concurrency(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push"}
    assert on["push"] == {"branches": ["main"]}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["defaults"]["run"]["shell"] == "bash"
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert apply["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert apply["concurrency"]["group"].startswith("nexla-deploy-")
    assert "${{" not in apply["concurrency"]["group"]  # one group for every run, not per ref
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert plan["concurrency"]["cancel-in-progress"] is True
    for job in (plan, apply):
        assert isinstance(job["timeout-minutes"], int)
    # main plans, then applies; the apply step runs only after the plan step succeeded
    ids = [s.get("id") for s in apply["steps"] if s.get("id")]
    assert ids == ["plan", "apply"] and "if" not in step(workflow, "apply", "apply")


def test_actions_are_pinned_and_plans_uploaded(workflow):
    allowed = {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"}
    for name, job in workflow["jobs"].items():
        uses = [s["uses"] for s in job["steps"] if "uses" in s]
        assert set(uses) == allowed, name
        (upload,) = [s for s in job["steps"] if s.get("uses") == "actions/upload-artifact@v4"]
        assert upload["if"] == "always()"  # failed plans are worth reading too
        assert upload["with"]["path"] == "plans/"
        assert job["steps"][-1] is upload  # after every step that writes plans/
        installs = [s["run"] for s in job["steps"] if s.get("name") == "Install nexla-ops"]
        assert installs == ['python -m pip install "./$NEXLA_OPS_DIR"']
        tool = next(s for s in job["steps"] if s.get("with", {}).get("path") == ".nexla-ops")
        assert tool["uses"] == "actions/checkout@v4" and tool["with"]["ref"]
    assert workflow["env"]["NEXLA_OPS_DIR"] == ".nexla-ops"
    text = WORKFLOW.read_text().lower()
    assert "pypi" not in text and "pythonhosted" not in text


def test_secrets_reach_only_the_plan_and_apply_steps(workflow):
    names = set(re.findall(r"NEXLA_[A-Z_]+", (ROOT / "nexla_ops" / "config.py").read_text()))
    for job, step_id in RUN_STEPS:
        env = step(workflow, job, step_id)["env"]
        assert {"NEXLA_API_URL", "NEXLA_SERVICE_KEY"} <= set(env)
        for key, value in env.items():
            assert SECRET_REF.match(value).group(1) == key
            assert not key.startswith("NEXLA_") or key in names  # real setting names only
    for job in ("plan", "apply"):
        for other in workflow["jobs"][job]["steps"]:
            if (job, other.get("id")) not in RUN_STEPS:
                assert "secrets." not in json.dumps(other)
    # plans need no ${ENV:...} secret; only the step that applies gets one
    for job in ("plan", "apply"):
        assert set(step(workflow, job, "plan")["env"]) == {"NEXLA_API_URL", "NEXLA_SERVICE_KEY"}
    assert "ORDERS_PG_PASSWORD" in step(workflow, "apply", "apply")["env"]


def test_steps_run_the_documented_commands(workflow):
    scripts = {(job, sid): step(workflow, job, sid)["run"] for job, sid in RUN_STEPS}
    calls = {key: invocations(script) for key, script in scripts.items()}
    planned = ["--config-dir", "deployments", "--plan", "--detailed-exitcode", "--out", "plans",
               "--output", "plans/summary.json"]
    (pr_plan,) = calls["plan", "plan"]
    (main_plan,) = calls["apply", "plan"]
    assert sorted(main_plan) == sorted(planned)
    assert sorted(pr_plan) == sorted([*planned, "--keep-going"])  # the reviewer sees every file
    for args in (pr_plan, main_plan):
        assert args[args.index("--out") + 1] == "plans"
        assert args[args.index("--output") + 1] == "plans/summary.json"
    (applied,) = calls["apply", "apply"]
    assert applied[:2] == ["--apply", "$plan"] and "--keep-going" not in applied
    assert "--config-dir" not in applied and "--config" not in applied
    for script in scripts.values():
        assert "${{" not in script  # everything arrives through env: no expression injection
        assert "$GITHUB_STEP_SUMMARY" in script and "```" in script  # tables in a code fence
        assert "for file in" not in script  # deploy_flow walks the directory itself
        for word in ("--adopt", "--prune", "--destroy", "--yes", "--allow-replace"):
            assert word not in script
    assert "plans/summary.json" in scripts["apply", "apply"]  # picks the pending plans from it


# -- the steps, run against the sandbox --------------------------------------------------------


def run_step(workflow, job, step_id, repo, sandbox, summary, env=None):
    """Run one step's `run:` text, unchanged, the way the runner does (bash -eo pipefail)."""
    script = repo.parent / f"{job}-{step_id}.sh"
    script.write_text(step(workflow, job, step_id)["run"])
    env = _script_env(sandbox, {
        **FAST_ENV,
        **(env or {}),
        "NEXLA_OPS_DIR": str(ROOT),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    })
    summary.write_text("")
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=75)
    return proc.returncode, proc.stdout + proc.stderr, summary.read_text()


def run_job(workflow, job, repo, sandbox, tmp_path, env=None):
    """The job's `run:` steps with ids, in order, up to the first that fails (as the runner
    skips the rest); each step gets its own summary file. Returns (exit, log, summary, steps
    run)."""
    code, log, text, ran = 0, "", "", []
    for s in workflow["jobs"][job]["steps"]:
        if "id" not in s:
            continue
        code, out, part = run_step(workflow, job, s["id"], repo, sandbox,
                                   tmp_path / f"summary-{job}-{s['id']}.md", env=env)
        log, text = log + out, text + part
        ran.append(s["id"])
        if code:
            break
    return code, log, text, ran


def row(text, file):
    """The summary table's row of one file, as its columns."""
    (line,) = [x for x in text.splitlines() if x.startswith(file + " ")]
    return line.split()


def fenced(text):
    """The step summary's code-fenced blocks."""
    return re.findall(r"^```\n(.*?)^```$", text, flags=re.S | re.M)


def summary_json(repo):
    return json.loads((repo / "plans" / "summary.json").read_text())


@pytest.mark.slow
def test_pull_request_and_main_steps_against_the_sandbox(workflow, sandbox, sdk_client,
                                                         run_script, tmp_path):
    repo = tmp_path / "repo"
    deployments = repo / "deployments"
    deployments.mkdir(parents=True)
    summary = tmp_path / "step-summary.md"

    def sink_301():
        return next(s for s in sandbox.control.state("data_sinks") if s["id"] == 301)

    def pr():
        return run_step(workflow, "plan", "plan", repo, sandbox, summary)

    # Onboarding, by hand: export flow 1001 and adopt it once. A second, new deployment
    # (minimal.json) is for the main job to create.
    exported = run_script("export_flow", "--flow-id", 1001, "--output",
                          deployments / "orders.yaml")
    assert exported.code == 0, exported.err
    adopted = run_script("deploy_flow", "--config", deployments / "orders.yaml", "--adopt")
    assert adopted.code == 0, adopted.err
    shutil.copy(ROOT / "examples" / "deploy" / "minimal.json", deployments / "minimal.json")

    # A pull request adding minimal.json: its creation is pending (8), which passes the check.
    code, out, text = pr()
    assert code == 0, out
    (table,) = fenced(text)
    assert table.splitlines()[0].split() == ["file", "deployment", "status", "changes", "exit"]
    assert row(table, "orders.yaml")[-3:] == ["in", "sync", "0"]
    assert row(table, "minimal.json")[-3:] == ["3", "pending", "8"]
    assert "::notice file=deployments/minimal.json::changes pending" in out
    assert "- `deployments/minimal.json`: create data_sources `orders-daily-s3`" in text
    doc = summary_json(repo)
    assert (doc["ok"], doc["exit_code"], doc["files"], doc["run"]) == (True, 8, 2, 2)
    for name in ("orders", "minimal"):
        saved = json.loads((repo / "plans" / f"{name}.plan.json").read_text())
        assert saved["format"] == "nexla-ops saved plan" and saved["api_url"] == sandbox.url
    assert not any(s["name"] == "orders-daily-s3" for s in sandbox.control.state("data_sources"))

    # Merged: main plans again and applies minimal's saved plan only; orders is left alone.
    before = len(sandbox.control.requests())
    code, out, text, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (0, ["plan", "apply"]), out
    assert row(fenced(text)[0], "minimal.json")[-1] == "8"
    assert "`deployments/minimal.json`: exit 0" in text
    assert "`deployments/orders.yaml`" not in text  # in sync: not applied, not in the log
    assert "applied (2 create, 1 activate)" in fenced(text)[1]
    applied = json.loads((repo / "plans" / "minimal.applied.json").read_text())
    assert applied["status"] == "applied"
    assert not (repo / "plans" / "orders.applied.json").exists()
    assert any(s["name"] == "orders-daily-s3" for s in sandbox.control.state("data_sources"))
    touched = {e["path"] for e in sandbox.control.requests()[before:] if e["method"] != "GET"}
    assert touched and not any(p.startswith(("/data_sinks/301", "/flows/1001")) for p in touched)

    # The next pull request: everything in sync, every plan saved.
    code, out, text = pr()
    assert code == 0, out
    assert "2 deployment(s): 2 planned; exit 0" in text and "pending" not in text
    assert sorted(p.name for p in (repo / "plans").glob("*.plan.json")) == [
        "minimal.plan.json", "orders.plan.json"]

    # Someone renames the destination in the UI: drift, reported (8) and still a passing check.
    sdk_client.request("PUT", "/data_sinks/301", json={"name": "orders-wh-renamed"})
    code, out, text = pr()
    assert code == 0, out
    assert row(text, "orders.yaml")[-3:] == ["1", "pending", "8"]
    assert row(text, "minimal.json")[-3:] == ["in", "sync", "0"]
    assert "- `deployments/orders.yaml`: update data_sinks `orders-warehouse`: name" in text
    (orders,) = [d for d in summary_json(repo)["deployments"] if d["file"].endswith("orders.yaml")]
    (entry,) = [d for d in orders["drift"] if d["field"] == "name"]
    assert entry["live"] == "orders-wh-renamed" and entry["config"] == "orders-warehouse"
    assert sink_301()["name"] == "orders-wh-renamed"  # a plan writes nothing

    # A broken file fails the check with exit 2 before anything is sent or planned.
    (deployments / "broken.json").write_text('{"name": "broken", "source": {}}')
    before = len(sandbox.control.requests())
    code, out, text = pr()
    assert code == 1, out
    assert "::error::deploy_flow --config-dir deployments --plan exited 2" in out
    assert "deployments/broken.json: source.source_type: required field is missing" in text
    assert "nothing was sent" in text
    assert sandbox.control.requests()[before:] == []
    assert list((repo / "plans").glob("*.plan.json")) == []
    assert not (repo / "plans" / "summary.json").exists()
    # the main job, too, applies nothing with it in the directory
    code, out, text, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (1, ["plan"]), out
    assert "nothing applied" in out and sink_301()["name"] == "orders-wh-renamed"
    (deployments / "broken.json").unlink()

    # Main applies the file again: the rename is reverted, and the org converges.
    code, out, text, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (0, ["plan", "apply"]), out
    assert "`deployments/orders.yaml`: exit 0" in text
    assert "`deployments/minimal.json`" not in text
    assert sink_301()["name"] == "orders-warehouse"
    code, out, text = pr()
    assert code == 0, out
    assert "2 deployment(s): 2 planned; exit 0" in text and "pending" not in text
    again = run_script("deploy_flow", "--config", deployments / "orders.yaml", "--plan",
                       "--detailed-exitcode")
    assert again.code == 0, again.out
    # with nothing pending, main applies nothing
    before = len(sandbox.control.requests())
    code, out, text, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (0, ["plan", "apply"]), out
    assert "nothing to apply" in out and "exit 0" not in text.split("### Nexla apply")[1]
    writes = {e["path"] for e in sandbox.control.requests()[before:] if e["method"] != "GET"}
    assert writes <= {"/token"}  # signing in, then only reads


@pytest.mark.slow
def test_main_job_stops_at_the_first_failed_apply(workflow, sandbox, tmp_path):
    """A pending change whose apply fails (rolled back) fails the job, names the file, and
    leaves the later pending plans unapplied."""
    repo = tmp_path / "repo"
    deployments = repo / "deployments"
    deployments.mkdir(parents=True)
    minimal = json.loads((ROOT / "examples" / "deploy" / "minimal.json").read_text())
    (deployments / "a-orders.json").write_text(json.dumps(minimal))
    minimal["source"]["name"] = "later-s3"
    minimal["destination"]["name"] = "later-warehouse"
    (deployments / "b-later.json").write_text(json.dumps(minimal))
    sandbox.control.add_fault(method="POST", path="^/data_sinks$", action="status", status=500,
                              times=20)
    code, out, text, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (1, ["plan", "apply"]), out
    assert "::error file=deployments/a-orders.json::deploy_flow --apply exited" in out
    assert json.loads((repo / "plans" / "a-orders.applied.json").read_text())["ok"] is False
    assert not (repo / "plans" / "b-later.applied.json").exists()
    assert "`deployments/b-later.json`" not in text
    sources = {s["name"] for s in sandbox.control.state("data_sources")}
    # rolled back: the source it created is gone again; the later one was never created
    assert "orders-daily-s3" not in sources and "later-s3" not in sources


def test_plan_step_without_secrets_fails(workflow, tmp_path):
    """A fork's pull request gets empty secrets: the check fails (exit 3), it does not pass."""
    repo = tmp_path / "repo"
    deployments = repo / "deployments"
    deployments.mkdir(parents=True)
    minimal = json.loads((ROOT / "examples" / "deploy" / "minimal.json").read_text())
    (deployments / "minimal.json").write_text(json.dumps(minimal))
    minimal["source"]["name"] = "later-s3"
    (deployments / "z-later.json").write_text(json.dumps(minimal))
    empty = {"NEXLA_API_URL": "http://127.0.0.1:9/nexla-api", "NEXLA_SERVICE_KEY": ""}
    code, out, text = run_step(workflow, "plan", "plan", repo, None, tmp_path / "summary.md",
                               env=empty)
    assert code == 1, out
    assert "::error::deploy_flow --config-dir deployments --plan exited 3" in out
    assert "no credentials" in text
    # --keep-going: the file after the failed one is planned (and fails) too, not "not run"
    for file in ("minimal.json", "z-later.json"):
        assert f"::error file=deployments/{file}::deploy_flow --plan exited 3" in out
        cells = row(text, file)
        assert (cells[2], cells[-1]) == ("failed", "3"), cells
    assert list((repo / "plans").glob("*.plan.json")) == []


@pytest.mark.slow
def test_two_files_with_one_stem_fail_the_check_and_apply_nothing(workflow, sandbox, tmp_path):
    """orders.json and orders.yaml (two deployments) would share plans/orders.plan.json:
    deploy_flow refuses the directory before sending anything, and main applies nothing."""
    repo = tmp_path / "repo"
    deployments = repo / "deployments"
    deployments.mkdir(parents=True)
    minimal = json.loads((ROOT / "examples" / "deploy" / "minimal.json").read_text())
    (deployments / "orders.json").write_text(json.dumps(minimal))
    minimal["source"]["name"] = "other-s3"
    (deployments / "orders.yaml").write_text(yaml.safe_dump(minimal))
    before = len(sandbox.control.requests())
    code, out, _ = run_step(workflow, "plan", "plan", repo, sandbox, tmp_path / "summary.md")
    assert code == 1, out
    assert "exited 2" in out and "its saved plan would be orders.plan.json" in out
    assert sandbox.control.requests()[before:] == []  # refused before anything was sent
    code, out, _, ran = run_job(workflow, "apply", repo, sandbox, tmp_path)
    assert (code, ran) == (1, ["plan"]), out  # the plan step fails: apply never runs
    assert not list((repo / "plans").glob("*.applied.json"))
