"""Issue 11 item 16: offline, `liqmap build` is a short summary with the `--sample` hint.

Each command runs with the real exchange URLs two ways. In CI (marked slow) the machine is
really offline: the CLI in its own process in a fresh network namespace (``unshare -rn``:
only a loopback that is down, no DNS), so nothing can reach the internet. In the inner
loop, the CLI in this process with every name lookup refused (``socket.getaddrinfo``
raises what a machine without DNS raises), so ccxt and aiohttp meet the same failure.
Before: ~38 lines, 16 retry lines, each failure twice,
one line repeating a sentence 12 times, DNS failures retried 5 times, a store file created.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.model.calibration import CalibrationReport
from sitegen.sources.exchanges import DNS_HINT
from tests.conftest import shared_once, small_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ENV.pop("LIQMAP_PROXY", None)


def _netns_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


offline = pytest.mark.skipif(not _netns_ok(), reason="needs `unshare -rn` (a network namespace)")


def _no_dns(*args: object, **kwargs: object) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _run_offline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-rn", sys.executable, "-m", "sitegen.cli", *args],
                          capture_output=True, text=True, env=ENV, timeout=300)


def _run_without_dns(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process, no name resolving, and a root logger as a new process has
    (no handlers: pytest's would make the CLI's logging.basicConfig do nothing)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with mock.patch.object(socket, "getaddrinfo", _no_dns), mock.patch.dict(os.environ):
        os.environ.pop("LIQMAP_PROXY", None)
        root.handlers[:] = []
        try:
            res = CliRunner().invoke(main, list(args))
        finally:
            root.handlers[:], root.level = handlers, level
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return subprocess.CompletedProcess(["liqmap", *args], res.exit_code, res.stdout, res.stderr)


class Offline:
    """Each distinct offline command runs once per test run and way (shared by the xdist
    workers), each into its own store and site folder, which it must not create."""

    def __init__(self, root: Path, once: Callable[[str, Callable[[], Any]], Any], way: str) -> None:
        self.root, self._once, self.way = root, once, way
        self.used: list[Path] = []  # each command's own folder (commands may run at once)

    def build(self, *flags: str) -> subprocess.CompletedProcess[str]:
        return self._run("build", *flags)

    def fetch(self, *flags: str) -> subprocess.CompletedProcess[str]:
        return self._run("fetch", *flags)

    def created_nothing(self) -> bool:
        """No command made its store or its site folder."""
        return not any((d / "state").exists() or (d / "site").exists() for d in self.used)

    def _run(self, command: str, *flags: str) -> subprocess.CompletedProcess[str]:
        key = f"offline-{self.way}-" + hashlib.sha256("\0".join((command, *flags)).encode()).hexdigest()[:16]
        folder = self.root / key
        self.used.append(folder)
        args = [command, *flags, "--state", str(folder / "state")]
        if command == "build":
            args += ["--out", str(folder / "site")]
        runner = _run_offline if self.way == "netns" else _run_without_dns
        result: subprocess.CompletedProcess[str] = self._once(key, lambda: runner(*args))
        return result


@pytest.fixture(scope="module", params=[
    "no-dns",
    pytest.param("netns", marks=[offline, pytest.mark.slow]),  # a process start each: CI
])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Offline:
    way = request.param
    if worker_id == "master":  # no xdist
        root = tmp_path_factory.mktemp(f"offline-{way}")
    else:  # the run's shared folder, above each worker's (as conftest.shared_once uses)
        root = tmp_path_factory.getbasetemp().parent / f"offline-{way}"
        root.mkdir(exist_ok=True)
    return Offline(root, lambda key, compute: shared_once(tmp_path_factory, worker_id, key, compute), way)


def test_offline_build_is_a_short_summary_with_the_sample_hint(run: Offline) -> None:
    res = run.build()
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) <= 6, res.stderr
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1
    assert "`liqmap build --sample` builds the site offline" in errors[0]
    assert "nothing was written and no store was created" in errors[0]
    for exchange in ("binanceusdm", "bybit", "okx", "hyperliquid"):
        assert res.stderr.count(f"fetch {exchange}:") == 1  # one progress line each
        assert errors[0].count(f"{exchange}:") == 1
    assert res.stderr.count(DNS_HINT) == 1  # said once, not once per exchange
    assert "retry" not in res.stderr and "Traceback" not in res.stderr
    assert run.created_nothing()


def test_dns_failures_are_not_retried(run: Offline) -> None:
    res = run.build("-v")
    assert res.returncode == 1
    assert "retry" not in res.stderr  # -v would show every retry
    res = run.fetch()
    assert res.returncode == 1
    assert re.search(r"pairs \(no store was created at .*\) in [\d.]+ s \(4 requests\)", res.stdout), res.stdout
    assert res.stdout.count(DNS_HINT) == 1 and "--sample" in res.stdout
    assert run.created_nothing()


def test_quiet_is_errors_only_and_verbose_adds_detail(run: Offline) -> None:
    quiet = run.build("-q")
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.splitlines() and all(line.startswith("Error:") for line in quiet.stderr.splitlines())
    default = run.build()
    verbose = run.build("-v")
    assert len(verbose.stderr.splitlines()) > len(default.stderr.splitlines())
    assert "INFO" in verbose.stderr and "INFO" not in default.stderr
    fetch_quiet = run.fetch("-q")
    assert fetch_quiet.returncode == 1 and fetch_quiet.stdout == ""
    assert run.created_nothing()


@pytest.mark.parametrize("command", ["build", "fetch", "check", "evaluate"])
def test_every_command_has_verbose_and_quiet(command: str) -> None:
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    assert "-v, --verbose" in res.output and "-q, --quiet" in res.output


# The CLI in its own process, as `python -m sitegen.cli` runs it, given the run's calibration
# report (a pure function of the parameters, costing seconds; conftest.calibration) instead of
# computing it again, and PNGs without the optimize pass (conftest.quick_png).
CLI_WITH_CALIBRATION = """
import pathlib, pickle, sys
from sitegen import build
from sitegen.render import og
from sitegen.cli import main
report = pickle.loads(pathlib.Path(sys.argv[1]).read_bytes())
build.calibration_report = lambda params: report
og.PNG_OPTIMIZE = False
main(sys.argv[2:], prog_name="liqmap")
"""


def test_sample_build_quiet_prints_nothing_and_check_quiet_too(tmp_path: Path, calibration: CalibrationReport) -> None:
    """The build in its own process (nothing it prints can hide), one symbol and one range."""
    out = tmp_path / "site"
    report = tmp_path / "calibration.pickle"
    report.write_bytes(pickle.dumps(calibration))
    args = [sys.executable, "-c", CLI_WITH_CALIBRATION, str(report)]
    res = subprocess.run([*args, "build", "--sample", "-q", "--config", str(small_config(tmp_path)),
                          "--out", str(out)], capture_output=True, text=True, env=ENV, timeout=300)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    assert (out / "methodology" / "index.html").is_file()
    res = CliRunner().invoke(main, ["check", "-q", str(out)])
    assert res.exit_code == 0 and res.output == ""
    res = CliRunner().invoke(main, ["check", str(out)])
    assert res.exit_code == 0 and res.output.strip() == f"{out}: OK"
