"""How well does a stopping rule find the best iterate? Run each image for a fixed number of
steps (``stop='never'``), log per step the held-out errors of the output and of its moving
average and the ES-WMV variance, and the PSNR of both at a fine cadence; then replay the
rules offline on those curves. One run per image serves every rule and every look-ahead.

    python benchmarks/study_stop.py --task denoise --preset denoise-fast --crop 128 --steps 1500 \
        [--images F16,House] [--override lr=0.02] [--out FILE]
    python benchmarks/study_stop.py --smoke --out PATH     # seconds: a 48 px made-up image, 40 steps

The replay's PSNR is taken at the logged step nearest the rule's pick (cadence
``--every``); bench_quality.py runs the real rule end to end.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from common import SMOKE_HELP, OUT_DIR, centre_crop, data_dir, environment, log, select_images, smoke_data, write_json

from bench_quality import DEFAULT_SET, image_seed, load_clean, make_case  # the benchmark's exact cases
from engine.metrics import task_psnr
from engine.presets import get_config
from engine.run import Restoration
from engine.stopping import BestTracker


def run_image(path, a, overrides):
    clean = centre_crop(load_clean(path, a.task), a.crop, a.scale if a.task == "superres" else 1)
    case = make_case(a.task, clean, image_seed(path.stem, a.seed), a.scale)
    clean = case["reference"]
    task_kw = {"scale": a.scale} if a.task == "superres" else {}
    cfg = get_config(a.preset, task=a.task, iterations=a.steps, stop="never", seed=a.seed,
                     preview_every=a.every, snapshot_every=10**6, device="cpu", **task_kw, **overrides)
    run = Restoration(cfg, case["image"], mask=case["mask"])
    log_rows = {"val_output": [], "val_ema": [], "variance": [], "loss": []}
    curve = {"step": [], "output": [], "ema": []}
    t0 = time.perf_counter()
    for rec in run.steps():
        v = rec.val or {}
        log_rows["val_output"].append(v.get("output"))
        log_rows["val_ema"].append(v.get("ema"))
        log_rows["variance"].append(rec.variance)
        log_rows["loss"].append(rec.loss)
        if rec.preview is not None:
            curve["step"].append(rec.step)
            curve["output"].append(task_psnr(a.task, rec.preview, clean, scale=a.scale))
            curve["ema"].append(None if rec.preview_ema is None
                                else task_psnr(a.task, rec.preview_ema, clean, scale=a.scale))
    return {"image": path.stem, "seconds": time.perf_counter() - t0, "steps": run.step,
            "s_per_step": run.elapsed / max(run.step, 1), **log_rows, "psnr": curve}


def psnr_at(r, step, kind):
    steps = np.asarray(r["psnr"]["step"])
    i = int(np.argmin(np.abs(steps - step)))
    v = r["psnr"][kind][i]
    return v if v is not None else r["psnr"]["output"][i]


def replay(r, rule="holdout", pmin=100, ratio=0.5, gain_db=0.02, ema_only=True):
    """The rule on the logged curves: (stop step, picked step, kind, PSNR of the pick).
    ``ema_only``: raw outputs compete only while there is no moving average yet (as the engine)."""
    tr = BestTracker(rule, pmin, ratio, gain_db)
    n = len(r["loss"])
    for i in range(n):
        step = i + 1
        if rule == "holdout":
            if r["val_ema"][i] is not None:
                tr.offer(step - 1, "ema", r["val_ema"][i])
            if r["val_output"][i] is not None and not (ema_only and r["val_ema"][i] is not None):
                tr.offer(step, "output", r["val_output"][i])
        elif r["variance"][i] is not None:
            tr.offer(step - 1, "output", r["variance"][i])
        if tr.should_stop(step, 0):
            break
    if tr.best is None:
        return None
    at, _, kind = tr.best
    return {"stop": step, "pick": at, "kind": kind, "psnr": psnr_at(r, at, kind),
            "ema_at_stop": psnr_at(r, step, "ema")}


def oracle(r):
    best = (-1.0, 0, "output")
    for kind in ("output", "ema"):
        for s, v in zip(r["psnr"]["step"], r["psnr"][kind]):
            if v is not None and v > best[0]:
                best = (v, s, kind)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="denoise", choices=("denoise", "superres", "inpaint"))
    ap.add_argument("--preset", default="denoise-fast")
    ap.add_argument("--set")
    ap.add_argument("--images")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=JSON")
    ap.add_argument("--replay", help="replay rules on a JSON written earlier instead of running")
    ap.add_argument("--out")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one 48 px made-up image, 40 steps")
    a = ap.parse_args(argv)
    if a.smoke:
        name = f"Set5_DIP_x{a.scale}GT" if a.task == "superres" else DEFAULT_SET[a.task]
        a.data, a.set, a.images, a.crop, a.steps, a.every = str(smoke_data([name], n=1)), name, None, 48, 40, 5
        if a.task == "superres" and a.preset == "denoise-fast":
            a.preset = "sr-fast"
        elif a.task == "inpaint" and a.preset == "denoise-fast":
            a.preset = "inpaint-fast"
    overrides = {k: json.loads(v) for k, v in (o.split("=", 1) for o in a.override)}
    if a.replay:
        results = json.load(open(a.replay))["images"]
    else:
        folder = data_dir(a.data) / (a.set or DEFAULT_SET[a.task])
        if a.task == "superres" and not a.set:
            folder = data_dir(a.data) / f"Set5_DIP_x{a.scale}GT"
        results = []
        out = a.out or OUT_DIR / f"study_stop_{a.task}_{a.preset}.json"
        for p in select_images(folder, a.images):
            log(f"{p.stem} ...")
            results.append(run_image(p, a, overrides))
            write_json(out, {"environment": environment("cpu"), "args": vars(a), "images": results})
    rules = [("holdout", 200, 0.5, 0.02), ("holdout", 200, 0.5, 0.02, False), ("holdout", 100, 0.5, 0.02),
             ("holdout", 200, 0.25, 0.05), ("variance", 100, 0.5, 0.0)]
    head = f"{'image':12s} {'s/step':>6s} {'oracle':>14s} " + " ".join(
        ("/".join(str(x) for x in r)[:24]).rjust(24) for r in rules)
    print(head)
    sums = np.zeros(len(rules) + 1)
    for r in results:
        o = oracle(r)
        cells = []
        for i, rule in enumerate(rules):
            rp = replay(r, *rule)
            if rp is None:
                cells.append("n/a".rjust(24))
                continue
            cells.append(f"{rp['psnr']:.2f} @{rp['pick']}{rp['kind'][0]} s{rp['stop']}".rjust(24))
            sums[i + 1] += rp["psnr"] - o[0]
        sums[0] += o[0]
        print(f"{r['image']:12s} {r['s_per_step']:6.3f} {o[0]:7.2f} @{o[1]:4d}{o[2][0]} " + " ".join(cells))
    n = len(results)
    print(f"{'average':12s} {'':6s} {sums[0] / n:14.2f} " + " ".join(
        f"gap {s / n:+.2f}".rjust(24) for s in sums[1:]))


if __name__ == "__main__":
    main()
