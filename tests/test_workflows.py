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
CI = WORKFLOWS / "ci.yml"
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
        [tool("zizmor"), "--offline", "--no-progress", str(PUBLISH), str(CI)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_workflows_match_the_github_schema() -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(PUBLISH), str(CI)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", [PUBLISH, CI], ids=lambda p: p.name)
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
    for path in (PUBLISH, CI):
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
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["keepalive"]["permissions"] == {"contents": "write"}
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


def test_store_cache_unique_key_restore_by_prefix() -> None:
    steps = _steps(load(PUBLISH)["jobs"]["build"])
    restore = next(s for s in steps.values() if "cache/restore" in s.get("uses", ""))
    save = next(s for s in steps.values() if "cache/save" in s.get("uses", ""))
    assert "${{ github.run_id }}" in restore["with"]["key"]
    assert restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert ".liqmap" in restore["with"]["path"].split()  # the SQLite store (config state_dir)
    assert restore["with"]["path"] == save["with"]["path"]


def test_proxy_comes_from_a_secret_via_env_only() -> None:
    text = PUBLISH.read_text()
    steps = _steps(load(PUBLISH)["jobs"]["build"])
    for name in ("Build", "Record realised liquidations"):
        assert steps[name]["env"]["LIQMAP_PROXY"] == "${{ secrets.LIQMAP_PROXY }}"
    assert text.count("secrets.") == 2
    # an environment secret: only the job running in that environment can read it
    assert load(PUBLISH)["jobs"]["build"]["environment"] == "exchange-proxy"
    # expressions never land inside shell code (template injection)
    for job in load(PUBLISH)["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step


def test_deploy_only_after_a_successful_build() -> None:
    jobs = load(PUBLISH)["jobs"]
    assert jobs["deploy"]["needs"] == "build"
    assert "if" not in jobs["deploy"]  # default: needs succeeded
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    assert "deploy-pages" in jobs["deploy"]["steps"][0]["uses"]


def test_weekly_keepalive_commit() -> None:
    wf = load(PUBLISH)
    keep = wf["jobs"]["keepalive"]
    weekly = [s["cron"] for s in wf["on"]["schedule"] if s["cron"] != "17 * * * *"]
    assert weekly and weekly[0].split()[4] != "*"  # runs on one weekday
    assert f"github.event.schedule == '{weekly[0]}'" in keep["if"]
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
    install = _steps(load(PUBLISH)["jobs"]["build"])["Install liqmap"]["run"].strip().splitlines()
    assert install == [
        "python -m pip install --require-hashes --only-binary=:all: -r requirements/publish.txt",
        "python -m pip install --no-deps --no-build-isolation --no-index .",
    ]
    text = PUBLISH.read_text()
    assert text.count("pip install") == 2


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
