"""Restoration quality of the engine on the paper's benchmark sets, next to classic
baselines and the paper's numbers.

    python benchmarks/bench_quality.py --task denoise  [--set CBM3D9]  [--crop 128] ...
    python benchmarks/bench_quality.py --task superres [--set Set5] [--scale 4|8] ...
    python benchmarks/bench_quality.py --task inpaint  [--set Heide11] ...
    python benchmarks/bench_quality.py --smoke [--task T] --out PATH   # seconds: a 48 px made-up image

Protocol (../shared/datasets/README.md): denoise adds N(0, 25/255) and clips, scores all
channels; superres makes the LR input with Pillow LANCZOS and scores the Y channel with
4 pixels shaved; inpaint drops 50% of the pixels (Bernoulli) and scores the result. Every
degradation has a fixed seed per image (from its name), so runs are comparable.

'written' is what the engine writes by itself: with the default ``stop='auto'`` the run stops
at the best iterate its stopping rule found (engine/stopping.py) and writes it. 'oracle' is
the best PSNR of the output or its moving average seen at the preview cadence: it looks at
the clean image, so no real run can pick it; 'gap' = written - oracle is what the rule lost.
With ``--ttq-target FILE`` (the JSON of an earlier run, e.g. of the paper's network) a
time-to-quality table is added: seconds until this run's output or average first came
within 0.1 dB of that run's oracle on the same image.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import (OUT_DIR, SMOKE_HELP, BenchError, Column, centre_crop, data_dir, environment, fat, fint,
                    fmt_seconds, fnum, log, markdown_table, mean, package_version, select_images, smoke_data,
                    text_table, write_json)

from engine import degrade
from engine.errors import DIPError
from engine.imageio import load_image
from engine.metrics import psnr_protocol, task_psnr
from engine.presets import get_config
from engine.seeds import Seeds, seed_count
from engine.tasks import make_task

SIGMA = 25.0          # on the 0..255 scale
DROP = 0.5            # fraction of pixels removed for inpainting
TV_WEIGHT = 0.08      # denoise_tv_chambolle weight, tuned once by eye for sigma 25
BIHARMONIC_MAX_MISSING = 400_000   # beyond this the sparse solve gets slow and memory-hungry
PROGRESS_EVERY_S = 60.0

DEFAULT_SET = {"denoise": "CBM3D9", "superres": "Set5", "inpaint": "Heide11"}
BASELINES = {"denoise": ("cbm3d", "nlm", "tv"), "superres": ("bicubic",), "inpaint": ("biharmonic",)}
BASELINE_TITLES = {"cbm3d": "CBM3D", "nlm": "NLM", "tv": "TV", "bicubic": "bicubic", "biharmonic": "biharm."}

# The paper's numbers (arXiv 1711.10925; ../shared/datasets/README.md). Per image where the
# paper gives them; "average" is the set average the paper states (dip_* / baseline keys).
PAPER: dict[str, dict[str, Any]] = {
    "denoise": {
        "per_image": {},
        "average": {"last": 29.22, "ema": 30.43, "cbm3d": 31.42, "nlm": 30.26},
        "note": "paper: CBM3D9 averages only (DIP last 29.22 at 1800 steps, EMA 30.43)",
    },
    "superres4": {
        "per_image": {"baby": 31.49, "bird": 31.80, "butterfly": 26.23, "head": 31.04, "woman": 28.93},
        "average": {"last": 29.89, "bicubic": 28.44},
        "note": "paper: Set5 x4, DIP (last iterate, 2000 steps) per image; bicubic average 28.44",
    },
    "superres8": {
        "per_image": {},
        "average": {"last": 25.88, "bicubic": 24.37},
        "note": "paper: Set5 x8 averages only (DIP 25.88, bicubic 24.37)",
    },
    "inpaint": {
        "per_image": {"barbara": 32.22, "boat": 33.06, "house": 39.16, "lena512": 36.16,
                      "peppers256": 33.05, "cameraman256": 29.8, "couple": 32.52,
                      "fingerprint": 32.84, "hill": 32.77, "man": 32.20, "montage": 34.54},
        "average": {},
        "note": "paper: Heide11, 50% dropped, DIP (11000 steps) per image; average = mean of those",
    },
}


# ------------------------------------------------------------------------------ setup

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("denoise", "superres", "inpaint"))
    ap.add_argument("--set", dest="image_set", help="image set folder under the datasets folder "
                    "(default: CBM3D9 / Set5 / Heide11)")
    ap.add_argument("--data", help="datasets folder (default ../shared/datasets beside the project root)")
    ap.add_argument("--images", help="comma list of image names (file stems, any case); default all")
    ap.add_argument("--crop", type=int, help="centre N x N crop of each (HR) image, so a CPU finishes")
    ap.add_argument("--preset", help="engine preset (default: denoise / sr4 or sr8 / inpaint-drop)")
    ap.add_argument("--iterations", type=int, help="override the preset's number of steps")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                    help="any config field, JSON value, e.g. --override preview_every=10 "
                         "--override channels_down=[32,32,32,32,32]")
    ap.add_argument("--scale", type=int, default=4, choices=(4, 8), help="super-resolution factor")
    ap.add_argument("--seed", type=int, default=0, help="DIP seed; also offsets the degradation seeds")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    ap.add_argument("--baselines", help="comma list (denoise: cbm3d,nlm,tv; superres: bicubic; "
                    "inpaint: biharmonic), or 'none'; default all of the task's")
    ap.add_argument("--out", help="JSON report (default benchmarks/out/quality_<task>.json)")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--mask-beside", action="store_true",
                    help="inpaint: use the mask file NAME_mask.png beside each image (the paper's figures, "
                         "e.g. --set DIP_repo_data/inpainting --images kate) instead of a 50%% random drop; "
                         "colour images stay colour")
    ap.add_argument("--runs", type=int,
                    help="run N seeds per image and write the mean of their picks (as restore --runs N); "
                         "'written' is the mean, 'one run' the first seed's pick, seconds the wall clock; "
                         "default: the preset's seeds (engine/seeds.py)")
    ap.add_argument("--ttq-target", help="JSON of an earlier bench_quality run: add a time-to-quality "
                    "table (seconds to come within 0.1 dB of that run's oracle on each image)")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one 48 px made-up image, the task's "
                    "fast preset, 20 steps, one seed, no baselines (the task: denoise unless given)")
    a = ap.parse_args(argv)
    if a.smoke:
        a.task = a.task or "denoise"
        sets = [f"Set5_DIP_x{a.scale}GT" if a.task == "superres" else DEFAULT_SET[a.task]]
        a.data, a.image_set, a.images, a.mask_beside = str(smoke_data(sets, n=1)), sets[0], None, False
        a.crop, a.iterations, a.runs, a.baselines = 48, 20, 1, "none"
        a.preset = a.preset or {"denoise": "denoise-fast", "inpaint": "inpaint-fast", "superres": "sr-fast"}[a.task]
        a.override = [*a.override, "preview_every=5"]
    elif a.task is None:
        ap.error("--task is required")
    if a.crop is not None and a.crop < 8:
        ap.error("--crop must be at least 8")
    if a.iterations is not None and a.iterations < 1:
        ap.error("--iterations must be at least 1")
    return a


def image_seed(stem: str, base: int) -> int:
    """A fixed seed per image, independent of which other images are run."""
    return (zlib.crc32(stem.lower().encode()) + 7919 * base) % 2**31


def load_clean(path: Path, task: str, keep_colour: bool = False) -> np.ndarray:
    img = load_image(path).array
    if task == "denoise" and img.shape[2] != 3:
        img = np.repeat(img[:, :, :1], 3, axis=2)
    if task == "inpaint" and img.shape[2] != 1 and not keep_colour:
        # the Heide11 protocol is grayscale; a colour file is scored on its luma
        img = (img[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
    return img


def make_case(task: str, clean: np.ndarray, seed: int, scale: int,
              mask: np.ndarray | None = None) -> dict[str, Any]:
    """The degraded input (+ mask) and the reference the output is scored against."""
    if mask is not None:   # a figure's own mask: known pixels kept, the rest zeroed
        return {"image": clean * mask[:, :, None], "mask": mask, "reference": clean}
    if task == "denoise":
        return {"image": degrade.add_noise(clean, SIGMA, seed=seed), "mask": None, "reference": clean}
    if task == "inpaint":
        image, mask = degrade.drop_pixels(clean, DROP, seed=seed)
        return {"image": image, "mask": mask, "reference": clean}
    hr = degrade.crop_to_multiple(clean, scale)
    return {"image": degrade.downscale(hr, scale), "mask": None, "reference": hr}


# ------------------------------------------------------------------------------ baselines

def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0), time.perf_counter() - t0


def baseline(name: str, task: str, case: dict[str, Any], cfg: Any) -> tuple[np.ndarray, float, dict]:
    """(result, seconds, settings) of a classic method; raises ImportError if unavailable."""
    img, mask = case["image"], case["mask"]
    sigma = SIGMA / 255.0
    if name == "cbm3d":
        import bm3d
        out, s = _timed(lambda: bm3d.bm3d_rgb(img, sigma_psd=sigma))
        return out, s, {"package": "bm3d " + str(package_version("bm3d")), "sigma_psd": sigma}
    if name == "nlm":
        from skimage.restoration import denoise_nl_means
        kw = dict(h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1)
        out, s = _timed(lambda: denoise_nl_means(img, **kw))
        return out, s, {"skimage": package_version("scikit-image"), **kw}
    if name == "tv":
        from skimage.restoration import denoise_tv_chambolle
        out, s = _timed(lambda: denoise_tv_chambolle(img, weight=TV_WEIGHT, channel_axis=-1))
        return out, s, {"skimage": package_version("scikit-image"), "weight": TV_WEIGHT}
    if name == "bicubic":
        # the engine's own bicubic view of the LR input (Pillow BICUBIC, float, clipped)
        out, s = _timed(lambda: make_task(cfg.replace(device="cpu"), img).degraded_view())
        return out, s, {"method": "Pillow BICUBIC upscale of the LR input"}
    if name == "biharmonic":
        from skimage.restoration import inpaint_biharmonic
        missing = ~mask
        if int(missing.sum()) > BIHARMONIC_MAX_MISSING:
            raise TimeoutError(f"{int(missing.sum())} missing pixels > {BIHARMONIC_MAX_MISSING}")
        if img.shape[2] == 1:
            out, s = _timed(lambda: inpaint_biharmonic(img[:, :, 0], missing)[:, :, None])
        else:
            out, s = _timed(lambda: inpaint_biharmonic(img, missing, channel_axis=-1))
        return out, s, {"skimage": package_version("scikit-image")}
    raise BenchError(f"unknown baseline '{name}'")


def run_baselines(names: list[str], task: str, case: dict[str, Any], cfg: Any,
                  notes: dict[str, str]) -> dict[str, dict[str, Any]]:
    ref = case["reference"]
    out: dict[str, dict[str, Any]] = {}
    for n in names:
        try:
            res, secs, settings = baseline(n, task, case, cfg)
            out[n] = {"psnr": task_psnr(task, res, ref, scale=cfg.scale), "seconds": secs, "settings": settings}
        except ImportError as exc:
            notes[n] = f"{n}: not installed ({exc.name or exc}); pip install bm3d for CBM3D"
            out[n] = {"psnr": None, "note": notes[n]}
        except TimeoutError as exc:
            notes[n] = f"{n}: skipped ({exc})"
            out[n] = {"psnr": None, "note": notes[n]}
        except Exception as exc:  # a baseline failing must not lose the DIP numbers
            notes[n] = f"{n}: failed ({type(exc).__name__}: {exc})"
            out[n] = {"psnr": None, "note": notes[n]}
    return out


# ------------------------------------------------------------------------------ DIP

def run_dip(cfg: Any, case: dict[str, Any], task: str, label: str, runs: int = 1) -> dict[str, Any]:
    """One restoration of ``case`` (``runs`` > 1: that many seeds, engine/seeds.py, side by side
    on a CPU): the curve, oracle and pick are the first seed's, 'written' the mean of the picks
    and 'seconds' the wall clock of all of them."""
    ref = case["reference"]
    seeds = Seeds(cfg, case["image"], runs, mask=case["mask"], reference=ref)
    run = seeds.runs[0]
    curve: list[list[float | int | None]] = []   # step, output, ema, seconds
    best_ema: tuple[float, int] | None = None
    best_out: tuple[float, int] | None = None
    t_start = time.perf_counter()
    last_log = t_start
    rec = None
    for k, r in seeds.steps():
        if k:
            continue
        rec = r
        if rec.psnr:
            p_out, p_ema = rec.psnr.get("output"), rec.psnr.get("ema")
            curve.append([rec.step, p_out, p_ema, rec.elapsed])
            if p_out is not None and (best_out is None or p_out > best_out[0]):
                best_out = (p_out, rec.step)
            if p_ema is not None and (best_ema is None or p_ema > best_ema[0]):
                best_ema = (p_ema, rec.step)
        now = time.perf_counter()
        if now - last_log >= PROGRESS_EVERY_S:
            last_log = now
            seen = f"  best EMA {best_ema[0]:.2f} @{best_ema[1]}" if best_ema else ""
            log(f"    {label}: step {rec.step}/{cfg.iterations}  {fmt_seconds(now - t_start)}  "
                f"{rec.elapsed / rec.step:.3f} s/step{seen}")
    if rec is None:
        raise BenchError("the run produced no step")
    oracle = max([o for o in (best_ema, best_out) if o is not None], default=None)
    written = seeds.result(cfg.pick)
    res = {
        "steps": run.step,
        "seconds": seeds.elapsed,
        "seconds_per_step": run.elapsed / max(run.step, 1),
        "parameters": run.param_count,
        "device": run.device_name,
        "backtracks": run.backtracks,
        "input": task_psnr(task, run.degraded(), ref, scale=cfg.scale),
        "last": task_psnr(task, run.result("last"), ref, scale=cfg.scale),
        "ema": task_psnr(task, run.result("ema"), ref, scale=cfg.scale) if cfg.ema > 0 else None,
        "written": task_psnr(task, written, ref, scale=cfg.scale),
        # inpainting: the network's own output at the pick, known pixels not pasted back (the
        # paper's protocol; what this table showed before the result kept the known pixels)
        "net": task_psnr(task, run.result(cfg.pick, raw=True), ref, scale=cfg.scale) if task == "inpaint" else None,
        "pick": cfg.pick,
        "pick_step": run.suggested[0] if run.suggested is not None and cfg.pick == "auto" else run.step,
        "pick_kind": run.suggested_kind if cfg.pick == "auto" else cfg.pick,
        "stopped_early": run.stopped_early,
        "stop_reason": run.stop_reason,
        "oracle": oracle[0] if oracle else None,
        "oracle_step": oracle[1] if oracle else None,
        "oracle_of": None if oracle is None else ("ema" if oracle is best_ema else "output"),
        "best_output_seen": best_out[0] if best_out else None,
        "best_output_step": best_out[1] if best_out else None,
        "curve": {"columns": ["step", "output", "ema", "seconds"], "rows": curve},
    }
    if runs > 1:
        res["one_run"] = task_psnr(task, run.result(cfg.pick), ref, scale=cfg.scale)
        res["side_by_side"] = seeds.concurrent
        res["other_runs"] = [{"seed": m.cfg.seed, "steps": m.step, "seconds": m.elapsed,
                              "written": task_psnr(task, m.result(cfg.pick), ref, scale=cfg.scale),
                              "pick_step": m.suggested[0] if m.suggested is not None else m.step,
                              "pick_kind": m.suggested_kind} for m in seeds.runs[1:]]
    seeds.close()
    return res


# ------------------------------------------------------------------------------ table

def columns(task: str, baselines: list[str], runs: int = 1) -> list[Column]:
    n2 = fnum(2)
    cols = [
        Column("image", "image", 12, str, "<"),
        Column("size", "size", 9),
        Column("steps", "stop step", 5, fint),
        Column("s_step", "s/step", 6, fnum(3)),
        Column("seconds", "seconds", 7, fnum(1)),
    ]
    if task != "superres":   # the SR input is the LR image: its bicubic view is a baseline
        cols.append(Column("input", "input", 6, n2))
    cols += [
        Column("*", "written (pick)", 16, _written_cell),
        Column("*", "oracle", 12, fat("oracle", "oracle_step")),
        Column("gap", "gap", 6, fnum(2)),
    ] + ([Column("net", "net output", 7, n2)] if task == "inpaint" else []) \
        + ([Column("one_run", "one run", 7, n2)] if runs > 1 else []) + [
        Column("last", "last", 6, n2),
        Column("ema", "EMA", 6, n2),
    ]
    cols += [Column("b_" + b, BASELINE_TITLES[b], 7, n2) for b in baselines]
    cols.append(Column("paper", "paper DIP", 9, n2))
    return cols


def _written_cell(row: dict) -> str:
    if "written" not in row:
        return ""
    if row.get("pick_step") is None:
        return fnum(2)(row["written"])
    kind = {"ema": " avg", "output": " out"}.get(row.get("pick_kind"), "")
    return f"{fnum(2)(row['written'])} @{int(row['pick_step'])}{kind}"


def paper_info(task: str, scale: int) -> dict[str, Any]:
    return PAPER[f"superres{scale}" if task == "superres" else task]


def image_row(name: str, r: dict[str, Any], baselines: list[str], paper: dict[str, Any]) -> dict[str, Any]:
    h, w = r["shape"][:2]
    row = {"image": name, "size": f"{w}x{h}"}
    d = r.get("dip")
    if d:
        row.update({k: d[k] for k in ("steps", "input", "last", "ema", "written", "net", "pick_step", "pick_kind",
                                      "oracle", "oracle_step", "seconds") if k in d})
        if "one_run" in d:
            row["one_run"] = d["one_run"]
        row["s_step"] = d["seconds_per_step"]
        # what the rule lost: the (first) run's own pick against its oracle
        row["gap"] = None if d["oracle"] is None else d.get("one_run", d["written"]) - d["oracle"]
    for b in baselines:
        row["b_" + b] = r["baselines"].get(b, {}).get("psnr")
    row["paper"] = paper["per_image"].get(name.lower())
    return row


def summary_rows(rows: list[dict[str, Any]], baselines: list[str], paper: dict[str, Any],
                 full_set: bool) -> list[dict[str, Any]]:
    avg: dict[str, Any] = {"image": "average", "size": ""}
    for k in ["steps", "s_step", "seconds", "input", "last", "ema", "written", "net", "one_run", "oracle", "gap"] + \
            ["b_" + b for b in baselines]:
        if any(k in r for r in rows):
            avg[k] = mean([r.get(k) for r in rows])
    gaps = [r["gap"] for r in rows if r.get("gap") is not None]
    avg["worst_gap"] = min(gaps) if gaps else None
    per = [r.get("paper") for r in rows]
    stated = paper["average"].get("last") or paper["average"].get("ema")
    if all(p is not None for p in per) and per:
        avg["paper"] = mean(per)
    elif stated is not None and full_set:
        avg["paper"] = stated
    out = [avg]
    prow: dict[str, Any] = {"image": "paper (set)", "size": "", "steps": ""}
    for k, v in paper["average"].items():
        prow[k if k in ("last", "ema") else "b_" + k] = v
    if paper["per_image"] and not paper["average"]:
        prow["last"] = mean(list(paper["per_image"].values()))
    if len(prow) > 3:
        out.append(prow)
    return out


def _first_time(curve: dict[str, Any], level: float) -> float | None:
    for _step, p_out, p_ema, secs in curve["rows"]:
        if max(v for v in (p_out, p_ema, -1.0) if v is not None) >= level:
            return secs
    return None


def time_to_quality(report: dict[str, Any], target_json: str) -> list[dict[str, Any]]:
    """Per image: seconds until this run's output or average came within 0.1 dB of the target
    run's oracle (same image, same degradation), beside the target run's own seconds to it."""
    try:
        target = json.loads(Path(target_json).read_text())["images"]
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"cannot read the time-to-quality target {target_json}: {exc}") from None
    rows = []
    for name, res in report["images"].items():
        t = target.get(name, {}).get("dip")
        if not t or t.get("oracle") is None or len(t["curve"]["columns"]) < 4:
            continue
        level = t["oracle"]
        ref_s = _first_time(t["curve"], level)
        s = _first_time(res["dip"]["curve"], level - 0.1)
        rows.append({"image": name, "target": level, "ref_s": ref_s, "s": s if s is not None else "not reached",
                     "speedup": ref_s / s if s and ref_s else None})
    if rows:
        rows.append({"image": "average", "target": mean([r["target"] for r in rows]),
                     "ref_s": mean([r["ref_s"] for r in rows]), "s": mean([r["s"] for r in rows]),
                     "speedup": mean([r["speedup"] for r in rows])})
    return rows


# ------------------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    task = a.task
    root = data_dir(a.data)
    set_name = a.image_set or DEFAULT_SET[task]
    folder = root / set_name
    if task == "superres" and set_name.lower() == "set5":
        folder = root / f"Set5_DIP_x{a.scale}GT"     # the exact HR references the paper scored
    files = select_images(folder, a.images)

    preset = a.preset or {"denoise": "denoise", "inpaint": "inpaint-drop",
                          "superres": f"sr{a.scale}"}[task]
    from engine.cli import parse_overrides
    from engine.errors import DIPError
    try:
        overrides = parse_overrides(a.override, "--override")
    except DIPError as exc:
        raise BenchError(str(exc)) from None
    if a.iterations is not None:
        overrides["iterations"] = a.iterations
    overrides.setdefault("seed", a.seed)
    overrides["device"] = a.device
    if task == "superres":
        overrides["scale"] = a.scale
    cfg = get_config(preset, task=task, **overrides)
    if a.baselines is None:
        baselines = list(BASELINES[task])
    elif a.baselines.strip().lower() == "none":
        baselines = []
    else:
        baselines = [b.strip().lower() for b in a.baselines.split(",") if b.strip()]
    for b in baselines:
        if b not in BASELINES[task]:
            raise BenchError(f"baseline '{b}' is not one of {task}'s: {', '.join(BASELINES[task])}")
    paper = paper_info(task, a.scale)
    out_path = Path(a.out) if a.out else OUT_DIR / (
        f"quality_{task}" + (f"_x{a.scale}" if task == "superres" and a.scale != 4 else "") + ".json")
    crop_multiple = a.scale if task == "superres" else 1

    import torch
    report: dict[str, Any] = {
        "benchmark": "quality",
        "task": task,
        "set": set_name,
        "folder": str(folder),
        "settings": {
            "preset": preset, "overrides": overrides, "crop": a.crop, "scale": a.scale if task == "superres" else None,
            "sigma": SIGMA if task == "denoise" else None, "drop": DROP if task == "inpaint" else None,
            "dip_seed": cfg.seed, "degradation_seed": "crc32(lower(image name)) + 7919 * --seed",
            "psnr": psnr_protocol(task),
            "oracle": "best PSNR of output or EMA at the preview cadence (looks at the clean image)",
            "config": cfg.to_dict(),
        },
        "environment": {**environment(a.device), "torch_cuda": torch.version.cuda,
                        "skimage": package_version("scikit-image"), "bm3d": package_version("bm3d")},
        "paper": paper,
        "images": {},
        "complete": False,
    }
    notes: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    log(f"{task} on {set_name} ({len(files)} images), preset {preset}, {cfg.iterations} steps, "
        f"crop {a.crop or 'none'}, device {a.device}; JSON -> {out_path}")
    interrupted = False
    t_all = time.perf_counter()
    try:
        for i, path in enumerate(files, 1):
            name = path.stem
            seed = image_seed(name, a.seed)
            clean = centre_crop(load_clean(path, task, keep_colour=a.mask_beside), a.crop, crop_multiple)
            fig_mask = None
            if a.mask_beside:
                from engine.imageio import load_mask
                full = load_clean(path, task, keep_colour=True)
                fig_mask = centre_crop(load_mask(path.with_name(path.stem + "_mask.png"), full.shape[:2]),
                                       a.crop, crop_multiple)
            case = make_case(task, clean, seed, a.scale, fig_mask)
            h, w = case["reference"].shape[:2]
            t0 = time.perf_counter()
            res: dict[str, Any] = {"shape": list(case["reference"].shape), "seed": seed}
            res["dip"] = run_dip(cfg, case, task, name, a.runs or seed_count(cfg, *case["image"].shape[:2]))
            res["baselines"] = run_baselines(baselines, task, case, cfg, notes)
            report["images"][name] = res
            report["device"] = res["dip"]["device"]
            row = image_row(name, res, baselines, paper)
            rows.append(row)
            d = res["dip"]
            base = "  ".join(f"{b} {fnum(2)(v['psnr'])}" for b, v in res["baselines"].items())
            log(f"[{i}/{len(files)}] {name} {w}x{h}  {d['steps']} steps  {fmt_seconds(time.perf_counter() - t0)} "
                f"({d['seconds_per_step']:.3f} s/step)  input {fnum(2)(d['input'])}  last {fnum(2)(d['last'])}  "
                f"ema {fnum(2)(d['ema'])}  written {fnum(2)(d['written'])} @{d['pick_step']} {d['pick_kind']}  "
                f"oracle {fat('oracle', 'oracle_step')(d)}" + (f"  {base}" if base else ""))
            report["rows"] = rows
            write_json(out_path, report)      # after every image: a long run keeps what it did
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: reporting the images done so far")

    if not rows:
        log("no image finished")
        return 130 if interrupted else 1
    cols = columns(task, baselines, 2 if any("one_run" in r for r in rows) else 1)
    full_set = a.images is None and a.crop is None
    summary = summary_rows(rows, baselines, paper, full_set)
    table_rows = rows + summary
    text = text_table(cols, table_rows, separators=[len(rows)])
    foot = [
        f"{task}, {set_name}" + (f" x{a.scale}" if task == "superres" else "") +
        f", preset {preset} ({cfg.net.arch}, {cfg.iterations} steps, lr {cfg.lr}, pick {cfg.pick})"
        + (f", crop {a.crop}" if a.crop else "") + f", device {report['images'][rows[0]['image']]['dip']['device']}"
        + f", torch {torch.__version__}, total {fmt_seconds(time.perf_counter() - t_all)}",
        "PSNR in dB (" + report["settings"]["psnr"] + "); 'written' = what the run wrote by itself "
        f"(stop {cfg.stop}, rule {cfg.stop_rule}, pick {cfg.pick}; out = raw output, avg = moving average); "
        f"'oracle' = best PSNR of output or average seen every {cfg.preview_every} steps (uses the clean image); "
        "gap = written - oracle"
        + (f" (worst {summary[0]['worst_gap']:.2f})" if summary[0].get("worst_gap") is not None else ""),
        paper["note"] + ("" if full_set else "; paper numbers are for full images of the whole set"),
    ] + list(notes.values())
    print(text)
    print("\n".join(foot))
    if a.markdown:
        print()
        print(markdown_table(cols, table_rows, bold_rows=[len(rows)]))
        print()
        print("\n".join("- " + f for f in foot))
    if a.ttq_target:
        ttq_rows = time_to_quality(report, a.ttq_target)
        report["time_to_quality"] = ttq_rows
        tcols = [Column("image", "image", 12, str, "<"), Column("target", "target (oracle of ref)", 10, fnum(2)),
                 Column("ref_s", "ref seconds to its oracle", 10, fnum(1)),
                 Column("s", "seconds to target - 0.1 dB", 10, fnum(1)),
                 Column("speedup", "speed-up", 8, fnum(1))]
        print()
        print(f"time to quality against {a.ttq_target}")
        print(text_table(tcols, ttq_rows, separators=[len(ttq_rows) - 1]))
        if a.markdown:
            print()
            print(markdown_table(tcols, ttq_rows, bold_rows=[len(ttq_rows) - 1]))
    report["rows"] = rows
    report["summary"] = summary
    report["notes"] = list(notes.values())
    report["complete"] = not interrupted and len(rows) == len(files)
    report["total_seconds"] = time.perf_counter() - t_all
    write_json(out_path, report)
    log(f"wrote {out_path}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, DIPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
