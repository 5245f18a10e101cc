"""The device check a session runs when it is lent a GPU: one prepared command that fits the
lease (15 minutes of device time, a machine's start included), so the GPU path gets measured.

    python3 benchmarks/bench_gpu.py --out $OUT/gpu.json [--budget 480] [--mp 12] [--markdown]
    python3 benchmarks/bench_gpu.py --smoke --out PATH     # the same three steps on the CPU, tiny

Three steps, each given a share of ``--budget`` seconds and cut off at it, one row each:

  speed  bench_speed.py --device cuda (the engine's step against a plain PyTorch loop: the
         GPU's default presets and the fast denoiser at 256-1024 px): its JSON beside --out,
         its table in the log;
  photo  a 12 MP photo denoised through the CLI with the defaults on that device (issue 24's
         target: 10 minutes on a GPU): scikit-image's astronaut upscaled, sigma 25. The plan's
         estimate is kept; where the run outlasts its share it is interrupted as a user's Ctrl-C
         would (the tiles done are kept on disk) and the whole run's time is projected from the
         tiles done;
  tests  the engine's tests with the GPU visible (a device machine has no Qt: files that need it
         fail to collect and are counted, not run).

Nothing here needs ../shared. The device machine's own python3 holds torch, numpy, Pillow,
scikit-image and pytest; the command runs from the repository root there:

    python3 benchmarks/bench_gpu.py --out $OUT/gpu.json --markdown
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (ROOT, SMOKE_HELP, Column, environment, fnum, log, markdown_table, megapixel_photo, smoke_photo,
                    text_table, write_json)

# shares of the budget: the photo is what the issue asks; the speed table and the tests come
# before it so a cut-off photo still leaves them
SHARES = {"speed": 0.25, "tests": 0.2, "photo": 0.55}
JOB_DONE = re.compile(r"job (\d+)/(\d+) done")


def _run(cmd: list[str], seconds: float, env: dict[str, str] | None = None) -> tuple[int | None, str, float]:
    """Runs ``cmd`` from the repository root for at most ``seconds``; past that it is sent
    SIGINT (a user's Ctrl-C: the CLI keeps what it finished), then killed 30 s later.
    Returns (exit status or None when cut off, stdout + stderr, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        out, _ = proc.communicate(timeout=max(1.0, seconds))
        return proc.returncode, out, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        return None, out, time.perf_counter() - t0


def step_speed(a, out_dir: Path, seconds: float) -> dict[str, Any]:
    path = out_dir / (Path(a.out).stem + "_speed.json")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_speed.py"), "--out", str(path)]
    # the GPU defaults (the paper's nets) and the CPU's fast denoiser, no architecture sweep: each
    # case is a fresh process that starts CUDA, and the whole step has a couple of minutes
    cmd += ["--smoke"] if a.smoke else ["--device", a.device, "--sizes", a.sizes, "--modes", "interleaved",
                                        "--presets", "denoise,denoise-fast,sr4,jpeg", "--archs", "",
                                        "--max-seconds", str(max(5.0, seconds / 8))]
    code, text, wall = _run(cmd, seconds)
    print(text.rstrip())
    rows = json.loads(path.read_text())["results"] if path.is_file() else []
    return {"step": "speed", "seconds": wall, "finished": code == 0, "ok": code == 0 and bool(rows),
            "result": f"{len(rows)} cases, table above; {path.name}", "cases": rows}


def _photo(mp: float, smoke: bool):
    """A clean photo outside the shared sets and its noisy copy (uint8)."""
    import numpy as np

    clean = (smoke_photo(3, 96, 128) * 255 + 0.5).astype(np.uint8) if smoke else megapixel_photo(mp)[0]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


def step_photo(a, seconds: float) -> dict[str, Any]:
    from PIL import Image

    clean, noisy = _photo(a.mp, a.smoke)
    h, w = clean.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        Image.fromarray(clean).save(t / "clean.png")
        Image.fromarray(noisy).save(t / "noisy.png")
        cmd = [sys.executable, str(ROOT / "main.py"), "restore", "--task", "denoise", "--device", a.device,
               "--input", str(t / "noisy.png"), "--reference", str(t / "clean.png"), "--output", str(t / "out.png"),
               "--metrics", str(t / "m.json")]
        if a.smoke:    # a tiled job in seconds: 4 tiles of 64 px, a short bound
            cmd += ["--tile", "64", "--set", "iterations=20"]
        code, text, wall = _run(cmd, seconds)
        metrics = json.loads((t / "m.json").read_text()) if (t / "m.json").is_file() else None
    print(text.rstrip()[-4000:])
    plan = next((ln[len("plan: "):] for ln in text.splitlines() if ln.startswith("plan: ")), None)
    done = [tuple(map(int, m.groups())) for m in JOB_DONE.finditer(text)]
    k, n = done[-1] if done else (0, 0)
    row: dict[str, Any] = {"step": "photo", "size": f"{w}x{h}", "plan": plan, "seconds": wall,
                           "finished": code == 0, "units_done": k, "units": n, "ok": metrics is not None or k > 0}
    if metrics is not None:
        row["psnr"] = metrics.get("psnr", {}).get("written")
        row["result"] = f"{w}x{h} in {wall:.0f} s, {row['psnr']:.2f} dB" if row["psnr"] else f"{w}x{h} in {wall:.0f} s"
    elif k:
        row["projected_seconds"] = wall * n / k
        row["result"] = (f"cut off at {wall:.0f} s with {k} of {n} tiles done: the whole photo projects to "
                         f"{row['projected_seconds']:.0f} s")
    else:
        row["result"] = f"no tile finished in {wall:.0f} s (exit {code})"
    return row


def step_tests(a, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    cmd += ["tests/test_device.py"] if a.smoke else ["tests"]
    if not a.smoke:
        try:
            import xdist  # noqa: F401  (the device machine has it; spread the files over its cores)
            cmd += ["-n", "8"]
        except ImportError:
            pass
    code, text, wall = _run(cmd, seconds)
    summary = next((ln for ln in reversed(text.splitlines()) if re.search(r"\d+ (passed|failed)", ln)), "")
    print(text.rstrip()[-3000:])
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    return {"step": "tests", "seconds": wall, "finished": code is not None, "ok": bool(summary),
            "result": summary.strip("= ") or f"no summary (exit {code})", **counts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "gpu.json"), help="JSON report")
    ap.add_argument("--device", default="cuda", help="the device to check (cuda)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the three steps together")
    ap.add_argument("--mp", type=float, default=12.0, help="the photo's megapixels")
    ap.add_argument("--sizes", default="256,512,1024", help="bench_speed's output sides")
    ap.add_argument("--steps", default="speed,tests,photo", help="which steps, in order")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": on the CPU, a 128x96 photo in 4 tiles")
    a = ap.parse_args(argv)
    if a.smoke:
        a.device, a.budget = "cpu", 300.0
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = environment(a.device)
    try:
        import torch
        if a.device == "cuda" and torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env["gpu"] = {"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1)}
    except Exception as e:  # a broken CUDA install is a result too
        env["gpu_error"] = repr(e)
    log(f"device {a.device}: {env.get('gpu', env.get('gpu_error', 'no GPU'))}")
    steps = {"speed": lambda s: step_speed(a, out.parent, s), "photo": lambda s: step_photo(a, s),
             "tests": lambda s: step_tests(a, s)}
    rows = []
    for name in [s for s in a.steps.split(",") if s]:
        share = SHARES[name] * a.budget
        log(f"--- {name} (at most {share:.0f} s)")
        rows.append(steps[name](share))
    cols = [Column("step", "step", 6, align="<"), Column("seconds", "seconds", 8, fnum(0)),
            Column("result", "result", 60, align="<")]
    print()
    print(text_table(cols, rows))
    if a.markdown:
        print()
        print(markdown_table(cols, rows))
    p = write_json(out, {"benchmark": "bench_gpu", "smoke": a.smoke, "environment": env, "rows": rows})
    print(f"\nwrote {p}")
    # a step that gave no result is this script's failure (a test that failed is a result)
    broken = [r["step"] for r in rows if not r["ok"]]
    if broken:
        log(f"no result from: {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
