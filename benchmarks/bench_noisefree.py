"""Noise-free tasks end to end: the default preset, stopping by itself, against the
previous default run to its step bound (issue 14).

    python benchmarks/bench_noisefree.py --set text|sr|drop [--images a,b] [--preset NAME]
        [--override KEY=JSON ...] [--previous] [--bound-from FILE] [--threads 2] [--out FILE] [--markdown]
    python benchmarks/bench_noisefree.py --smoke [--set text|sr|drop] --out PATH     # seconds

Each case of benchmarks/noisefree_cases.py (shared images and photos outside the shared sets)
is restored with the task's preset and ``stop='auto'``, as a user's run: the table gives the
step it stopped at, its wall time (the whole run), the PSNR of what it writes (the paper's
protocol, engine.metrics.task_psnr) and why it stopped. ``--previous`` runs the settings the
presets had before issue 14 (:data:`PREVIOUS`) instead. ``--bound-from`` takes a
``study_noisefree.py`` log of the previous default run to its bound and adds, per image, that
run's final PSNR and its time at this run's thread count (its bound x the seconds per step
measured here on the first 60 steps of the previous settings), and for inpainting the PSNR of
the filled pixels alone ("fill": the previous default wrote the network's output everywhere,
the current one keeps the known pixels, so only the fill compares like with like).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from common import (OUT_DIR, SMOKE_HELP, Column, data_dir, environment, fnum, log, markdown_table, mean,
                    parse_override, text_table, write_json)

from engine.metrics import region_psnr, task_psnr
from engine.presets import get_config
from engine.run import Restoration
from noisefree_cases import SETS, cases_for, smoke_cases

# what inpaint-fast and sr-fast were before issue 14 (a constant rate; the held-out pixels'
# plateau as the stop; the moving average written)
PREVIOUS = {
    "inpaint": dict(lr=0.01, lr_schedule="constant", lr_warmup=0, iterations=3000, stop_rule="holdout",
                    holdout=0.05, stop_min_gain_db=0.02, pick="ema", precision="fp32"),
    "superres": dict(lr=0.01, lr_schedule="constant", lr_warmup=0, iterations=2000, stop_rule="holdout",
                     holdout=0.05, stop_min_gain_db=0.2, pick="ema", precision="fp32"),
}


def config_for(case, a, overrides, previous: bool):
    kw = {"scale": 4} if case["task"] == "superres" else {}
    extra = dict(PREVIOUS[case["task"]]) if previous else {}
    extra.update(overrides)
    return get_config(a.preset, task=case["task"], device="cpu", preview_every=25, **kw, **extra)


def seconds_per_step(cfg, case, steps: int = 60) -> float:
    run = Restoration(cfg.replace(stop="never", iterations=steps), case["image"], mask=case["mask"])
    t = []
    last = time.perf_counter()
    for _ in run.steps():
        now = time.perf_counter()
        t.append(now - last)
        last = now
    run.close()
    t = sorted(t[10:])
    return t[len(t) // 2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=SETS)
    ap.add_argument("--images")
    ap.add_argument("--preset")
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--previous", action="store_true", help="the presets' settings before issue 14")
    ap.add_argument("--bound-from", help="study_noisefree.py log of the previous default run to its bound")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one 48 px case of the set (default "
                    "drop), at most 20 steps, one thread")
    a = ap.parse_args(argv)
    if not a.set and not a.smoke:
        ap.error("--set is required")
    if a.smoke:
        a.threads = 1
    torch.set_num_threads(a.threads)
    overrides = dict(parse_override(o) for o in a.override)
    names = a.images.split(",") if a.images else None
    if a.smoke:
        a.set = a.set or "drop"
        overrides.setdefault("iterations", 20)
        cases = smoke_cases(a.set)
    else:
        cases = cases_for(a.set, data_dir(a.data), names)
    bound = {}
    if a.bound_from:
        bound = {c["name"]: c for c in json.loads(Path(a.bound_from).read_text())["cases"]}
    label = "previous" if a.previous else "default"
    out = Path(a.out or OUT_DIR / f"noisefree_{a.set}_{label}.json")
    report = {"benchmark": "noisefree", "set": a.set, "settings": label, "overrides": overrides,
              "threads": a.threads, "environment": environment("cpu"), "images": []}
    rows = []
    for case in cases:
        cfg = config_for(case, a, overrides, a.previous)
        log(f"{case['name']}: {cfg.preset} ({label}) ...")
        run = Restoration(cfg, case["image"], mask=case["mask"])
        t0 = time.perf_counter()
        for _ in run.steps():
            pass
        wall = time.perf_counter() - t0
        written = run.result(cfg.pick)
        row = {"image": case["name"], "steps": run.step, "bound_steps": cfg.iterations, "seconds": wall,
               "written": task_psnr(case["task"], written, case["reference"], scale=4),
               "fill": None if case["region"] is None else region_psnr(written, case["reference"], case["region"]),
               "stopped": run.stopped_early, "reason": run.stop_reason}
        run.close()
        b = bound.get(case["name"])
        if b is not None:
            prev = config_for(case, a, {}, True)
            sps = seconds_per_step(prev, case)
            row.update(bound_psnr=b["rows"][-1]["ema"], bound_s=sps * b["steps"],
                       bound_fill=b["rows"][-1].get("fill"),
                       best_fill=max((r["fill"] for r in b["rows"] if r.get("fill") is not None), default=None),
                       gap=row["written"] - b["rows"][-1]["ema"])
            row["time_frac"] = row["seconds"] / row["bound_s"]
        log(f"  {row['steps']} steps, {wall:.1f} s, {row['written']:.2f} dB: {row['reason']}")
        rows.append(row)
        report["images"] = rows
        write_json(out, report)
    avg = {"image": "average", **{k: mean([r.get(k) for r in rows]) for k in
                                  ("steps", "seconds", "written", "bound_psnr", "bound_s", "gap", "time_frac",
                                   "fill", "bound_fill", "best_fill")}}
    cols = [Column("image", "image", 22, str, "<"), Column("steps", "stop step", 6, fnum(0)),
            Column("seconds", "seconds", 7, fnum(1)), Column("written", "written dB", 8, fnum(2)),
            Column("bound_psnr", "previous at its bound dB", 9, fnum(2)),
            Column("bound_s", "previous s", 8, fnum(1)), Column("gap", "written - previous", 8, fnum(2)),
            Column("time_frac", "time / previous", 8, fnum(2))]
    if a.set != "sr":   # inpainting: the filled pixels alone, where both results are the network's
        cols += [Column("fill", "fill dB", 7, fnum(2)), Column("bound_fill", "previous fill at its bound", 9, fnum(2)),
                 Column("best_fill", "previous fill, best seen", 9, fnum(2))]
    print(text_table(cols, rows + [avg], separators=[len(rows) - 1]))
    for r in rows:
        print(f"  {r['image']}: {r['reason']}")
    if a.markdown:
        print()
        print(markdown_table(cols, rows + [avg], bold_rows=[len(rows)]))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
