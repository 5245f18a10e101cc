"""The app benchmark (benchmarks/bench_app.py) in its smoke mode: headless and in-app runs of a
made-up photo must keep measuring (it broke once, unseen, when seeds came in)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_app_smoke(tmp_path):
    out = tmp_path / "app.json"
    # the in-app child opens the real main window: its settings and autosaves go to tmp_path
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_app.py"), "--smoke", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(out.read_text())
    assert res["smoke"] and res["config"]["width"] == res["config"]["height"] == 40
    assert len(res["runs"]) == 1
    run = res["runs"][0]
    # the same 20 steps both ways (one seed: the app has no averaging phase to time)
    assert run["headless"]["steps"] == run["app"]["steps"] == 20
    assert run["app"]["ticks"] > 0 and run["app"]["curve_points"] > 0
    assert res["headless_steps_per_s"] > 0 and res["app_steps_per_s"] > 0
    assert abs(res["ratio"] - res["app_steps_per_s"] / res["headless_steps_per_s"]) < 1e-9
    assert res["max_stall_ms"] >= res["p99_stall_ms"] > 0
    for row in ("headless (median)", "in the app (median)", "ratio app/headless", "GUI max stall (ms)"):
        assert row in p.stdout
    assert f"wrote {out}" in p.stdout
