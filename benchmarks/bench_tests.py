"""Test-suite benchmark: the README's test command on this tree and on an earlier commit.

The inner loop has a budget (issue #10 item 7: at most 60 s on an idle 2-core machine). This
script measures it side by side in one run, so that the machine's load weighs on both:

1. exports ``--against`` (a commit, default ``HEAD~1``) with ``git archive`` into a temporary
   folder, beside the working tree;
2. runs the test command (default ``python -m pytest -n 2 -q -p no:cacheprovider``, which is
   the README's ``pytest -n 2``: the default run leaves out ``slow``) in each tree, alternating,
   ``--repeat`` times each, with this interpreter (so both use the same installed packages);
3. reads each run's wall time and its CPU time (user + system of the test process and every
   process it waited for: workers, subprocesses, Chromium) from ``os.wait4``.

    python benchmarks/bench_tests.py [--against REF] [--repeat 1] [-- extra pytest args]

It prints one line per run, the medians per tree and the ratios (this tree / the other), and
as its last line {"this": {"wall_s": ..., "cpu_s": ..., "passed": ...}, "against": {...}}.
CPU time is what a loaded machine cannot inflate much; wall time on an idle 2-core machine is
about CPU time / 2 plus the tests' own waits (sleeps, timeouts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"]


def run(tree: Path, extra: list[str]) -> dict[str, float]:
    """One run of the test command in ``tree``: wall and CPU seconds, tests passed."""
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the tree's own sitegen, not the installed one
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *COMMAND, *extra], cwd=tree, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{tree}: the test command failed:\n{output[-3000:]}")
    passed = re.search(r"(\d+) passed", output)
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "passed": int(passed.group(1)) if passed else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="HEAD~1", help="git commit to compare with (default HEAD~1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree (default 1)")
    parser.add_argument("extra", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tests-") as tmp:
        other = Path(tmp) / "tree"
        other.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.against], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(other)], input=archive, check=True)
        runs: dict[str, list[dict[str, float]]] = {"this": [], "against": []}
        for i in range(args.repeat):
            for name, tree in (("this", ROOT), ("against", other)):
                r = run(tree, args.extra)
                runs[name].append(r)
                print(f"run {i + 1} {name:>7} ({args.against if name == 'against' else 'working tree'}): "
                      f"wall {r['wall_s']:6.1f} s, cpu {r['cpu_s']:6.1f} s, {r['passed']} passed", flush=True)
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "passed")}
               for name, rs in runs.items()}
    for key in ("wall_s", "cpu_s"):
        print(f"{key}: this / against = {medians['this'][key] / medians['against'][key]:.2f}")
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
