"""The real-noise benchmark and study (issue 20) in their smoke modes: they must keep running
(two tiny made-up photos, a few dozen steps; no shared data needed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_bench_realnoise_smoke(tmp_path):
    out = tmp_path / "rn.json"
    p = _run("bench_realnoise.py", "--smoke", "--baselines", "none", "--out", str(out))
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["image"] for r in rows] == ["white", "correlated"]
    white, corr = rows
    assert not white["noise"]["correlated"] and "random pixels" in white["holdout"]
    assert corr["noise"]["correlated"] and "7x7 px blocks" in corr["holdout"]
    assert all(r["input"] < r["oracle"] and r["stop_step"] <= r["bound"] for r in rows)
    assert "gap to own best" in p.stdout and "correlated" in p.stdout


def test_study_realnoise_smoke_and_replay(tmp_path):
    out = tmp_path / "st.json"
    keep = tmp_path / "not" / "yet"          # --keep makes its folder
    p = _run("study_realnoise.py", "--smoke", "--out", str(out), "--keep", str(keep))
    assert p.returncode == 0, p.stderr
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 2 and all(len(r["b7g3"]) == 40 and len(r["pix"]) == 40 for r in runs)
    assert len(list(keep.glob("*.npz"))) == 2
    again = _run("study_realnoise.py", "--replay", str(out))
    assert again.returncode == 0 and "b7g3/100/0.25" in again.stdout and "mean gap" in again.stdout
