"""Photos at their real size: tiled against whole, crops around the mask, a 12 MP start.

    python benchmarks/bench_tiles.py quality --set denoise --images F16,kodim01 --tile 256
    python benchmarks/bench_tiles.py quality --set inpaint --images barbara --tile 256
    python benchmarks/bench_tiles.py crop    [--margins 32,64,128]
    python benchmarks/bench_tiles.py big     [--mp 12]
    python benchmarks/bench_tiles.py --smoke --out PATH   # seconds: ``quality`` on a 96 px made-up photo, 64 px tiles

``quality``: each full image of a shared set, degraded as the paper does (sigma 25 / 50 %
of pixels dropped), restored once whole (``--tile off``) and once in tiles, each in its own
process (so its peak memory is its own): PSNR of both, the difference, a seam score (the
mean absolute step across the tiles' edges over the same on the columns/rows 2-6 px away;
1.00 = no seam; measured on the whole run's result too, at the same lines), wall time,
steps and peak RSS.
``crop``: a 150 px scratch painted on a photo outside the shared sets, upscaled to 12 MP:
the whole CLI path (load, plan, the crop's run, write) against the same crop alone, and the
known pixels of the written file compared with the input's; then the margin: the same
scratch inpainted with each margin, PSNR inside the scratch against the clean photo.
``big``: a 12 MP photo: seconds to the plan, then two tiles with a short bound, a stop and
a full-size save, peak RSS.

Prints tables and writes JSON to benchmarks/out/. Run it with nothing else on the CPU.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (OUT_DIR, SMOKE_HELP, BenchError, Column, data_dir, environment, fint, fnum, log, markdown_table,
                    mean, megapixel_photo, select_images, smoke_data, text_table, write_json)

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- one run

def _one(spec: dict) -> dict:
    """Runs in a child process: one restoration as the CLI would do it; returns a report."""
    import torch

    from engine.degrade import add_noise, drop_pixels
    from engine.imageio import load_image
    from engine.job import TiledRestoration
    from engine.metrics import task_psnr
    from engine.presets import get_config
    from engine.schedule import pace_noise
    from engine.tiling import plan_job

    torch.set_num_threads(spec["threads"])
    clean = load_image(spec["image"]).array
    if spec["task"] == "denoise":
        degraded, mask = add_noise(clean, 25.0, seed=0), None
    else:
        degraded, mask = drop_pixels(clean, 0.5, seed=0)
    overrides = dict(spec.get("overrides", {}))
    cfg = get_config(spec["preset"], task=spec["task"], device="cpu", **overrides)
    t0 = time.perf_counter()
    plan = plan_job(cfg, degraded.shape[:2], degraded.shape[2], mask=mask, device="cpu", tile=spec["tile"],
                    noise=pace_noise(cfg, degraded))
    job = TiledRestoration(cfg, plan, degraded, mask=mask, warm_start=spec.get("warm", False))
    for _ in job.steps():
        pass
    result = job.result()
    wall = time.perf_counter() - t0
    steps = [i["steps"] for i in job.unit_info if i]
    return {"psnr": task_psnr(spec["task"], result, clean), "seconds": wall, "units": len(plan.units),
            "tile": plan.tile, "overlap": plan.overlap, "steps_mean": float(np.mean(steps)),
            "steps_total": int(np.sum(steps)), "boxes": [[u.box.top, u.box.left, u.box.height, u.box.width]
                                                          for u in plan.units],
            "result_path": _save(result, spec["out"]), "estimate_s": plan.seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _save(a: np.ndarray, path: str) -> str:
    np.save(path, a.astype(np.float32))
    return path


def _child(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "_one", json.dumps(spec)], capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise BenchError(f"child failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def seam_score(img: np.ndarray, boxes: list[list[int]]) -> float | None:
    """Mean |step| across the tiles' inner edges over the mean |step| 2-6 px beside them."""
    h, w = img.shape[:2]
    g = img.mean(axis=2) if img.ndim == 3 else img
    xs = sorted({b[1] for b in boxes if b[1] > 0} | {b[1] + b[3] for b in boxes if b[1] + b[3] < w})
    ys = sorted({b[0] for b in boxes if b[0] > 0} | {b[0] + b[2] for b in boxes if b[0] + b[2] < h})
    on, near = [], []
    for x in xs:
        on.append(np.abs(g[:, x] - g[:, x - 1]).mean())
        near.extend(np.abs(g[:, x + d] - g[:, x + d - 1]).mean() for d in (-6, -4, -2, 2, 4, 6) if 1 <= x + d < w)
    for y in ys:
        on.append(np.abs(g[y] - g[y - 1]).mean())
        near.extend(np.abs(g[y + d] - g[y + d - 1]).mean() for d in (-6, -4, -2, 2, 4, 6) if 1 <= y + d < h)
    if not on or not near:
        return None
    return float(np.mean(on) / np.mean(near))


# ----------------------------------------------------------------------------- quality

def cmd_quality(a) -> None:
    folder = data_dir(a.data) / ("CBM3D9" if a.set == "denoise" else "Heide11")
    preset = a.preset or ("denoise-fast" if a.set == "denoise" else "inpaint-fast")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in select_images(folder, a.images):
            row = {"image": path.stem}
            res = {}
            modes = [m for m in a.modes.split(",") if m]
            for mode in modes:
                log(f"{path.stem}: {mode}")
                spec = {"image": str(path), "task": a.set, "preset": preset, "threads": a.threads,
                        "tile": "off" if mode == "whole" else a.tile, "warm": mode == "warm",
                        "overrides": getattr(a, "overrides", {}),
                        "out": str(Path(tmp) / f"{path.stem}-{mode}.npy")}
                res[mode] = _child(spec)
            if "whole" not in res or "tiled" not in res:
                raise BenchError("--modes needs whole and tiled")
            tiled_boxes = res["tiled"]["boxes"]
            from engine.imageio import load_image
            size = load_image(str(path)).array.shape
            row.update(size=f"{size[1]}x{size[0]}", tile=res["tiled"]["tile"], units=res["tiled"]["units"])
            for mode in ("whole", "tiled"):
                r = res[mode]
                img = np.load(r["result_path"])
                row[f"{mode}_psnr"] = r["psnr"]
                row[f"{mode}_s"] = r["seconds"]
                row[f"{mode}_steps"] = r["steps_mean"]
                row[f"{mode}_rss"] = r["peak_rss_mb"]
                row[f"{mode}_seam"] = seam_score(img, tiled_boxes)
            row["diff"] = row["tiled_psnr"] - row["whole_psnr"]
            if "warm" in res:   # warm starts: each tile from its finished neighbour's weights
                row["warm_psnr"] = res["warm"]["psnr"]
                row["warm_diff"] = res["warm"]["psnr"] - row["tiled_psnr"]
                row["warm_steps"] = res["warm"]["steps_mean"]
                row["warm_s"] = res["warm"]["seconds"]
            rows.append(row)
            log(f"  whole {row['whole_psnr']:.2f} dB / tiled {row['tiled_psnr']:.2f} dB, seam {row['tiled_seam']:.3f}")
    avg = {"image": "**average**"}
    for k in ("whole_psnr", "tiled_psnr", "diff", "whole_seam", "tiled_seam", "whole_s", "tiled_s",
              "whole_rss", "tiled_rss"):
        avg[k] = mean([r[k] for r in rows])
    cols = [Column("image", "image", 12, align="<"), Column("size", "size", 9), Column("tile", "tile", 5, fint),
            Column("units", "units", 5, fint),
            Column("whole_psnr", "whole dB", 8, fnum()), Column("tiled_psnr", "tiled dB", 8, fnum()),
            Column("diff", "tiled - whole", 13, fnum()), Column("whole_seam", "seam (whole)", 12, fnum(3)),
            Column("tiled_seam", "seam (tiled)", 12, fnum(3)), Column("whole_steps", "steps (whole)", 13, fnum(0)),
            Column("tiled_steps", "steps/tile", 10, fnum(0)), Column("whole_s", "whole s", 8, fnum(0)),
            Column("tiled_s", "tiled s", 8, fnum(0)), Column("whole_rss", "whole MB", 8, fnum(0)),
            Column("tiled_rss", "tiled MB", 8, fnum(0))]
    if any("warm_psnr" in r for r in rows):
        for k in ("warm_psnr", "warm_diff", "warm_steps", "warm_s"):
            avg[k] = mean([r.get(k) for r in rows])
        cols += [Column("warm_psnr", "warm dB", 8, fnum()), Column("warm_diff", "warm - cold", 11, fnum()),
                 Column("warm_steps", "warm steps/tile", 15, fnum(0)), Column("warm_s", "warm s", 7, fnum(0))]
    print(text_table(cols, rows + [avg]))
    print()
    print(markdown_table(cols, rows + [avg], bold_rows=[len(rows)]))
    p = write_json(getattr(a, "out", None) or OUT_DIR / f"tiles_quality_{a.set}.json",
                   {"env": environment("cpu"), "preset": preset, "rows": rows, "average": avg})
    print(f"\nwrote {p}")


# ----------------------------------------------------------------------------- crops

def _scratch(h: int, w: int, top: int, left: int, length: int = 150, width: int = 5) -> np.ndarray:
    known = np.ones((h, w), bool)
    for i in range(length):        # a slanted scratch, 150 px long
        y, x = top + i, left + i // 3
        known[y:y + width, x:x + width] = False
    return known


def _cli(args: list[str]) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c",
                           "import resource, sys, runpy; sys.argv = sys.argv[1:];\n"
                           "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
                           "finally:\n    print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
                           "file=sys.stderr)",
                           str(ROOT / "main.py"), *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    rss = [ln for ln in proc.stderr.splitlines() if ln.startswith("RSS ")]
    if proc.returncode != 0:
        raise BenchError(f"restore failed: {proc.stderr.strip().splitlines()[-2:]}")
    return wall, int(rss[-1].split()[1]) / 1024 if rss else float("nan"), proc.stderr


def cmd_crop(a) -> None:
    from PIL import Image

    from engine.metrics import task_psnr

    if a.photo:   # a photo at its own size (e.g. a textured one from the shared sets)
        from PIL import Image as _Image
        photo, source = np.asarray(_Image.open(a.photo).convert("RGB")), Path(a.photo).name
    else:
        photo, source = megapixel_photo(a.mp)
    h, w = photo.shape[:2]
    known = _scratch(h, w, h // 2, w // 3)
    rows, margins = [], [int(m) for m in a.margins.split(",")]
    extra = ["--iterations", str(a.iterations)] if a.iterations else []   # a quick check of the script
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        damaged = photo.copy()
        damaged[~known] = 255
        Image.fromarray(damaged).save(t / "photo.png")
        Image.fromarray((known * 255).astype(np.uint8)).save(t / "mask.png")
        for m in margins:
            log(f"12 MP photo, margin {m}")
            out = t / f"out{m}.png"
            wall, rss, err = _cli(["restore", "--task", "inpaint", "--input", str(t / "photo.png"), "--mask",
                                   str(t / "mask.png"), "--output", str(out), "--device", "cpu",
                                   "--crop-margin", str(m), "--metrics", str(t / f"m{m}.json"), *extra])
            rep = json.loads((t / f"m{m}.json").read_text())
            written = np.asarray(Image.open(out))
            same = bool(np.array_equal(written[known], photo[known]))
            hole = ~known
            # the inpainting protocol on the scratch's pixels alone (a 1 x N image of them)
            p = task_psnr("inpaint", written[hole][None].astype(np.float32) / 255,
                          photo[hole][None].astype(np.float32) / 255)
            (crop,) = rep["plan"]["crops"]
            cx, cy, cw, ch = crop
            # the same crop alone, as a user would cut it by hand (for the default margin: the
            # overhead of the photo's size is the question, not the margin's)
            wall_c = None
            if m == a.alone_margin:
                Image.fromarray(damaged[cy:cy + ch, cx:cx + cw]).save(t / "crop.png")
                Image.fromarray((known[cy:cy + ch, cx:cx + cw] * 255).astype(np.uint8)).save(t / "crop_mask.png")
                wall_c, _, _ = _cli(["restore", "--task", "inpaint", "--input", str(t / "crop.png"), "--mask",
                                     str(t / "crop_mask.png"), "--output", str(t / "crop_out.png"),
                                     "--device", "cpu", "--quiet", *extra])
            if m == a.figure_margin:
                _figure(photo, damaged, written, (cx, cy, cw, ch), ROOT / "docs" / "fullsize-inpaint.png")
            unit = rep["plan"]["per_unit"][0]
            rows.append({"margin": m, "crop": f"{cw}x{ch}", "steps": unit["steps"], "stopped": unit["stopped_early"],
                         "psnr_hole": p, "wall": wall, "wall_crop": wall_c,
                         "ratio": None if wall_c is None else wall / wall_c, "rss": rss, "known_identical": same})
            log(f"  {wall:.0f} s (crop alone {wall_c}), hole PSNR {p:.2f}, known identical {same}")
    cols = [Column("margin", "margin", 6, fint), Column("crop", "crop", 9), Column("steps", "steps", 6, fint),
            Column("psnr_hole", "PSNR in scratch", 15, fnum()), Column("wall", "12 MP CLI s", 11, fnum(0)),
            Column("wall_crop", "crop alone s", 12, fnum(0)), Column("ratio", "ratio", 6, fnum()),
            Column("rss", "peak MB", 8, fnum(0)), Column("known_identical", "known pixels identical", 22, str)]
    print(text_table(cols, rows))
    print()
    print(markdown_table(cols, rows))
    p = write_json(OUT_DIR / a.out, {"env": environment("cpu"), "photo": source, "size": [w, h],
                                                  "rows": rows})
    print(f"\nwrote {p}")


def _figure(photo: np.ndarray, damaged: np.ndarray, written: np.ndarray, crop: tuple[int, int, int, int],
            path: Path) -> None:
    """The whole photo (small, the crop outlined) beside the crop before and after, at 100 %."""
    from PIL import Image, ImageDraw

    cx, cy, cw, ch = crop
    h, w = photo.shape[:2]
    side = 2 * ch
    small = Image.fromarray(damaged).resize((round(w * side / h), side), Image.LANCZOS)
    s = side / h
    ImageDraw.Draw(small).rectangle([cx * s - 2, cy * s - 2, (cx + cw) * s + 2, (cy + ch) * s + 2],
                                    outline=(255, 64, 64), width=3)
    before = Image.fromarray(damaged[cy:cy + ch, cx:cx + cw]).resize((2 * cw, 2 * ch), Image.NEAREST)
    after = Image.fromarray(written[cy:cy + ch, cx:cx + cw]).resize((2 * cw, 2 * ch), Image.NEAREST)
    gap = 12
    fig = Image.new("RGB", (small.width + before.width + after.width + 2 * gap, side), (255, 255, 255))
    fig.paste(small, (0, 0))
    fig.paste(before, (small.width + gap, 0))
    fig.paste(after, (small.width + before.width + 2 * gap, 0))
    fig.save(path)


# ----------------------------------------------------------------------------- 12 MP

def cmd_big(a) -> None:
    from PIL import Image

    photo, source = megapixel_photo(a.mp)
    h, w = photo.shape[:2]
    rng = np.random.default_rng(0)
    noisy = np.clip(photo + rng.normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        Image.fromarray(noisy).save(t / "photo.jpg", quality=95)
        code = (
            "import resource, sys, time, json\n"
            "t0 = time.perf_counter()\n"
            "from engine.imageio import load_image, image_writer, write_all\n"
            "from engine.presets import get_config\n"
            "from engine.tiling import plan_job\n"
            "from engine.job import TiledRestoration\n"
            f"loaded = load_image({str(t / 'photo.jpg')!r})\n"
            f"cfg = get_config('denoise-fast', device='cpu', iterations={a.steps})\n"
            "from engine.schedule import pace_noise\n"
            "plan = plan_job(cfg, loaded.array.shape[:2], 3, device='cpu', noise=pace_noise(cfg, loaded.array))\n"
            "t_plan = time.perf_counter() - t0\n"
            "job = TiledRestoration(cfg, plan, loaded.array)\n"
            "for rec in job.steps():\n"
            "    if rec.unit.state == 'done' and rec.unit.index == 1:\n"
            "        job.request_stop()\n"
            "res = job.result()\n"
            f"write_all([({str(t / 'out.png')!r}, image_writer({str(t / 'out.png')!r}, res, like=loaded))])\n"
            "print(json.dumps({'plan': plan.describe(), 't_plan': t_plan, 'units': len(plan.units),\n"
            "  'tile': plan.tile, 'est_peak_mb': plan.peak_bytes / 2**20, 'done': job.done_units,\n"
            "  'seconds': time.perf_counter() - t0,\n"
            "  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise BenchError(proc.stderr.strip().splitlines()[-1])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    r.update(size=f"{w}x{h}", photo=source, steps_per_tile=a.steps)
    cols = [Column("size", "photo", 10), Column("t_plan", "s to plan", 9, fnum(1)), Column("units", "tiles", 5, fint),
            Column("tile", "tile", 5, fint), Column("done", "tiles run", 9, fint),
            Column("seconds", "s in all", 8, fnum(0)), Column("est_peak_mb", "planned MB", 10, fnum(0)),
            Column("rss_mb", "peak RSS MB", 11, fnum(0))]
    print(r["plan"])
    print(text_table(cols, [r]))
    print()
    print(markdown_table(cols, [r]))
    p = write_json(OUT_DIR / "tiles_big.json", {"env": environment("cpu"), **r})
    print(f"\nwrote {p}")


def _pertask_one(spec: dict) -> dict:
    """Child: one task's default preset, tiled, on a degraded photo; seconds per megapixel."""
    import torch

    from engine import degrade
    from engine.job import TiledRestoration
    from engine.metrics import task_psnr
    from engine.presets import get_config
    from engine.schedule import pace_noise
    from engine.tiling import plan_job
    from skimage import data

    torch.set_num_threads(spec["threads"])
    clean = data.astronaut()[:spec["size"], :spec["size"]].astype(np.float32) / 255
    task, mask, guide = spec["task"], None, None
    if task == "denoise":
        x0 = degrade.add_noise(clean, 25.0, seed=0)
    elif task == "jpeg":
        x0 = degrade.jpeg(clean, 10)
    elif task == "inpaint":
        x0, mask = degrade.drop_pixels(clean, 0.5, seed=0)
    elif task == "superres":
        x0 = degrade.downscale(clean, 4)
    elif task == "flash":
        x0, guide = np.clip(clean * 0.5, 0, 1), clean       # a dim photo, the "flash" one as the guide
    else:
        x0 = clean
    cfg = get_config(None, task=task, device="cpu")
    tile = spec["tile"]
    if not tile:
        # the tile the plan gives a 4000x3000 photo of this task (super-resolution: its input)
        big = (3000 // cfg.scale, 4000 // cfg.scale) if task == "superres" else (3000, 4000)
        tile = plan_job(cfg, big, 3, device="cpu").tile
    plan = plan_job(cfg, x0.shape[:2], 3, mask=mask, device="cpu", tile=tile, noise=pace_noise(cfg, x0))
    job = TiledRestoration(cfg, plan, x0, mask=mask, guide=guide)
    t0 = time.perf_counter()
    for _ in job.steps():
        pass
    wall = time.perf_counter() - t0
    res = job.result()
    mp = res.shape[0] * res.shape[1] / 1e6
    p = None if task in ("enhance", "flash") else task_psnr(task, res, clean, scale=cfg.scale)
    return {"task": task, "preset": cfg.preset, "units": len(plan.units), "tile": plan.tile, "mp": mp,
            "seconds": wall, "s_per_mp": wall / mp, "estimate_s": plan.seconds, "psnr": p,
            "steps_mean": float(np.mean([i["steps"] for i in job.unit_info if i]))}


def cmd_pertask(a) -> None:
    rows = []
    for task in a.tasks.split(","):
        log(f"{task}")
        # super-resolution tiles its low-resolution input (a quarter of the side): smaller tiles
        tile = 80 if task == "superres" and a.tile else a.tile      # 0 stays 0: the plan's tile
        spec = {"task": task, "size": a.size, "tile": tile, "threads": a.threads}
        proc = subprocess.run([sys.executable, __file__, "_pertask", json.dumps(spec)], capture_output=True,
                              text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise BenchError(proc.stderr.strip().splitlines()[-1])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        log(f"  {rows[-1]['s_per_mp']:.0f} s/MP")
    cols = [Column("task", "task", 9, align="<"), Column("preset", "preset", 13, align="<"),
            Column("units", "tiles", 5, fint), Column("tile", "tile", 5, fint), Column("mp", "MP out", 6, fnum(2)),
            Column("steps_mean", "steps/tile", 10, fnum(0)), Column("seconds", "seconds", 8, fnum(0)),
            Column("s_per_mp", "s per MP", 8, fnum(0)), Column("estimate_s", "planned s", 9, fnum(0)),
            Column("psnr", "PSNR", 6, fnum())]
    print(text_table(cols, rows))
    print()
    print(markdown_table(cols, rows))
    p = write_json(OUT_DIR / "tiles_pertask.json", {"env": environment("cpu"), "rows": rows})
    print(f"\nwrote {p}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_pertask":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_pertask_one(json.loads(sys.argv[2]))))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "_one":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(_one(json.loads(sys.argv[2]))))
        return
    if "--smoke" in sys.argv[1:]:
        sm = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        sm.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": quality on one 96 px made-up photo, "
                        "whole against 64 px tiles, 4 steps each, one thread")
        sm.add_argument("--out", help="the JSON report")
        a = sm.parse_args()
        a.cmd, a.set, a.images, a.tile, a.preset, a.threads = "quality", "denoise", None, 64, "denoise-fast", 1
        a.modes, a.data, a.overrides = "whole,tiled", str(smoke_data(["CBM3D9"], n=1, side=96)), {"iterations": 4}
        cmd_quality(a)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--set", choices=("denoise", "inpaint"), default="denoise")
    q.add_argument("--images")
    q.add_argument("--tile", type=int, default=256)
    q.add_argument("--preset")
    q.add_argument("--threads", type=int, default=2)
    q.add_argument("--modes", default="whole,tiled", help="whole,tiled[,warm]: warm adds tiles warm-started")
    q.add_argument("--data")
    c = sub.add_parser("crop")
    c.add_argument("--mp", type=float, default=12.0)
    c.add_argument("--margins", default="32,64,128")
    c.add_argument("--figure-margin", type=int, default=32, help="the margin whose result goes to docs/")
    c.add_argument("--iterations", type=int, help="a step bound (default: the preset's)")
    c.add_argument("--alone-margin", type=int, default=32, help="the margin whose crop is also run alone")
    c.add_argument("--photo", help="an image file to scratch instead of the upscaled 12 MP astronaut")
    c.add_argument("--out", default="tiles_crop.json", help="the JSON file's name under benchmarks/out/")
    b = sub.add_parser("big")
    b.add_argument("--mp", type=float, default=12.0)
    b.add_argument("--steps", type=int, default=100)
    t = sub.add_parser("pertask")
    t.add_argument("--tasks", default="denoise,jpeg,inpaint,superres,enhance,flash")
    t.add_argument("--size", type=int, default=384, help="the photo's side (super-resolution: its input is /4)")
    t.add_argument("--tile", type=int, default=192, help="0: the tile the plan gives a 12 MP photo of each task")
    t.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    try:
        {"quality": cmd_quality, "crop": cmd_crop, "big": cmd_big, "pertask": cmd_pertask}[a.cmd](a)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
