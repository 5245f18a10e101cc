"""Time to quality and the visible-change stop on noise-free tasks (issue 14).

    python benchmarks/study_noisefree.py --set text|sr|drop [--images kate,coffee] [--preset NAME]
        [--steps N] [--every 25] [--override KEY=JSON ...] [--label NAME] [--threads 1] [--coarse K]
    python benchmarks/study_noisefree.py --replay FILE [FILE ...] [--reference LABEL]
    python benchmarks/study_noisefree.py --smoke [--set drop] --out PATH   # seconds: a 48 px case, then its replay

Runs each case (benchmarks/noisefree_cases.py) for a fixed number of steps (``stop='never'``)
and logs, every ``--every`` steps, the PSNR of the output and of its moving average against the
clean image (the paper's protocol, engine.metrics.task_psnr; for inpainting also of the filled
pixels alone, "fill"), the seconds so far, and the *visible change* of the moving average over
the last N steps (N = 100, 200, ..., 500): the PSNR of the average now against the average N steps
ago, over the region a user looks at (the filled pixels for inpainting, all of them for
super-resolution; 40 dB: the area changed by 1 % of the range, RMS).

``--coarse K`` starts with K steps on the half-size problem (the image and mask halved, the
rate held at its peak) and goes on at full size from those weights, with the half-size input z
upsampled (nearest): the coarse-to-fine candidate; its seconds count.

``--replay`` reads one or more such logs (one per configuration, same cases) and prints
(1) time to quality: for each configuration, the steps and seconds to reach the reference
configuration's final PSNR (today's default run to its bound) and the PSNR reached in half the
reference's time; (2) visible-change rules (look-back N, threshold T): where each would stop
and what it would write (the moving average there) against the same run's bound.
Seconds are the run's own (``--threads``); compare configurations at equal threads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from common import (OUT_DIR, SMOKE_HELP, Column, data_dir, environment, fnum, log, markdown_table, parse_override,
                    text_table, write_json)

from engine.metrics import region_psnr, task_psnr
from engine.presets import get_config
from engine.run import Restoration
from noisefree_cases import SETS, cases_for, resize, smoke_cases

LOOKBACKS = (100, 200, 300, 400, 500)


def study_case(case, a, overrides) -> dict:
    kw = {"scale": 4} if case["task"] == "superres" else {}
    cfg = get_config(a.preset, task=case["task"], stop="never", preview_every=a.every,
                     snapshot_every=10**6, device="cpu", **kw, **overrides)
    if a.steps:
        cfg = cfg.replace(iterations=a.steps)
    t_coarse = 0.0
    if a.coarse:   # coarse-to-fine: fit the half-size problem first, then go on at full size
        half, z_half, t_coarse = coarse_fit(case, cfg, a.coarse)
        run = Restoration(cfg, case["image"], mask=case["mask"], init_weights=half)
        run.z = torch.nn.functional.interpolate(z_half, size=tuple(run.z.shape[-2:]), mode="nearest")
    else:
        run = Restoration(cfg, case["image"], mask=case["mask"])
    ref, region = case["reference"], case["region"]
    emas: dict[int, np.ndarray] = {}
    rows = []
    vals = []   # every step's held-out error [step, output, ema] (runs with held-out pixels)
    for rec in run.steps():
        if rec.val is not None:
            vals.append([rec.step, rec.val.get("output"), rec.val.get("ema")])
        if rec.preview is None:
            continue
        ema = rec.preview_ema if rec.preview_ema is not None else rec.preview
        emas[rec.step] = ema
        row = {"step": rec.step, "seconds": rec.elapsed + t_coarse,
               "output": task_psnr(case["task"], rec.preview, ref, scale=4),
               "ema": task_psnr(case["task"], ema, ref, scale=4),
               "lr": run.opt.param_groups[0]["lr"],
               # the filled pixels alone (inpainting): what changes when the known ones are kept as they are
               "fill": None if region is None else region_psnr(ema, ref, region),
               "fill_output": None if region is None else region_psnr(rec.preview, ref, region),
               # the held-out error (MSE) of this step's output and of the average the step began with
               "val_output": (rec.val or {}).get("output"), "val_ema": (rec.val or {}).get("ema")}
        for n in LOOKBACKS:
            old = emas.get(rec.step - n)
            row[f"change{n}"] = None if old is None else region_psnr(ema, old, region)
        rows.append(row)
        for s in [s for s in emas if s < rec.step - max(LOOKBACKS)]:
            del emas[s]
    out = {"name": case["name"], "task": case["task"], "steps": run.step, "seconds": run.elapsed,
           "s_per_step": run.elapsed / max(run.step, 1), "config": cfg.to_dict(), "rows": rows,
           "holdout_note": getattr(run.task, "holdout_note", None), "vals": vals}
    run.close()
    return out


def coarse_fit(case, cfg, steps):
    """``steps`` steps on the image (and mask) at half size, at the full run's peak rate:
    its weights, its input z, its seconds."""
    img, mask = case["image"], case["mask"]
    h, w = img.shape[0] // 2, img.shape[1] // 2
    small_mask = None
    if mask is not None:
        small_mask = np.asarray(mask, bool)[:2 * h, :2 * w].reshape(h, 2, w, 2).all(axis=(1, 3))
    small = resize(img, w, h)
    if small.ndim == 2:
        small = small[:, :, None]
    run = Restoration(cfg.replace(iterations=steps, lr_schedule="constant"), small, mask=small_mask)
    for _ in run.steps():
        pass
    return run.weights(), run.z.clone(), run.elapsed


def run_study(a) -> int:
    torch.set_num_threads(a.threads)
    overrides = dict(parse_override(o) for o in a.override)
    names = a.images.split(",") if a.images else None
    cases = smoke_cases(a.set) if a.smoke or a.smoke_cases else cases_for(a.set, data_dir(a.data), names)
    label = a.label or (",".join(f"{k}={v}" for k, v in overrides.items()) or "default")
    out = Path(a.out or OUT_DIR / f"study_noisefree_{a.set}_{label.replace('/', '_')}.json")
    report = {"set": a.set, "label": label, "preset": a.preset, "overrides": overrides,
              "threads": a.threads, "environment": environment("cpu"), "cases": []}
    for case in cases:
        t0 = time.perf_counter()
        log(f"{label}: {case['name']} ...")
        r = study_case(case, a, overrides)
        report["cases"].append(r)
        last = r["rows"][-1]
        log(f"  {r['steps']} steps, {time.perf_counter() - t0:.0f} s, EMA {last['ema']:.2f} dB")
        write_json(out, report)
    log(f"wrote {out}")
    return 0


# ---- replay --------------------------------------------------------------------------------

def first_reach(rows, level):
    for r in rows:
        if r["ema"] >= level - 1e-9:
            return r
    return None


def at_time(rows, seconds):
    best = None
    for r in rows:
        if r["seconds"] <= seconds:
            best = r
    return best


def stop_at(rows, n, threshold, min_step=0):
    """The first logged step at which the average changed by less than ``threshold`` dB
    over the last ``n`` steps (or the bound)."""
    for r in rows:
        c = r.get(f"change{n}")
        if r["step"] >= min_step and c is not None and c >= threshold:
            return r, True
    return rows[-1], False


def replay(a) -> int:
    reports = [json.loads(Path(f).read_text()) for f in a.replay]
    ref = next((r for r in reports if r["label"] == a.reference), reports[0])
    ref_cases = {c["name"]: c for c in ref["cases"]}
    rows = []
    for rep in reports:
        for c in rep["cases"]:
            base = ref_cases.get(c["name"])
            if base is None:
                continue
            target = base["rows"][-1]["ema"]
            half = base["rows"][-1]["seconds"] / 2
            hit = first_reach(c["rows"], target)
            h = at_time(c["rows"], half)
            rows.append({"config": rep["label"], "image": c["name"], "target": target,
                         "ref_s": base["rows"][-1]["seconds"], "final": c["rows"][-1]["ema"],
                         "steps": c["steps"], "s_step": c["s_per_step"],
                         "hit_step": hit["step"] if hit else None, "hit_s": hit["seconds"] if hit else None,
                         "hit_frac": hit["seconds"] / base["rows"][-1]["seconds"] if hit else None,
                         "at_half": h["ema"] if h else None})
    cols = [Column("config", "config", 26, str, "<"), Column("image", "image", 22, str, "<"),
            Column("target", "ref final dB", 8, fnum(2)), Column("ref_s", "ref s", 7, fnum(0)),
            Column("final", "final dB", 8, fnum(2)), Column("s_step", "s/step", 7, fnum(3)),
            Column("hit_step", "step to ref", 8, lambda v: "-" if v is None else str(v)),
            Column("hit_frac", "time / ref", 8, fnum(2)), Column("at_half", "dB at half ref time", 9, fnum(2))]
    print(text_table(cols, rows))
    if a.markdown:
        print()
        print(markdown_table(cols, rows))
    print()
    # visible-change rules on every log
    rule_rows = []
    for rep in reports:
        for n in LOOKBACKS:
            for t in a.thresholds:
                gaps, fracs, stopped = [], [], 0
                for c in rep["cases"]:
                    r, hit = stop_at(c["rows"], n, t)
                    stopped += hit
                    gaps.append(r["ema"] - c["rows"][-1]["ema"])
                    fracs.append(r["step"] / c["rows"][-1]["step"])
                rule_rows.append({"config": rep["label"], "n": n, "t": t, "gap": float(np.mean(gaps)),
                                  "worst": float(np.min(gaps)), "frac": float(np.mean(fracs)),
                                  "stopped": f"{stopped}/{len(rep['cases'])}"})
    cols = [Column("config", "config", 26, str, "<"), Column("n", "look-back", 6, str),
            Column("t", "dB", 5, fnum(0)), Column("gap", "mean vs bound", 8, fnum(2)),
            Column("worst", "worst", 7, fnum(2)), Column("frac", "steps / bound", 8, fnum(2)),
            Column("stopped", "stopped", 7, str)]
    rule_rows = [r for r in rule_rows if r["n"] in a.lookbacks]
    print(text_table(cols, rule_rows))
    if a.markdown:
        print()
        print(markdown_table(cols, rule_rows))
    if a.out:
        write_json(a.out, {"time_to_quality": rows, "rules": rule_rows})
    return 0


def smoke(a) -> int:
    """The study on one tiny case, its log in a temporary file, then the replay of that log."""
    import tempfile

    a.set, a.steps, a.every = a.set or "drop", a.steps or 40, 5
    out = a.out
    with tempfile.TemporaryDirectory() as tmp:
        a.out = str(Path(tmp) / "study.json")
        run_study(a)
        a.replay, a.out = [a.out], out
        return replay(a)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=SETS)
    ap.add_argument("--images")
    ap.add_argument("--preset")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--label")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--coarse", type=int, default=0, help="first this many steps on the half-size problem")
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--replay", nargs="+")
    ap.add_argument("--reference", help="the label of the reference log (default: the first)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--lookbacks", type=lambda s: [int(x) for x in s.split(",")], default=list(LOOKBACKS))
    ap.add_argument("--thresholds", type=lambda s: [float(x) for x in s.split(",")], default=[35, 38, 40, 42, 45])
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one 48 px case of the set (default drop), "
                    "40 steps, then the replay of that log (its JSON to --out)")
    ap.add_argument("--smoke-cases", action="store_true", help=argparse.SUPPRESS)   # the study alone, tiny cases
    a = ap.parse_args(argv)
    if a.smoke and not a.replay:
        return smoke(a)
    if a.replay:
        return replay(a)
    if not a.set:
        ap.error("--set or --replay")
    return run_study(a)


if __name__ == "__main__":
    raise SystemExit(main())
