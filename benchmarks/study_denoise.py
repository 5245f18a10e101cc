"""Where does the ensemble gain of denoising come cheapest? (issue 14, part 3)

Runs a few *members* per image (a seed, a geometric transform of the input, a precision, a
learning-rate schedule), each with the engine's own stopping rule (``stop='auto'``), and logs
per step the data term and the held-out errors, and the moving average (EMA) every
``--every`` steps. A member whose rule stopped before the reference run's pick is continued
(``stop='never'``) up to that step, so "a second member stopped at the first one's pick" can
be read off without another run. Then the ensembles are formed offline from those images:

  * seed ensembles (each member stops at its own pick, picks averaged: ``--runs 2``);
  * geometric self-ensembles (the member restores the transposed image, the result is
    transposed back);
  * cheap members: the second member stops at (a fraction of) the first member's pick step,
    with no look-ahead of its own, or with a shorter look-ahead (its rule replayed offline on
    its logged held-out errors; the replay with the default look-ahead is checked against
    the engine's own stop);
  * one run's moving average averaged over several steps (free);
  * bf16 autocast of the forward pass (``precision='bf16'``) and a cosine LR schedule.

Cost is counted in steps (a member's own stop step, look-ahead included, or the step it was
cut at); seconds are steps x seconds per step. ``--time`` measures seconds per step of one
member at the threads this process has (the study runs at 1 thread: the machine is shared).

    OMP_NUM_THREADS=1 python benchmarks/study_denoise.py [--images F16,House] [--photos astronaut,coffee]
        [--members s0,s1,s1T,...] [--every 10] [--time] [--out FILE] [--snapshots DIR]
    python benchmarks/study_denoise.py --analyse benchmarks/out/study_denoise.json [--snapshots DIR]
    python benchmarks/study_denoise.py --smoke --out PATH     # seconds: s0 and s1 on a 48 px made-up image

Images: CBM3D9 (shared datasets, 128 px centre crops) and scikit-image's photos (written to
``/tmp/skdata/photos`` as benchmarks/README.md does), noise sigma 25 seeded per image exactly
as bench_quality.py does.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from common import SMOKE_HELP, OUT_DIR, centre_crop, data_dir, environment, log, select_images, smoke_data, write_json

from bench_quality import image_seed, load_clean, make_case  # the benchmark's exact cases
from engine.metrics import task_psnr
from engine.presets import get_config
from engine.run import Restoration
from engine.stopping import BestTracker, Discrepancy

PRESET = "denoise-fast"
PHOTO_DIR = Path("/tmp/skdata/photos")
# seconds per step at 2 threads, 128 px, the default preset: benchmarks/README.md's CBM3D9
# table (fp32); bf16 from the lead's probe (13 % faster at 128 px). The study itself runs on
# one thread (the machine is shared) and reports its own 1-thread timings beside these.
S_PER_STEP_2T = {"fp32": 0.057, "bf16": 0.057 * 0.87}

# name: (config overrides, geometric transform)
MEMBERS: dict[str, tuple[dict, str | None]] = {
    "s0": ({"seed": 0}, None),
    "s1": ({"seed": 1}, None),
    "s1T": ({"seed": 1}, "T"),
    "s0bf": ({"seed": 0, "precision": "bf16"}, None),
    "s1Tbf": ({"seed": 1, "precision": "bf16"}, "T"),
    "s0cos": ({"seed": 0, "lr_schedule": "cosine", "lr_warmup": 20, "lr_final": 0.1, "iterations": 1200}, None),
    "s0T": ({"seed": 0}, "T"),
    "s2": ({"seed": 2}, None),
}
DEFAULT_MEMBERS = "s0,s0bf,s1,s1T,s1Tbf,s0cos"
# a member is continued up to the pick of these (when run before it on the image)
REFERENCES = ("s0", "s0bf")
# overrides every member takes on top of its own (--smoke: a step bound)
COMMON: dict = {}


def geom(x: np.ndarray, kind: str | None) -> np.ndarray:
    """The transform (its own inverse): T transposes rows and columns."""
    if kind is None:
        return x
    if kind == "T":
        return np.ascontiguousarray(x.transpose(1, 0, 2))
    raise ValueError(kind)


def photo_paths(names: str) -> list[Path]:
    """scikit-image's bundled photos as PNG files (once), so load_clean reads them as the
    benchmark does."""
    from PIL import Image
    from skimage import data
    PHOTO_DIR.mkdir(parents=True, exist_ok=True)
    out = []
    for n in (s.strip() for s in names.split(",") if s.strip()):
        p = PHOTO_DIR / f"{n}.png"
        if not p.exists():
            Image.fromarray(getattr(data, n)()).save(p)
        out.append(p)
    return out


def run_member(name: str, case: dict, crop_seed: int, ref_pick: int | None, every: int) -> tuple[dict, dict]:
    """One member on one image: (log for the JSON, arrays for the snapshot file)."""
    over, g = MEMBERS[name]
    over = {**over, **COMMON}
    cfg = get_config(PRESET, task="denoise", device="cpu", preview_every=every, snapshot_every=10**6,
                     **over)
    run = Restoration(cfg, geom(case["image"], g))
    disc_target = None if run._disc is None else run._disc.target
    loss, ve, vo, bt = [], [], [], []
    snaps, snap_steps = [], []

    def take(rec):
        v = rec.val or {}
        loss.append(rec.loss)
        ve.append(v.get("ema"))
        vo.append(v.get("output"))
        bt.append(bool(rec.backtracked))
        if rec.preview_ema is not None and rec.step % every == 0:
            snaps.append(geom(rec.preview_ema, g).astype(np.float16))
            snap_steps.append(rec.step)

    for rec in run.steps():
        take(rec)
    stop, seconds = run.step, run.elapsed
    pick = run.suggested
    written = geom(run.result(cfg.pick), g)
    kind = run.suggested_kind
    extended = 0
    if ref_pick is not None and run.step < ref_pick + every:
        run.cfg.stop = "never"
        run.cfg.iterations = ref_pick + every
        for rec in run.steps():
            take(rec)
        extended = run.step - stop
    ref = case["reference"]
    curve = [task_psnr("denoise", s.astype(np.float32), ref) for s in snaps]
    o = int(np.argmax(curve)) if curve else None
    res = {"member": name, "overrides": over, "geom": g, "stop": stop, "seconds": seconds,
           "s_per_step": seconds / max(stop, 1), "pick_step": None if pick is None else pick[0],
           "pick_kind": kind, "stop_reason": run.stop_reason, "extended_to": run.step if extended else None,
           "written": task_psnr("denoise", written, ref), "disc_target": disc_target,
           "oracle_ema": None if o is None else curve[o], "oracle_step": None if o is None else snap_steps[o],
           "backtracks": run.backtracks, "loss": loss, "val_ema": ve, "val_output": vo, "backtracked": bt,
           "psnr_ema": {"step": snap_steps, "psnr": curve}}
    arrays = {f"{name}__written": written.astype(np.float32), f"{name}__snaps": np.stack(snaps),
              f"{name}__snap_steps": np.asarray(snap_steps)}
    run.close()
    return res, arrays


# ---------------------------------------------------------------------------- the rule, offline

def replay(m: dict, patience: int = 200, ratio: float = 0.5, gain_db: float = 0.02,
           discrepancy: bool = True, limit: int | None = None) -> tuple[int, int, str] | None:
    """The engine's held-out rule (engine/run.py ``account`` + ``rule_stops``) on a member's
    logged per-step values: (stop step, pick step, kind)."""
    tr = BestTracker("holdout", patience, ratio, gain_db)
    disc = Discrepancy(m["disc_target"]) if discrepancy and m["disc_target"] is not None else None
    prev, has_ema = 0, False
    n = len(m["loss"]) if limit is None else min(limit, len(m["loss"]))
    for i in range(n):
        step = i + 1
        ve, vo, loss = m["val_ema"][i], m["val_output"][i], m["loss"][i]
        if ve is not None:
            tr.offer(prev, "ema", ve)
        if not m["backtracked"][i]:
            if vo is not None and not has_ema and tr.offer(step, "output", vo):
                pass
            has_ema = True
            if disc is not None and disc.feed(step, loss):
                if tr.best is None or tr.best[0] < step:
                    tr.take(step, "ema", ve)
            prev = step
        waiting = disc is not None and disc.waiting(step, tr.gain_step)
        if tr.should_stop(step, 0) and not waiting:
            return step, tr.best[0], tr.best[2]
    if tr.best is None:
        return None
    return n, tr.best[0], tr.best[2]


# ---------------------------------------------------------------------------- ensembles, offline

class Logged:
    def __init__(self, rec: dict, arrays, reference: np.ndarray):
        self.rec, self.arrays, self.ref = rec, arrays, reference
        self.m = {r["member"]: r for r in rec["members"]}

    def ema_at(self, name: str, step: int) -> tuple[np.ndarray, int]:
        steps = self.arrays[f"{name}__snap_steps"]
        i = int(np.argmin(np.abs(steps - step)))
        return self.arrays[f"{name}__snaps"][i].astype(np.float32), int(steps[i])

    def written(self, name: str) -> np.ndarray:
        return self.arrays[f"{name}__written"]


def member_image(img: Logged, spec: tuple) -> tuple[np.ndarray, int, str] | None:
    """(image, steps it cost, precision) of one ensemble member spec:
    ('own', name): its own rule's pick; cost its stop step.
    ('at', name, ref, frac[, (patience, ratio)]): its EMA at frac x ref's pick step (the
    pick of ref's rule replayed with that look-ahead, if given); cost that step.
    ('short', name, patience, ratio): its rule replayed with another look-ahead.
    ('ema_avg', name, offsets): the mean of its EMA at pick + each offset; cost the stop
    step or the last offset, whichever is later."""
    kind, name = spec[0], spec[1]
    if name not in img.m or (kind == "at" and spec[2] not in img.m):
        return None
    m = img.m[name]
    prec = m["overrides"].get("precision", "fp32")
    if kind == "own":
        return img.written(name), m["stop"], prec
    if kind == "at":
        ref, frac = img.m[spec[2]], spec[3]
        ref_pick = ref["pick_step"]
        if len(spec) > 4:   # the reference's pick under a shorter look-ahead (replayed)
            r = replay(ref, *spec[4], limit=ref["stop"])
            if r is None:
                return None
            ref_pick = r[1]
        step = max(img.rec["every"], int(round(frac * ref_pick)))
        if step > len(m["loss"]):
            return None
        x, _ = img.ema_at(name, step)
        return x, step, prec
    if kind == "short":
        r = replay(m, spec[2], spec[3], limit=m["stop"])
        if r is None:
            return None
        stop, pick, k = r
        x = img.written(name) if pick == m["pick_step"] else img.ema_at(name, pick)[0]
        return x, stop, prec
    if kind == "ema_avg":
        p = m["pick_step"]
        xs = [img.written(name)] + [img.ema_at(name, p + d)[0] for d in spec[2] if d]
        last = min(p + max(spec[2]), len(m["loss"]))
        return np.mean(xs, axis=0), max(m["stop"], last), prec
    raise ValueError(kind)


CONFIGS: list[tuple[str, list[tuple]]] = [
    ("1 seed (s0, default)", [("own", "s0")]),
    ("2 seeds (s0 + s1, --runs 2)", [("own", "s0"), ("own", "s1")]),
    ("3 seeds (s0 + s1 + s2)", [("own", "s0"), ("own", "s1"), ("own", "s2")]),
    ("s0 + s0 transposed (same seed)", [("own", "s0"), ("own", "s0T")]),
    ("s0 + s1 transposed", [("own", "s0"), ("own", "s1T")]),
    ("s0 + s1 + s1 transposed", [("own", "s0"), ("own", "s1"), ("own", "s1T")]),
    ("s0 + s1 cut at s0's pick", [("own", "s0"), ("at", "s1", "s0", 1.0)]),
    ("s0 + s1T cut at s0's pick", [("own", "s0"), ("at", "s1T", "s0", 1.0)]),
    ("s0 + s1T cut at 0.8 x s0's pick", [("own", "s0"), ("at", "s1T", "s0", 0.8)]),
    ("s0 + s1T cut at 1.2 x s0's pick", [("own", "s0"), ("at", "s1T", "s0", 1.2)]),
    ("s0 + s0T cut at s0's pick (same seed)", [("own", "s0"), ("at", "s0T", "s0", 1.0)]),
    ("s0 + s2 cut at s0's pick", [("own", "s0"), ("at", "s2", "s0", 1.0)]),
    ("s0 + s1 + s2, both cut at s0's pick", [("own", "s0"), ("at", "s1", "s0", 1.0), ("at", "s2", "s0", 1.0)]),
    ("s0 + s1T + s2, both cut at s0's pick", [("own", "s0"), ("at", "s1T", "s0", 1.0), ("at", "s2", "s0", 1.0)]),
    ("s0 + s1 + s1T, both cut at s0's pick", [("own", "s0"), ("at", "s1", "s0", 1.0), ("at", "s1T", "s0", 1.0)]),
    ("s0 + s1T, look-ahead 100/0.25", [("own", "s0"), ("short", "s1T", 100, 0.25)]),
    ("s0 + s1T, both look-ahead 100/0.25", [("short", "s0", 100, 0.25), ("short", "s1T", 100, 0.25)]),
    ("s0, look-ahead 100/0.25", [("short", "s0", 100, 0.25)]),
    ("s0 + s1, both look-ahead 100/0.25", [("short", "s0", 100, 0.25), ("short", "s1", 100, 0.25)]),
    ("s0 look-ahead 100/0.25 + s1 cut at its pick",
     [("short", "s0", 100, 0.25), ("at", "s1", "s0", 1.0, (100, 0.25))]),
    ("s0 + s1 + s2, all look-ahead 100/0.25",
     [("short", "s0", 100, 0.25), ("short", "s1", 100, 0.25), ("short", "s2", 100, 0.25)]),
    ("s0 + s1 + s1T, all look-ahead 100/0.25",
     [("short", "s0", 100, 0.25), ("short", "s1", 100, 0.25), ("short", "s1T", 100, 0.25)]),
    ("s0 look-ahead 100/0.25 + s1, s2 cut at its pick",
     [("short", "s0", 100, 0.25), ("at", "s1", "s0", 1.0, (100, 0.25)), ("at", "s2", "s0", 1.0, (100, 0.25))]),
    ("s0, EMA averaged at pick, +50, +100", [("ema_avg", "s0", (0, 50, 100))]),
    ("s0, EMA averaged at pick, -100..+100", [("ema_avg", "s0", (-100, -50, 0, 50, 100))]),
    ("bf16: s0", [("own", "s0bf")]),
    ("bf16: s0 + s1T", [("own", "s0bf"), ("own", "s1Tbf")]),
    ("bf16: s0 + s1T cut at s0's pick", [("own", "s0bf"), ("at", "s1Tbf", "s0bf", 1.0)]),
    ("bf16: s0 + s1T cut at 0.8 x s0's pick", [("own", "s0bf"), ("at", "s1Tbf", "s0bf", 0.8)]),
    ("bf16: s0, look-ahead 100/0.25 + s1T cut at its pick",
     [("short", "s0bf", 100, 0.25), ("at", "s1Tbf", "s0bf", 1.0, (100, 0.25))]),
    ("bf16: s0 + s1T, both look-ahead 100/0.25", [("short", "s0bf", 100, 0.25), ("short", "s1Tbf", 100, 0.25)]),
    ("bf16: s0 + s1T + fp32 s2, all look-ahead 100/0.25",
     [("short", "s0bf", 100, 0.25), ("short", "s1Tbf", 100, 0.25), ("short", "s2", 100, 0.25)]),
    ("cosine LR (warm-up 20, to 0.1 x at 1200): s0", [("own", "s0cos")]),
]


def analyse(report: dict, snap_dir: Path, sets: dict[str, list[str]]) -> list[dict]:
    images = []
    for rec in report["images"]:
        f = snap_dir / f"{rec['image']}.npz"
        if not f.exists():
            continue
        arrays = np.load(f)
        images.append(Logged(rec, arrays, arrays["reference"]))
    rows = []
    for label, specs in CONFIGS:
        per = {}
        for img in images:
            got = [member_image(img, s) for s in specs]
            if any(g is None for g in got):
                continue
            x = np.mean([g[0] for g in got], axis=0)
            steps = sum(g[1] for g in got)
            secs_2t = sum(g[1] * S_PER_STEP_2T[g[2]] for g in got)
            secs_1t = sum(g[1] * report["s_per_step_1t"].get(g[2], np.nan) for g in got)
            per[img.rec["image"]] = {"psnr": task_psnr("denoise", x, img.ref), "steps": steps,
                                     "seconds_2t": secs_2t, "seconds_1t": secs_1t}
        row = {"config": label, "members": [list(s) for s in specs], "per_image": per}
        for set_name, names in sets.items():
            got = [per[n] for n in names if n in per]
            if got and len(got) == len(names):
                row[set_name] = {k: float(np.mean([g[k] for g in got])) for k in got[0]}
        rows.append(row)
    return rows


def check_replay(report: dict) -> list[str]:
    """Does the offline replay with the default look-ahead reproduce each run's stop and pick?"""
    bad = []
    for rec in report["images"]:
        for m in rec["members"]:
            if m["overrides"].get("lr_schedule"):
                continue
            r = replay(m, limit=m["stop"])
            if r is None or r[0] != m["stop"] or r[1] != m["pick_step"]:
                bad.append(f"{rec['image']}/{m['member']}: replay {r}, engine stop {m['stop']} pick {m['pick_step']}")
    return bad


def print_table(rows: list[dict], sets: dict[str, list[str]], base: dict[str, float]) -> None:
    names = list(sets)
    head = f"{'configuration':52s}" + "".join(
        f" {n[:10]:>10s} {'vs 1':>6s} {'vs 2':>6s} {'steps':>6s} {'s@2t':>6s}" for n in names)
    print(head)
    print("-" * len(head))
    for row in rows:
        line = f"{row['config'][:52]:52s}"
        for n in names:
            v = row.get(n)
            if v is None:
                line += f" {'n/a':>10s} {'':6s} {'':6s} {'':6s} {'':6s}"
                continue
            b1, b2 = base.get((n, 1)), base.get((n, 2))
            d1 = "" if b1 is None else f"{v['psnr'] - b1:+.2f}"
            d2 = "" if b2 is None else f"{v['psnr'] - b2:+.2f}"
            line += f" {v['psnr']:10.2f} {d1:>6s} {d2:>6s} {v['steps']:6.0f} {v['seconds_2t']:6.1f}"
        print(line)


def time_members(precisions=("fp32", "bf16"), steps=60, warm=15) -> dict[str, float]:
    """Seconds per step of one member (128 px, random image) at this process's threads."""
    rng = np.random.default_rng(0)
    img = rng.random((128, 128, 3)).astype(np.float32)
    out = {}
    for prec in precisions:
        best = np.inf
        for _ in range(2):
            cfg = get_config(PRESET, task="denoise", stop="never", iterations=10**6, device="cpu",
                             preview_every=10, snapshot_every=10**6, precision=prec)
            run = Restoration(cfg, img)
            g = run.steps()
            for _ in range(warm):
                next(g)
            t0 = time.perf_counter()
            for _ in range(steps):
                next(g)
            best = min(best, (time.perf_counter() - t0) / steps)
            g.close()
            run.close()
        out[prec] = best
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", help="CBM3D9 images (default: all 9)")
    ap.add_argument("--photos", default="astronaut,coffee,chelsea", help="scikit-image photos ('' for none)")
    ap.add_argument("--members", default=DEFAULT_MEMBERS)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--data")
    ap.add_argument("--time", action="store_true", help="measure seconds per step first")
    ap.add_argument("--analyse", metavar="FILE", help="only analyse a JSON written earlier")
    ap.add_argument("--add", metavar="FILE", help="run --members on the images of a JSON written earlier "
                    "and add them to it (and to its snapshot files)")
    ap.add_argument("--out", default=str(OUT_DIR / "study_denoise.json"))
    ap.add_argument("--snapshots", default="/tmp/study_denoise_snaps")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": members s0 and s1 on one 48 px made-up "
                    "image, at most 30 steps each, snapshots in a temporary folder")
    a = ap.parse_args(argv)
    if a.smoke:
        import atexit
        import shutil
        import tempfile
        a.data, a.images, a.photos, a.crop = str(smoke_data(["CBM3D9"], n=1)), None, "", 48
        a.members, a.every, a.time, a.analyse, a.add = "s0,s1", 5, False, None, None
        a.snapshots = tempfile.mkdtemp(prefix="study-denoise-smoke-")
        atexit.register(shutil.rmtree, a.snapshots, True)
        COMMON["iterations"] = 30
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    snap_dir = Path(a.snapshots)
    snap_dir.mkdir(parents=True, exist_ok=True)

    if a.analyse:
        report = json.load(open(a.analyse))
    elif a.add:
        report = json.load(open(a.add))
        a.out = a.add
        members = [m.strip() for m in a.members.split(",") if m.strip()]
        folders = {"CBM3D9": data_dir(a.data) / "CBM3D9", "photos": PHOTO_DIR}
        where = {n: k for k, v in report["sets"].items() for n in v}
        for rec in report["images"]:
            path = folders[where[rec["image"]]] / f"{rec['image']}.png"
            clean = centre_crop(load_clean(path, "denoise"), report["args"]["crop"])
            case = make_case("denoise", clean, image_seed(path.stem, 0), 1)
            f = snap_dir / f"{rec['image']}.npz"
            arrays = dict(np.load(f))
            assert np.array_equal(arrays["reference"], case["reference"].astype(np.float32))
            picks = {m["member"]: m["pick_step"] for m in rec["members"]}
            for name in members:
                if name in picks:
                    continue
                refs = [picks[r] for r in REFERENCES if r in picks]
                t0 = time.perf_counter()
                res, arr = run_member(name, case, 0, max(refs) if refs else None, report["every"])
                rec["members"].append(res)
                arrays.update(arr)
                log(f"{path.stem:10s} {name:6s} stop {res['stop']:5d} pick {res['pick_step']:5d} "
                    f"written {res['written']:.2f} oracle {res['oracle_ema']:.2f} @{res['oracle_step']} "
                    f"{res['s_per_step']:.3f} s/step ({time.perf_counter() - t0:.0f} s)")
            np.savez(f, **arrays)
            write_json(a.out, report)
    else:
        cbm = select_images(data_dir(a.data) / "CBM3D9", a.images)
        photos = photo_paths(a.photos) if a.photos else []
        report = {"environment": environment("cpu"), "args": vars(a), "every": a.every,
                  "s_per_step_1t": time_members() if a.time else {}, "images": [],
                  "sets": {"CBM3D9": [p.stem for p in cbm], "photos": [p.stem for p in photos]}}
        if a.time:
            log(f"s/step at {torch.get_num_threads()} thread(s): {report['s_per_step_1t']}")
        members = [m.strip() for m in a.members.split(",") if m.strip()]
        for path in photos + cbm:   # the outside photos first: a partial run still has both sets
            clean = centre_crop(load_clean(path, "denoise"), a.crop)
            case = make_case("denoise", clean, image_seed(path.stem, 0), 1)
            rec = {"image": path.stem, "every": a.every, "members": []}
            arrays = {"reference": case["reference"].astype(np.float32)}
            picks: dict[str, int] = {}
            for name in members:
                refs = [picks[r] for r in REFERENCES if r in picks]
                t0 = time.perf_counter()
                res, arr = run_member(name, case, image_seed(path.stem, 0), max(refs) if refs else None, a.every)
                picks[name] = res["pick_step"]
                rec["members"].append(res)
                arrays.update(arr)
                log(f"{path.stem:10s} {name:6s} stop {res['stop']:5d} pick {res['pick_step']:5d} "
                    f"written {res['written']:.2f} oracle {res['oracle_ema']:.2f} @{res['oracle_step']} "
                    f"{res['s_per_step']:.3f} s/step ({time.perf_counter() - t0:.0f} s)")
            np.savez(snap_dir / f"{path.stem}.npz", **arrays)
            report["images"].append(rec)
            write_json(a.out, report)

    sets = {k: [n for n in v if any(r["image"] == n for r in report["images"])] for k, v in report["sets"].items()}
    sets = {k: v for k, v in sets.items() if v}
    rows = analyse(report, snap_dir, sets)
    base = {}
    for row in rows[:2]:
        for n in sets:
            if n in row:
                base[(n, 1 if row is rows[0] else 2)] = row[n]["psnr"]
    print(f"seconds per step at 1 thread (this study): {report.get('s_per_step_1t')}; "
          f"s@2t = steps x {S_PER_STEP_2T} (benchmarks/README.md, fp32 2 threads; bf16 x 0.87)")
    print_table(rows, sets, base)
    bad = check_replay(report)
    print(f"replay of the default rule matches the engine on "
          f"{sum(len(r['members']) for r in report['images']) - len(bad)} runs" +
          (f"; differs on: {'; '.join(bad)}" if bad else ""))
    # the members on their own
    print("\nmembers alone (own rule):")
    for name in {m["member"] for r in report["images"] for m in r["members"]}:
        for set_name, names in sets.items():
            ms = [m for r in report["images"] if r["image"] in names for m in r["members"] if m["member"] == name]
            if len(ms) == len(names):
                print(f"  {name:6s} {set_name:8s} written {np.mean([m['written'] for m in ms]):.2f}  oracle EMA "
                      f"{np.mean([m['oracle_ema'] for m in ms]):.2f}  stop {np.mean([m['stop'] for m in ms]):.0f}  "
                      f"pick {np.mean([m['pick_step'] for m in ms]):.0f}  "
                      f"s/step {np.mean([m['s_per_step'] for m in ms]):.3f}")
    report["ensembles"] = rows
    write_json(a.analyse or a.out, report)


if __name__ == "__main__":
    sys.exit(main())
