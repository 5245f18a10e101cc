"""Every benchmark script keeps running: each one's ``--smoke`` mode (tiny made-up images, a
few steps, nothing from ../shared) must exit 0, write its JSON with rows, and print its table.
A new script must be named in SMOKED or in COVERED_ELSEWHERE with the test that runs it: the
glob below fails the suite until it is."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for pattern in ("bench_*.py", "study_*.py", "replay_*.py", "time_to_*.py")
                 for p in (ROOT / "benchmarks").glob(pattern))
# every script smoke-run here, by name (so a reader sees them); the glob checks none is forgotten
SMOKED = [
    "bench_batch.py", "bench_experiments.py", "bench_gpu.py", "bench_grouped.py", "bench_noisefree.py",
    "bench_quality.py", "bench_speed.py", "bench_tiles.py", "replay_holdout.py", "study_denoise.py",
    "study_noisefree.py", "study_noiselevel.py", "study_stop.py", "time_to_quality.py",
]
COVERED_ELSEWHERE = {
    "bench_realnoise.py": "test_bench_realnoise.py",
    "study_realnoise.py": "test_bench_realnoise.py",
    "bench_app.py": "test_bench_app.py",        # the app's own benchmark needs Qt: its own test
}
# where a script's JSON keeps its table's rows, when not under "rows"
ROWS = {
    "bench_experiments.py": "preimage",
    "bench_noisefree.py": "images",
    "bench_speed.py": "results",
    "study_denoise.py": "ensembles",
    "study_noisefree.py": "time_to_quality",
    "study_stop.py": "images",
}


def test_every_script_is_smoked_here_or_elsewhere():
    assert set(SCRIPTS) == set(SMOKED) | set(COVERED_ELSEWHERE), "a script missing from SMOKED (or gone)"
    assert not set(SMOKED) & set(COVERED_ELSEWHERE)
    missing = {t for t in COVERED_ELSEWHERE.values() if not (ROOT / "tests" / t).is_file()}
    assert not missing, f"covering tests not found: {sorted(missing)}"


@pytest.mark.parametrize("script", SMOKED)
def test_smoke(script, tmp_path):
    out = tmp_path / (script[:-3] + ".json")
    # one thread: the run must not depend on (or fight for) the machine's cores
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report[ROWS.get(script, "rows")]
    assert isinstance(rows, list) and rows and all(isinstance(r, (dict, list)) for r in rows)
    table = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(table) >= 2, p.stdout          # a header and at least one row
