"""The paper's experiments with a classifier, deep image prior against the TV prior, and the
noise-impedance fits: a table per task, printed and written as JSON, and the README figure.

    python benchmarks/bench_experiments.py [--data FOLDER] [--images House,Peppers] [--size 64]
                                           [--steps 300] [--figure docs/experiments.png]
    python benchmarks/bench_experiments.py --smoke --out PATH   # seconds: one 32 px made-up image, 3 steps

Phi is the small CNN of tests/tiny_classifier.py, trained here on synthetic stripes,
checkerboards and blobs in a few seconds (no weights are downloaded anywhere); it takes
any image size. For each image (downscaled so its longer side is --size):
  preimage  layers features.1 (shallow: conv1 + ReLU) and features.7 (deep: conv3 + ReLU),
            the presets preimage-fast (DIP) and preimage-tv (TV), --steps steps each:
            the feature distance ||Phi(x) - Phi(x0)||^2 / ||Phi(x0)||^2 at the start and reached;
  actmax    every logit and two channels of features.6 (pre-ReLU conv), actmax-fast (DIP) and
            actmax-tv (TV): the unit's activation reached and its rank among the layer's units;
  impedance the four fits of engine.experiments.ImpedanceDemo on the first image: mean log10
            MSE and the steps each needs to reach an MSE of 0.005.
One thread (OMP_NUM_THREADS=1 is set here); a few minutes on a CPU at the defaults.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from common import (DEFAULT_DATA, OUT_DIR, ROOT, SMOKE_HELP, BenchError, Column, environment, fnum, log, markdown_table,
                    smoke_data, text_table, write_json)

IMPEDANCE_LEVEL = 0.005
PRE_LAYERS = ("features.1", "features.7")
ACT_CHANNELS = (0, 16)     # channels of features.6


def _images(data: Path, names: str, size: int) -> list[tuple[str, np.ndarray]]:
    from engine.degrade import resize
    from engine.imageio import load_image

    out = []
    folder = data / "CBM3D9"
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        path = folder / f"{name}.png"
        if not path.exists():
            path = ROOT / "resources" / "sample_clean.png"
            name = "sample"
            log(f"{folder / name}.png not found: using resources/sample_clean.png")
        img = load_image(str(path)).array
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        h, w = img.shape[:2]
        f = size / max(h, w)
        out.append((name, resize(img, max(8, round(w * f)), max(8, round(h * f)))))
    return out


def _run(cfg, image):
    from engine.run import Restoration

    run = Restoration(cfg, image)
    first = None
    for _rec in run.steps():
        if first is None:
            first = float(run.task.last_data)
    return run, first


def bench_preimage(phi: str, images, steps: int) -> tuple[list[dict], dict]:
    from engine.presets import get_config
    from engine.tasks import to_tensor

    rows, pictures = [], {}
    for name, img in images:
        pictures[(name, "target")] = img
        for layer in PRE_LAYERS:
            for preset in ("preimage-fast", "preimage-tv"):
                cfg = get_config(preset, classifier=phi, layer=layer, iterations=steps)
                t0 = time.perf_counter()
                run, start = _run(cfg, img)
                secs = time.perf_counter() - t0
                out = run.result("last")
                import torch
                with torch.no_grad():
                    reached = float(run.task.data_term(to_tensor(out, run.device)))
                rows.append({"image": name, "layer": layer, "prior": cfg.prior, "start": start, "reached": reached,
                             "ratio": reached / start, "steps": run.step, "seconds": secs})
                pictures[(name, layer, cfg.prior)] = out
                log(f"preimage {name} {layer} {cfg.prior}: {start:.4f} -> {reached:.4f} in {secs:.1f}s")
    return rows, pictures


def bench_actmax(phi: str, size: int, steps: int) -> tuple[list[dict], dict]:
    from engine.experiments import canvas
    from engine.presets import get_config
    from engine.tasks import to_tensor

    rows, pictures = [], {}
    cases = [(None, u) for u in range(4)] + [("features.6", c) for c in ACT_CHANNELS]
    for layer, unit in cases:
        for preset in ("actmax-fast", "actmax-tv"):
            cfg = get_config(preset, classifier=phi, layer=layer, unit=unit, iterations=steps, lr=0.01)
            t0 = time.perf_counter()
            run, start = _run(cfg, canvas(size, size))
            secs = time.perf_counter() - t0
            out = run.result("last")
            acts = run.task.all_units(to_tensor(out, run.device))
            rows.append({"layer": layer or "output", "unit": unit, "prior": cfg.prior, "start": -start,
                         "reached": float(acts[unit]), "rank": int((acts > acts[unit]).sum()) + 1,
                         "units": int(acts.size), "steps": run.step, "seconds": secs})
            pictures[(layer or "output", unit, cfg.prior)] = out
            log(f"actmax {layer or 'output'}[{unit}] {cfg.prior}: {-start:.3f} -> {acts[unit]:.3f} "
                f"(rank {rows[-1]['rank']}/{acts.size}) in {secs:.1f}s")
    return rows, pictures


def bench_impedance(image: np.ndarray, steps: int) -> tuple[list[dict], dict]:
    from engine.experiments import IMPEDANCE_KINDS, ImpedanceDemo, impedance_seconds, steps_to_reach

    h, w = image.shape[:2]
    demo = ImpedanceDemo(image, steps=steps, seed=0)
    t0 = time.perf_counter()
    for _ in demo.steps():
        pass
    secs = time.perf_counter() - t0
    rows = [{"target": k, "mean_log10_mse": float(np.mean(np.log10(demo.curves[k]))),
             "final_mse": demo.curves[k][-1], "steps_to_level": steps_to_reach(demo.curves[k], IMPEDANCE_LEVEL)}
            for k in IMPEDANCE_KINDS]
    log(f"impedance {w}x{h} {steps} steps: {secs:.1f}s (estimated {impedance_seconds(h, w, steps):.1f}s)")
    return rows, {"curves": demo.curves, "seconds": secs, "estimate": impedance_seconds(h, w, steps),
                  "outputs": demo.outputs()}


# ---- the figure (PIL only) ------------------------------------------------------------------
def _tile(a: np.ndarray, side: int):
    from PIL import Image

    img = Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))
    return img.resize((side, round(side * a.shape[0] / a.shape[1])), Image.NEAREST)


def _plot(curves: dict, w: int, h: int):
    from PIL import Image, ImageDraw

    colours = {"image": (31, 119, 180), "image + noise": (44, 160, 44), "image shuffled": (255, 127, 14),
               "noise": (214, 39, 40)}
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 46, w - 130, 10, h - 28
    allv = np.concatenate([np.asarray(v) for v in curves.values()])
    lo, hi = math.floor(np.log10(allv.min())), math.ceil(np.log10(allv.max()))
    n = max(len(v) for v in curves.values())
    d.rectangle([left, top, right, bottom], outline=(120, 120, 120))
    for e in range(lo, hi + 1):
        y = bottom - (e - lo) / max(hi - lo, 1) * (bottom - top)
        d.line([left - 4, y, left, y], fill=(80, 80, 80))
        d.text((4, y - 6), f"1e{e}", fill=(60, 60, 60))
    d.text(((left + right) // 2 - 30, h - 16), f"step (0..{n})", fill=(60, 60, 60))
    for i, (k, v) in enumerate(curves.items()):
        ys = np.log10(np.asarray(v))
        pts = [(left + (j / max(n - 1, 1)) * (right - left), bottom - (y - lo) / max(hi - lo, 1) * (bottom - top))
               for j, y in enumerate(ys)]
        d.line(pts, fill=colours[k], width=2)
        d.line([right + 10, top + 12 + 16 * i, right + 26, top + 12 + 16 * i], fill=colours[k], width=2)
        d.text((right + 32, top + 6 + 16 * i), k, fill=colours[k])
    d.text((left + 6, top + 4), "MSE (log)", fill=(60, 60, 60))
    return img


def make_figure(path: Path, pre_pics: dict, act_pics: dict, impedance: dict, first: str) -> None:
    from PIL import Image, ImageDraw

    side = 128
    cells = [("target", pre_pics[(first, "target")]),
             ("DIP pre-image, shallow (features.1)", pre_pics[(first, "features.1", "dip")]),
             ("DIP pre-image, deep (features.7)", pre_pics[(first, "features.7", "dip")]),
             ("TV pre-image, deep (features.7)", pre_pics[(first, "features.7", "tv")]),
             ("DIP actmax, logit 'checker'", act_pics[("output", 2, "dip")]),
             ("TV actmax, logit 'checker'", act_pics[("output", 2, "tv")])]
    tiles = [(t, _tile(a, side)) for t, a in cells]
    th = max(im.height for _, im in tiles)
    plot = _plot(impedance["curves"], 6 * (side + 8) - 8, 220)
    fig = Image.new("RGB", (6 * (side + 8) + 8, th + 36 + plot.height + 24), "white")
    d = ImageDraw.Draw(fig)
    for i, (title, im) in enumerate(tiles):
        x = 8 + i * (side + 8)
        fig.paste(im, (x, 24))
        words = title.split(", ")
        d.text((x, 2), words[0], fill=(0, 0, 0))
        if len(words) > 1:
            d.text((x, 12), words[1], fill=(90, 90, 90))
    fig.paste(plot, (8, th + 40))
    d.text((8, th + 28), "noise impedance: the same net fitted to four targets", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.save(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--images", default="House,Peppers")
    ap.add_argument("--size", type=int, default=64, help="longer side of each image and the actmax canvas")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--impedance-steps", type=int, default=400)
    ap.add_argument("--figure", default=str(ROOT / "docs" / "experiments.png"))
    ap.add_argument("--out", default=str(OUT_DIR / "experiments.json"))
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": one 32 px made-up image, 3 steps per run, "
                    "the classifier trained 20 steps, the figure beside --out")
    a = ap.parse_args(argv)
    if a.smoke:
        a.data, a.images, a.size = str(smoke_data(["CBM3D9"], n=1, side=32)), "smoke1", 32
        a.steps, a.impedance_steps, a.figure = 3, 5, str(Path(a.out).with_suffix(".png"))
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT))
    from tests.tiny_classifier import save_torchscript, train_tiny

    t0 = time.perf_counter()
    net, acc = train_tiny(steps=20) if a.smoke else train_tiny()
    phi = save_torchscript(net, str(Path(a.out).with_name("tiny_classifier.pt")))
    log(f"tiny classifier: accuracy {acc:.2f} on fresh synthetic images, trained in {time.perf_counter() - t0:.1f}s")
    images = _images(Path(a.data), a.images, a.size)
    pre, pre_pics = bench_preimage(phi, images, a.steps)
    act, act_pics = bench_actmax(phi, a.size, a.steps)
    imp, imp_extra = bench_impedance(images[0][1], a.impedance_steps)

    pre_cols = [Column("image", "image", 8, align="<"), Column("layer", "layer", 10, align="<"),
                Column("prior", "prior", 5, align="<"), Column("start", "distance at start", 17, fnum(4)),
                Column("reached", "distance reached", 16, fnum(4)), Column("ratio", "reached/start", 13, fnum(4)),
                Column("steps", "steps", 5), Column("seconds", "seconds", 7, fnum(1))]
    act_cols = [Column("layer", "layer", 10, align="<"), Column("unit", "unit", 4),
                Column("prior", "prior", 5, align="<"),
                Column("start", "activation at start", 19, fnum(3)), Column("reached", "reached", 8, fnum(3)),
                Column("rank", "rank", 4), Column("units", "of", 3), Column("steps", "steps", 5),
                Column("seconds", "seconds", 7, fnum(1))]
    imp_cols = [Column("target", "target", 14, align="<"), Column("mean_log10_mse", "mean log10 MSE", 14, fnum(3)),
                Column("final_mse", "final MSE", 9, fnum(5)),
                Column("steps_to_level", f"steps to MSE {IMPEDANCE_LEVEL}", 18, lambda v: "not reached" if v is None
                       else str(v))]
    for title, cols, rows in (("natural pre-image", pre_cols, pre), ("activation maximisation", act_cols, act),
                              ("noise impedance", imp_cols, imp)):
        print(f"\n{title}\n{text_table(cols, rows)}")
        print(f"\n{markdown_table(cols, rows)}")
    write_json(a.out, {"environment": environment("cpu"), "classifier_accuracy": acc, "size": a.size,
                       "steps": a.steps, "preimage": pre, "actmax": act, "impedance": imp,
                       "impedance_seconds": imp_extra["seconds"], "impedance_estimate_s": imp_extra["estimate"],
                       "impedance_curves": imp_extra["curves"]})
    make_figure(Path(a.figure), pre_pics, act_pics, imp_extra, images[0][0])
    log(f"wrote {a.out} and {a.figure} ({time.perf_counter() - t0:.0f}s in all)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
