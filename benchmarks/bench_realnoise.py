"""Denoising real camera photos end to end with the defaults (issue 20).

Per case: the noisy input's PSNR, CBM3D told a sigma as a user would get it (the photo's own
fine-scale estimate, ``engine.stopping.noise_sigma``) and told the true one (the standard
deviation of noisy - reference), DIP's written result, its own best iterate (the best PSNR
of the output or its moving average at the preview cadence: it looks at the reference, so no
rule can pick it), the gap between the two, where the run stopped, the seconds, and the
noise as the run measured it. With ``--runs N`` (N seeds averaged, the default for a small
crop) "own best" and "gap" stay the first seed's, and "seeds' bests" is what the N seeds
could have written together (each at its own best iterate, averaged); "written gap" is what
was written against that.

    python benchmarks/bench_realnoise.py --set cc --crop 160 [--images a,b] [--runs 1] [--data DIR]
        [--override KEY=JSON ...] [--baselines cbm3d|none] [--markdown] [--out FILE]
    python benchmarks/bench_realnoise.py --smoke        # seconds: two tiny made-up photos

Sets (realnoise_cases.py): ``cc`` CC_real, ``ccjpeg`` the same as JPEG 88, ``sim`` scikit-image
photos through a simulated camera, ``white`` CBM3D9 with sigma 25, ``skwhite`` scikit-image
photos with sigma 25. Run on an idle machine: seconds are meaningless beside another torch
process on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from common import (NA, OUT_DIR, BenchError, Column, environment, fat, fnum, log, markdown_table, mean,
                    parse_override, text_table, write_json)

from realnoise_cases import cases_for, smoke_cases
from engine.metrics import task_psnr
from engine.presets import get_config
from engine.seeds import Seeds
from engine.stopping import noise_sigma


def _cbm3d(img: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d
    return np.clip(bm3d.bm3d_rgb(img, sigma_psd=sigma), 0, 1).astype(np.float32)


def run_case(case: dict, a, overrides: dict) -> dict:
    img, ref = case["image"], case["reference"]
    cfg = get_config(a.preset, seed=a.seed, device=a.device, **overrides)
    n = a.runs or 1
    seeds = Seeds(cfg, img, n, reference=ref)
    run = seeds.runs[0]
    best = (-np.inf, 0, "")
    bests: dict[int, tuple[float, np.ndarray]] = {}     # each seed's best preview up to its stop
    t0 = time.perf_counter()
    for k, rec in seeds.steps():
        if not rec.psnr:
            continue
        for kind, image in (("output", rec.preview), ("ema", rec.preview_ema)):
            v = rec.psnr.get(kind)
            if v is None:
                continue
            if k == 0 and v > best[0]:
                best = (v, rec.step, kind)
            if image is not None and v > bests.get(k, (-np.inf,))[0]:
                bests[k] = (v, image)
    seconds = time.perf_counter() - t0
    written = np.mean(seeds.picks(cfg.pick), axis=0) if n > 1 else seeds.picks(cfg.pick)[0]
    true_sigma = float(np.std(img - ref))
    def score(x: np.ndarray) -> float:   # PSNR by the denoising protocol: every channel, range 1
        return task_psnr("denoise", x, ref)

    row = {"image": case["name"], "set": case["set"], "size": f"{img.shape[1]}x{img.shape[0]}",
           "input": score(img), "written": score(written), "one_run": score(seeds.picks(cfg.pick)[0]),
           "oracle": best[0], "oracle_step": best[1], "oracle_kind": best[2],
           "pick_step": None if run.suggested is None else run.suggested[0],
           "stop_step": run.step, "bound": cfg.iterations, "stopped_early": run.stopped_early,
           "seconds": seconds, "runs": n, "reason": run.stop_reason,
           "true_sigma": 255 * true_sigma, "fine_sigma": 255 * noise_sigma(img),
           "noise": None if run.noise is None else run.noise.to_dict(),
           "holdout": run.task.holdout_note}
    row["gap"] = row["one_run"] - row["oracle"]
    if n > 1 and len(bests) == n:
        # what the seeds could have written together: each at its own best iterate, averaged
        row["seeds_oracle"] = score(np.mean([im for _, im in bests.values()], axis=0))
        row["seeds_gap"] = row["written"] - row["seeds_oracle"]
    if a.baselines == "cbm3d":
        row["cbm3d_est"] = score(_cbm3d(img, noise_sigma(img)))
        row["cbm3d_true"] = score(_cbm3d(img, true_sigma))
    return row


def _noise_cell(r: dict) -> str:
    n = r.get("noise")
    return "" if not n else f"{n['sigma'] * 255:.1f}/{r['true_sigma']:.1f}, rho {n['rho'][0]:.2f}" if n["rho"] else NA


COLUMNS = [
    Column("image", "image", 20, lambda v: str(v)[:20], "<"),
    Column("*", "noise: measured/true, rho(1)", 28, _noise_cell),
    Column("input", "input", 6, fnum()),
    Column("cbm3d_est", "CBM3D est. sigma", 16, fnum()),
    Column("cbm3d_true", "CBM3D true sigma", 16, fnum()),
    Column("written", "written", 7, fnum()),
    Column("*", "own best", 12, fat("oracle", "oracle_step")),
    Column("gap", "gap", 6, fnum()),
    Column("seeds_oracle", "seeds' bests", 12, fnum()),
    Column("seeds_gap", "written gap", 11, fnum()),
    Column("*", "stop / bound", 12, lambda r: f"{r['stop_step']}/{r['bound']}"),
    Column("seconds", "seconds", 7, fnum(1)),
]

SUMMED = ("input", "cbm3d_est", "cbm3d_true", "written", "one_run", "oracle", "gap", "seeds_oracle", "seeds_gap",
          "seconds")


def summary(rows: list[dict]) -> dict:
    m = {k: mean([r.get(k) for r in rows]) for k in SUMMED}
    m["image"] = "average"
    m["worst_gap"] = min(r["gap"] for r in rows)
    m["worst_seeds_gap"] = min((r["seeds_gap"] for r in rows if "seeds_gap" in r), default=None)
    m["early"] = sum(r["stop_step"] < 0.75 * r["bound"] for r in rows)
    return m


def _avg_row(rows: list[dict]) -> dict:
    s = summary(rows)
    s.update(oracle_step=int(mean([r["oracle_step"] for r in rows]) or 0),
             stop_step=int(mean([r["stop_step"] for r in rows]) or 0), bound=rows[0]["bound"])
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="cc")
    ap.add_argument("--images")
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--preset", default="denoise-fast")
    ap.add_argument("--runs", type=int, default=1, help="seeds averaged (the issue's protocol: 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--data", help="a datasets folder holding CC_real/ (default ../shared/datasets): other "
                                   "real photos with their references, NAME_real.png and NAME_mean.png")
    ap.add_argument("--baselines", default="cbm3d", choices=("cbm3d", "none"))
    ap.add_argument("--smoke", action="store_true", help="two tiny made-up photos, 40 steps: seconds")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    try:
        overrides = dict(parse_override(o) for o in a.override)
        if a.smoke:
            overrides.setdefault("iterations", 40)
            overrides.setdefault("preview_every", 5)
            overrides.setdefault("stop_patience", 10)
            a.baselines = "none" if a.baselines == "cbm3d" and not _has_bm3d() else a.baselines
            cases = smoke_cases()
        else:
            cases = cases_for(a.set, a.crop, a.images, a.data)
    except BenchError as e:
        print(f"bench_realnoise: {e}", file=sys.stderr)
        return 2
    out = a.out or str(OUT_DIR / f"realnoise_{'smoke' if a.smoke else a.set}.json")
    rows: list[dict] = []
    for case in cases:
        log(f"{case['name']} ({case['set']})")
        rows.append(run_case(case, a, overrides))
        write_json(out, {"env": environment(a.device), "args": vars(a), "rows": rows, "summary": summary(rows)})
    table = rows + [_avg_row(rows)]
    print(text_table(COLUMNS, table, separators=[len(rows)]))
    s = summary(rows)
    print(f"gap to own best: mean {s['gap']:+.2f} dB, worst {s['worst_gap']:+.2f}; stopped before 0.75 of "
          f"the bound: {s['early']} of {len(rows)}" + ("" if s.get("seeds_gap") is None else
          f"; written - the seeds' bests averaged: mean {s['seeds_gap']:+.2f}, worst {s['worst_seeds_gap']:+.2f}")
          + ("" if s.get("cbm3d_true") is None else
          f"; written - CBM3D (true sigma): {s['written'] - s['cbm3d_true']:+.2f} dB"))
    if a.markdown:
        print(markdown_table(COLUMNS, table, bold_rows=[len(rows)]))
    return 0


def _has_bm3d() -> bool:
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
