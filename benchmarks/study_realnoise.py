"""Which held-out geometry finds the best iterate on real camera noise? (issue 20)

Each case is run once for a fixed number of steps (``stop='never'``) with several held-out
sets taken out of the fit *at the same time* (random pixels, and square blocks scored at
their centre only, at several distances from the nearest fitted pixel); per step the script
logs each set's error on the moving average, the data term and the moving average's
residual on the fitted pixels, and every ``--every`` steps the PSNR of the average against
the clean reference. The rules are then replayed offline (``--replay``) on those curves:
one run per case serves every geometry and look-ahead. Where the log has the engine's blocks
(``b7g3``), the replay adds the engine's rule (the gate at BLOCK_GATE x the measured level,
then their look-ahead), the fit's slowing alone (engine.stopping.Slowing's ratio over its
lag) and the geometric mean of the two picks, which the engine writes.

    python benchmarks/study_realnoise.py --set cc --crop 160 --steps 2000 --out benchmarks/out/study_real.json
    python benchmarks/study_realnoise.py --replay benchmarks/out/study_real.json

Cases (``--set``): ``cc`` the real photos of ../shared/datasets/CC_real (reference: the mean
of ~500 shots), ``ccjpeg`` the same saved as JPEG quality 88, ``sim`` scikit-image photos
through a simulated camera (realnoise_cases.py), ``kodak`` CBM3D9 crops with white noise of
sigma 25 (nothing may get worse there).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from common import OUT_DIR, environment, log, write_json

from realnoise_cases import cases_for, smoke_cases
from engine.presets import get_config
from engine.noise import measure_noise
from engine.run import Restoration
from engine.stopping import BLOCK_GATE, SLOWING_LAG, SLOWING_RATIO, BestTracker, Discrepancy
from engine.tasks import block_holdout, to_tensor


def _geometries(h: int, w: int, seed: int, spec: str) -> dict[str, np.ndarray]:
    """The held-out sets, disjoint: name -> bool H x W of the *scored* pixels; the union of
    everything held out comes back under '_held'. ``spec``: 'BLOCK:FRACTION:GAP,GAP;...'
    (e.g. '7:0.05:1,2,3,4;3:0.03:1,2'): blocks of that side scored at >= GAP px from any
    fitted pixel (``b7g3``), plus 2 % random pixels (``pix``). A fourth field names a further
    draw of the same geometry ('7:0.05:3;7:0.05:3:b' gives ``b7g3`` and ``b7g3b``): scores
    from several disjoint sets on one trajectory show what more scored pixels would give."""
    rng = np.random.default_rng(seed)
    held_all = np.zeros((h, w), bool)
    scored = {}
    for part in spec.split(";"):
        block, frac, gaps, *tag = part.split(":")
        held, dist = block_holdout(h, w, float(frac), int(block), int(rng.integers(2**31)), avoid=held_all)
        held_all |= held
        for g in gaps.split(","):
            scored[f"b{block}g{g}{''.join(tag)}"] = held & (dist >= int(g))
    pix = (rng.random((h, w)) < (0.02 if "pix" in spec else 0.005)) & ~_grow(held_all, 2)
    held_all |= pix
    scored["pix"] = pix
    scored["_held"] = held_all
    return scored


def _grow(m: np.ndarray, r: int) -> np.ndarray:
    out = m.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(m, dy, 0), dx, 1)
    return out


def run_case(case: dict, a) -> dict:
    img, ref = case["image"], case["reference"]
    h, w = img.shape[:2]
    cfg = get_config("denoise-fast", iterations=a.steps, stop="never", seeds=1, holdout=0.0,
                     discrepancy=False, seed=a.seed, preview_every=10**6, snapshot_every=10**6,
                     device="cpu")
    run = Restoration(cfg, img)
    sets = _geometries(h, w, 1234 + a.seed, a.geoms)
    held = sets.pop("_held")
    t = run.task
    fit = to_tensor((~held)[:, :, None].astype(np.float32), run.device)
    t.weight = fit
    names = sorted(sets)
    masks = torch.stack([to_tensor(sets[n][:, :, None].astype(np.float32), run.device)[0] for n in names])
    counts = masks.sum(dim=(1, 2, 3)).clamp(min=1) * img.shape[2]
    nfit = float(fit.sum()) * img.shape[2]
    refc = to_tensor(ref, run.device)
    logs = {n: [] for n in names}
    logs.update(loss=[], resid=[], variance=[])
    curve = {"step": [], "ema": [], "output": [], "rho1": [], "rho2": [], "rvar": []}
    kept = []  # the moving average every --every steps, as uint16 (for --keep)
    t0 = time.perf_counter()
    for rec in run.steps():
        ema = run._ema
        if ema is None:
            continue
        with torch.no_grad():
            d2 = (ema - t.target) ** 2
            errs = (d2 * masks).sum(dim=(1, 2, 3)) / counts
            resid = (d2 * fit).sum() / nfit
            row = torch.cat([errs, resid[None]]).tolist()
        for n, v in zip(names, row[:-1]):
            logs[n].append(v)
        logs["resid"].append(row[-1])
        logs["loss"].append(rec.loss)
        logs["variance"].append(rec.variance)
        if rec.step % a.every == 0:
            with torch.no_grad():
                curve["step"].append(rec.step)
                if a.keep:
                    kept.append((ema[0].clamp(0, 1) * 65535).round().to(torch.uint16).cpu().numpy())
                for k, x in (("ema", ema), ("output", run._out)):
                    mse = float(((x.clamp(0, 1) - refc) ** 2).mean())
                    curve[k].append(10 * np.log10(1 / mse))
                # the residual's own correlation: does the fit leave noise-like residue, or has
                # it begun to take the noise's low frequencies (the residual whitens)?
                r = t.target - ema
                r = r - r.mean(dim=(2, 3), keepdim=True)
                v = float((r * r).mean())
                curve["rvar"].append(v)
                for d in (1, 2):
                    c = float(((r[..., d:] * r[..., :-d]).mean() + (r[..., d:, :] * r[..., :-d, :]).mean()) / 2)
                    curve[f"rho{d}"].append(c / v)
    if a.keep:
        # written with the run so that averages of iterates around a pick can be scored offline
        Path(a.keep).mkdir(parents=True, exist_ok=True)    # an hour's run must not die at its first save
        np.savez_compressed(f"{a.keep}/{case['set']}_{case['name']}.npz", steps=np.asarray(curve["step"]),
                            ema=np.stack(kept), reference=ref.astype(np.float32), noisy=img.astype(np.float32))
    return {"image": case["name"], "set": case["set"], "seconds": time.perf_counter() - t0,
            "true_sigma": float(np.std(img - ref)), "measured_sigma": measure_noise(img).sigma,
            "counts": {n: int(sets[n].sum()) for n in names},
            "held_fraction": float(held.mean()), **logs, "psnr": curve}


# ------------------------------------------------------------------------------ replay

def psnr_at(r: dict, step: int) -> float:
    steps = np.asarray(r["psnr"]["step"])
    return r["psnr"]["ema"][int(np.argmin(np.abs(steps - step)))]


def replay_holdout(r: dict, key: str, pmin: int, ratio: float, gain_db: float = 0.02) -> tuple[int, int]:
    """(pick step, stop step) of the engine's held-out rule on one logged score."""
    tr = BestTracker("holdout", pmin, ratio, gain_db)
    vals = r[key]
    for i, v in enumerate(vals):
        step = i + 1
        tr.offer(step, "ema", v)
        if step >= 100 and tr.should_stop(step, 0):
            return tr.best[0], step
    return tr.best[0], len(vals)


DISC_C = 0.8   # the residual at the best iterate: 0.58-0.92 x the true variance on CC_real


def replay_variance(r: dict, pmin: int, ratio: float) -> tuple[int, int]:
    """(pick step, stop step) of ES-WMV (Wang et al.): the output at the windowed moving
    variance's minimum, confirmed by the engine's look-ahead."""
    tr = BestTracker("variance", pmin, ratio, 0.0)
    for i, v in enumerate(r.get("variance", [])):
        step = i + 1
        if v is not None:
            tr.offer(step, "output", v)
        if step >= 100 and tr.best is not None and tr.should_stop(step, 0):
            return tr.best[0], step
    return (tr.best[0] if tr.best is not None else len(r["loss"])), len(r["loss"])


def replay_discrepancy(r: dict, sigma: float, c: float = DISC_C) -> int:
    """The first step at which the moving average's residual on the fitted pixels falls under
    ``c`` x sigma^2 (Morozov's discrepancy principle, a little under the noise level)."""
    below = np.nonzero(np.asarray(r["resid"]) < c * sigma ** 2)[0]
    return int(below[0]) + 1 if len(below) else len(r["resid"])


ENGINE_BLOCKS = "b7g3"   # the engine's blocks: 7 px, 5 %, scored 3 px in (engine.tasks)
RATE, RATE_LAG = SLOWING_RATIO, SLOWING_LAG   # the engine's slowing (benchmarks/README.md)


def replay_engine(r: dict) -> tuple[int, int]:
    """(pick, stop) of the engine's rule on a camera's noise: the blocks count once the data
    term is within BLOCK_GATE x the measured level squared, then the look-ahead 100 / 0.25."""
    gate = Discrepancy(BLOCK_GATE * r["measured_sigma"] ** 2 * (1 - r["held_fraction"]))
    tr = BestTracker("holdout", 100, 0.25, 0.02)
    vals = r[ENGINE_BLOCKS]
    for i, v in enumerate(vals):
        step = i + 1
        tr.offer(step, "ema", v)
        if gate.feed(step, r["loss"][i]):
            tr.restart()
        if step >= 100 and tr.should_stop(step, 0) and not gate.waiting(step, tr.gain_step):
            return tr.best[0], step
    return tr.best[0], len(vals)


def replay_rate(r: dict, ratio: float = RATE, lag: int = RATE_LAG) -> int:
    """The first step (from 100) at which the moving average's residual on the fitted pixels
    is still ``ratio`` or more of what it was ``lag`` steps before: the fit has slowed from
    drawing the picture to copying the noise. No noise level needed."""
    x = np.asarray(r["resid"], float)
    hit = np.nonzero(x[lag:] >= ratio * x[:-lag])[0] + lag + 1      # steps (1-based)
    hit = hit[hit >= 100]
    return int(hit[0]) if len(hit) else len(x)


def oracle(r: dict) -> tuple[float, int]:
    i = int(np.argmax(r["psnr"]["ema"]))
    return r["psnr"]["ema"][i], r["psnr"]["step"][i]


def replay(runs: list[dict]) -> None:
    """Each held-out set's look-ahead rule, then the discrepancy pick (no look-ahead: the step
    the residual crosses DISC_C x sigma^2) told the true sigma (what a perfect noise estimate
    would give) and the run's measured sigma (engine.noise, what it has)."""
    keys = [k for k in runs[0] if k.startswith("b") or k == "pix"]
    rules = [(k, p, q) for k in keys for p, q in ((100, 0.25), (200, 0.5))]
    if any(v is not None for v in runs[0].get("variance", [])):
        rules += [("wmv", 100, 0.5), ("wmv", 500, 1.0)]
    rules += [(f"disc:{src}", 0, DISC_C) for src in ("true_sigma", "measured_sigma") if src in runs[0]]
    if ENGINE_BLOCKS in runs[0] and "held_fraction" in runs[0]:
        # the engine's rule; the residual's slowing alone; the geometric mean of the two picks
        rules += [("engine", 100, 0.25), ("rate", RATE_LAG, RATE), ("geo", RATE_LAG, RATE)]
    print(f"{'image':24s} {'oracle':>12s} " + " ".join(f"{k}/{p}/{q:<5}"[:16].rjust(16) for k, p, q in rules))
    tot = {rule: [] for rule in rules}
    for r in runs:
        o, os_ = oracle(r)
        cells = []
        for rule in rules:
            if rule[0] == "wmv":
                pick, stop = replay_variance(r, *rule[1:])
            elif rule[0] in ("engine", "rate", "geo"):
                e, e_stop = replay_engine(r)
                q = replay_rate(r)
                pick, stop = {"engine": (e, e_stop), "rate": (q, q),
                              "geo": (int(round(np.sqrt(e * q))), max(e_stop, q))}[rule[0]]
            elif rule[0].startswith("disc:"):
                sigma = r[rule[0][5:]] / (255.0 if r[rule[0][5:]] > 1 else 1.0)  # early logs: levels
                pick = stop = replay_discrepancy(r, sigma)
            else:
                pick, stop = replay_holdout(r, *rule)
            gap = psnr_at(r, pick) - o
            tot[rule].append((gap, stop))
            cells.append(f"{gap:+.2f}@{pick}/{stop}".rjust(16))
        print(f"{r['image'][:24]:24s} {o:6.2f}@{os_:<5d} " + " ".join(cells))
    bound = 0.75 * len(runs[0]["loss"])
    print(f"{'mean gap / worst / stops<0.75':24s} {'':12s} " + " ".join(
        f"{np.mean([g for g, _ in v]):+.2f}/{min(g for g, _ in v):+.2f}/{sum(s < bound for _, s in v)}".rjust(16)
        for v in tot.values()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="cc")
    ap.add_argument("--images")
    ap.add_argument("--data", help="a datasets folder holding CC_real/ (default ../shared/datasets)")
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--geoms", default="7:0.05:1,2,3,4;3:0.03:1,2", help="held-out blocks: BLOCK:FRACTION:GAPS;...")
    ap.add_argument("--out")
    ap.add_argument("--keep", help="a folder: the moving average every --every steps per case (.npz)")
    ap.add_argument("--replay", nargs="+")
    ap.add_argument("--smoke", action="store_true", help="two tiny made-up photos, 40 steps, then the replay")
    a = ap.parse_args(argv)
    if a.replay:
        runs = [r for f in a.replay for r in json.load(open(f))["runs"]]
        replay(runs)
        return 0
    torch.set_num_threads(a.threads)
    out = a.out or str(OUT_DIR / f"study_realnoise_{'smoke' if a.smoke else a.set}.json")
    runs = []
    if a.smoke:
        a.steps, a.every, a.geoms = min(a.steps, 40), 5, "7:0.2:3;3:0.1:2"
    for case in (smoke_cases() if a.smoke else cases_for(a.set, a.crop, a.images, a.data)):
        log(f"{case['name']}: {a.steps} steps")
        runs.append(run_case(case, a))
        write_json(out, {"env": environment("cpu"), "args": vars(a), "runs": runs})
    replay(runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
