"""The GitHub workflows: lint clean (zizmor, JSON schema) and shaped as the publishing policy says.

What only GitHub can verify (the deploy itself, the cache, Pages permissions) is listed in
the README's publishing section.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PUBLISH = WORKFLOWS / "publish.yml"
RECORD = WORKFLOWS / "record.yml"
CI = WORKFLOWS / "ci.yml"
ALL_WORKFLOWS = (PUBLISH, RECORD, CI)
PIN_RE = re.compile(
    r"^\s*(?:-\s*)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)"
    r"(?P<comment>\s+#\s*(?P<ver>v\d+(\.\d+)*))?\s*$"
)


def tool(name: str) -> str:
    """Path of a linter installed with the test extra (next to this Python first)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; CI installs it with the test extra (pip install -e '.[test]')")
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_zizmor_has_no_findings() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", *map(str, ALL_WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_workflows_match_the_github_schema() -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, ALL_WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    uses = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s*)?uses:", line)]
    assert uses
    for line in uses:
        m = PIN_RE.match(line)
        assert m, f"{path.name}: cannot read {line.strip()!r}"
        assert re.fullmatch(r"[0-9a-f]{40}", m["ref"]), f"{path.name}: {m['action']} is not pinned by SHA"
        assert m["ver"], f"{path.name}: {m['action']}@{m['ref'][:8]} has no '# vX.Y.Z' comment"


def test_same_action_same_pin_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in ALL_WORKFLOWS:
        for line in path.read_text().splitlines():
            m = PIN_RE.match(line)
            if m:
                repo = "/".join(m["action"].split("/")[:2])
                pins.setdefault(repo, set()).add(m["ref"])
    assert all(len(refs) == 1 for refs in pins.values()), pins


def test_publish_schedule_and_triggers() -> None:
    wf = load(PUBLISH)
    crons = [s["cron"] for s in wf["on"]["schedule"]]
    assert "17 * * * *" in crons
    assert "workflow_dispatch" in wf["on"]
    # a publishing workflow with caches must not run for untrusted pull requests
    assert not any(k.startswith("pull_request") for k in wf["on"])
    assert wf["concurrency"] == {"group": "pages", "cancel-in-progress": False}


def test_least_privilege_permissions() -> None:
    wf = load(PUBLISH)
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read", "pages": "read"}
    assert jobs["fetch"]["permissions"] == {"contents": "read", "pages": "read"}
    assert jobs["shard"]["permissions"] == {"contents": "read"}
    assert jobs["assemble"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["keepalive"]["permissions"] == {"contents": "write"}
    record = load(RECORD)
    assert record["permissions"] == {}
    assert record["jobs"]["record"]["permissions"] == {"contents": "read"}
    ci = load(CI)
    assert ci["permissions"] == {}
    assert ci["jobs"]["test"]["permissions"] == {"contents": "read"}


def _steps(job: dict) -> dict[str, dict]:
    return {s.get("name", s.get("uses", "")): s for s in job["steps"]}


def test_build_job_builds_checks_and_uploads_in_order() -> None:
    build = load(PUBLISH)["jobs"]["build"]
    order = [s.get("run", s.get("uses", "")) for s in build["steps"]]
    text = "\n".join(order)
    assert re.search(r"python -m pip install --no-deps --no-build-isolation --no-index \.$", text, re.M)
    idx = {
        key: next(i for i, s in enumerate(order) if key in s)
        for key in ("cache/restore", "liqmap build --out site", "liqmap check site",
                    "cache/save", "upload-pages-artifact")
    }
    assert idx["cache/restore"] < idx["liqmap build --out site"] < idx["liqmap check site"]
    assert idx["liqmap check site"] < idx["upload-pages-artifact"]
    assert build["steps"][1]["with"]["python-version"] == "3.12"


def _caches(job: dict, kind: str) -> dict[str, dict]:
    """{path: with} of the job's cache steps of ``kind`` (restore or save)."""
    return {s["with"]["path"]: s["with"] for s in job["steps"] if f"cache/{kind}" in s.get("uses", "")}


def test_store_cache_unique_key_restore_by_prefix() -> None:
    jobs = {**load(PUBLISH)["jobs"], "record": load(RECORD)["jobs"]["record"]}
    saved: dict[str, str] = {}
    for name, job in jobs.items():
        for path, w in _caches(job, "save").items():
            assert w["key"].endswith("-${{ github.run_id }}"), (name, path)  # immutable: one per run
            saved.setdefault(path, w["key"])
            assert saved[path] == w["key"], (name, path)  # one key per folder, in every job
        for path, w in _caches(job, "restore").items():
            if name != "keepalive":  # keepalive restores exactly this run's site
                assert w["key"].startswith(w["restore-keys"]), (name, path)
    assert set(saved) == {".liqmap", "site", ".liqmap-record"}  # the SQLite store (config state_dir)
    # the publish jobs read the recording the record workflow saves
    for name in ("build", "fetch"):
        rec = _caches(jobs[name], "restore")[".liqmap-record"]
        assert rec["restore-keys"] == saved[".liqmap-record"].removesuffix("${{ github.run_id }}")


def test_proxy_comes_from_a_secret_via_env_only() -> None:
    publish, record = load(PUBLISH)["jobs"], load(RECORD)["jobs"]
    users = {("build", "Build"), ("fetch", "Fetch")}
    for job, step in users:
        assert _steps(publish[job])[step]["env"]["LIQMAP_PROXY"] == "${{ secrets.LIQMAP_PROXY }}"
    assert _steps(record["record"])["Record realised liquidations"]["env"]["LIQMAP_PROXY"] == (
        "${{ secrets.LIQMAP_PROXY }}"
    )
    assert PUBLISH.read_text().count("secrets.") == 2 and RECORD.read_text().count("secrets.") == 1
    # an environment secret: only the jobs running in that environment can read it, and only
    # those that talk to the exchanges run there (shards build --offline)
    assert {n for n, j in publish.items() if j.get("environment") == "exchange-proxy"} == {"build", "fetch"}
    assert record["record"]["environment"] == "exchange-proxy"
    for path in (PUBLISH, RECORD):
        for job in load(path)["jobs"].values():
            for step in job["steps"]:
                run = step.get("run", "")
                # expressions never land inside shell code (template injection)
                assert "${{" not in run, step
                # nothing prints the environment or traces commands with their arguments
                assert not re.search(r"set -[a-z]*x|\benv\b\s*$|printenv|LIQMAP_PROXY", run, re.M), step


def test_deploy_only_after_a_successful_build() -> None:
    jobs = load(PUBLISH)["jobs"]
    assert jobs["deploy"]["needs"] == ["build", "assemble"]
    # one of the two ways (one job, or shards + assemble) ran and succeeded
    assert jobs["deploy"]["if"] == (
        "${{ !cancelled() && (needs.build.result == 'success' || needs.assemble.result == 'success') }}"
    )
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    assert "deploy-pages" in jobs["deploy"]["steps"][0]["uses"]


def test_weekly_keepalive_commit() -> None:
    wf = load(PUBLISH)
    keep = wf["jobs"]["keepalive"]
    weekly = [s["cron"] for s in wf["on"]["schedule"] if s["cron"] != "17 * * * *"]
    assert weekly and weekly[0].split()[4] != "*"  # runs on one weekday
    assert f"github.event.schedule == '{weekly[0]}'" in keep["if"]
    assert "needs.build.result == 'success' || needs.assemble.result == 'success'" in keep["if"]
    run = keep["steps"][-1]["run"]
    assert "git commit" in run and "git" in run and "push origin" in run


def test_ci_runs_tests_and_lint_on_push_and_pr() -> None:
    wf = load(CI)
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["test"]["steps"])
    assert "bash .ci/run" in runs
    assert "ruff check" in runs
    assert "zizmor --offline" in runs
    assert (ROOT / ".ci" / "run").is_file()


# -- issue 11 item 4: hash-locked install, auditor persona clean ---------------------------

LOCK = ROOT / "requirements" / "publish.txt"
LOCK_COMMAND = (
    "uv pip compile pyproject.toml requirements/build.in --generate-hashes --python-version 3.12 "
    "--python-platform x86_64-unknown-linux-gnu -o requirements/publish.txt"
)


def test_zizmor_auditor_persona_has_no_findings() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--persona=auditor", str(PUBLISH), str(CI)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def _lock() -> dict[str, tuple[str, list[str]]]:
    """{name: (version, hashes)} from the lock file."""
    out: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        m = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", block)
        if m:
            out[m[1].lower().replace("_", "-")] = (m[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_publish_installs_only_from_the_hash_locked_file() -> None:
    for path in (PUBLISH, RECORD):
        installing = 0
        for name, job in load(path)["jobs"].items():
            if not any("liqmap" in s.get("run", "") for s in job["steps"]):
                continue
            install = _steps(job)["Install liqmap"]["run"].strip().splitlines()
            assert install == [
                "python -m pip install --require-hashes --only-binary=:all: -r requirements/publish.txt",
                "python -m pip install --no-deps --no-build-isolation --no-index .",
            ], name
            installing += 1
        assert path.read_text().count("pip install") == 2 * installing


def test_lock_pins_every_dependency_with_hashes() -> None:
    import tomllib

    from packaging.requirements import Requirement

    lock = _lock()
    assert lock and all(hashes for _, hashes in lock.values()), "every pin needs --hash"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", v) for v, _ in lock.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for spec in wanted:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in lock, f"{name} is missing from {LOCK.name}: regenerate it ({LOCK_COMMAND})"
        assert req.specifier.contains(lock[name][0], prereleases=True), (
            f"{name}=={lock[name][0]} no longer satisfies {spec!r}: regenerate {LOCK.name}"
        )


def test_the_regenerate_command_is_documented_and_is_the_one_used() -> None:
    assert LOCK_COMMAND in LOCK.read_text().splitlines()[1]
    assert LOCK_COMMAND in (ROOT / "README.md").read_text()


# -- issue 14 item 7: the hourly time budget, recording apart, the shard switch -----------


def test_publish_jobs_fit_the_hourly_budget_and_recording_runs_apart() -> None:
    publish = load(PUBLISH)
    for name, job in publish["jobs"].items():
        assert job["timeout-minutes"] <= 15, name  # fetch + build, no recording
    assert "liqmap record --for" not in PUBLISH.read_text()
    record = load(RECORD)
    assert record["concurrency"] == {"group": "record", "cancel-in-progress": False}
    assert [s["cron"] for s in record["on"]["schedule"]] and "workflow_dispatch" in record["on"]
    assert not any(k.startswith("pull_request") for k in record["on"])
    job = record["jobs"]["record"]
    run = _steps(job)["Record realised liquidations"]["run"]
    assert "liqmap record --for 55m --state .liqmap-record" in run
    assert 55 < job["timeout-minutes"] <= 70
    # the build job merges the newest recording before it builds
    order = [s.get("run", s.get("uses", "")) for s in publish["jobs"]["build"]["steps"]]
    imp = next(i for i, r in enumerate(order) if "liqmap record --import-from .liqmap-record" in r)
    assert imp < next(i for i, r in enumerate(order) if "liqmap build --out site" in r)


def test_shard_switch_runs_a_matrix_of_offline_builds_then_assembles() -> None:
    wf = load(PUBLISH)
    shards = wf["on"]["workflow_dispatch"]["inputs"]["shards"]
    assert shards["options"] == ["1", "2", "4"] and shards["default"] == "1"
    jobs = wf["jobs"]
    switch = "(inputs.shards || vars.LIQMAP_SHARDS || '1')"
    assert jobs["build"]["if"] == f"${{{{ {switch} == '1' }}}}"
    assert jobs["fetch"]["if"] == f"${{{{ {switch} != '1' }}}}"
    plan = _steps(jobs["fetch"])["Plan the shards"]["run"]
    for n, listed in (("2", "[1,2]"), ("4", "[1,2,3,4]"), ("3", None)):
        proc = subprocess.run(["bash", "-c", plan], env={"SHARDS": n, "GITHUB_OUTPUT": "/dev/stdout",
                                                          "PATH": os.environ["PATH"]},
                              capture_output=True, text=True)
        assert (proc.stdout.strip() == f"list={listed}") if listed else proc.returncode != 0, (n, proc)
    assert jobs["fetch"]["outputs"]["shards"] == "${{ steps.shards.outputs.list }}"
    assert _steps(jobs["fetch"])["Fetch"]["run"] == "liqmap fetch"
    shard = jobs["shard"]
    assert shard["needs"] == "fetch"
    assert shard["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.fetch.outputs.shards) }}"
    build = _steps(shard)["Build the shard"]
    assert build["run"].startswith('liqmap build --shard "${SHARD}/${SHARDS}" --offline --out "part-${SHARD}"')
    assert "secrets." not in str(shard) and "environment" not in shard
    assemble = jobs["assemble"]
    assert assemble["needs"] == "shard"
    runs = [s.get("run", s.get("uses", "")) for s in assemble["steps"]]
    a = next(i for i, r in enumerate(runs) if r.startswith("liqmap assemble parts/part-* --out site"))
    c = runs.index("liqmap check site")
    u = next(i for i, r in enumerate(runs) if "upload-pages-artifact" in r)
    assert a < c < u
