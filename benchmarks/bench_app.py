"""Does the app slow the engine down, and does the engine freeze the app?

Runs one config twice: headless (``Restoration.steps()`` in a plain loop) and inside the
app (the main window in an offscreen QApplication, its RunController driving a worker
thread with the loss/PSNR curves, the timeline and the canvas preview all connected).
Reports steps/s of both and their ratio (target >= 0.97), and the GUI thread's longest
stall while the run goes, measured as the largest gap between ticks of a 10 ms QTimer
(target < 50 ms). Prints a table and writes JSON to benchmarks/out/bench_app.json.

Each measurement runs in a fresh child process, as the app itself does: threads and
OpenMP teams a previous measurement left behind would otherwise slow the next one.

One seed in both (``--seeds``): the app averages a config's other seeds after the watched
run, a phase the headless loop does not have; the comparison is of the loop.

The test suite runs ``--smoke`` (tests/test_bench_app.py): a made-up 40 x 40 photo, a tiny
net, 20 steps, one measurement each, no warm-up; it checks that the script runs, not the
targets. Examples (from the project root):
    .venv/bin/python benchmarks/bench_app.py                     # sample image, denoise-fast
    .venv/bin/python benchmarks/bench_app.py --repeat 3          # the table in benchmarks/README.md
    .venv/bin/python benchmarks/bench_app.py --smoke --out /tmp/app.json   # seconds
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.imageio import load_image  # noqa: E402
from engine.presets import get_config  # noqa: E402
from engine.run import Restoration  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "bench_app.json"
SMOKE = dict(size=0, iterations=20, channels=8, depth=2, preview_every=5, repeat=1)
SMOKE_SIDE = 40


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(ROOT / "resources" / "sample_noisy.png"))
    ap.add_argument("--reference", default=str(ROOT / "resources" / "sample_clean.png"),
                    help="clean image for PSNR (the app's PSNR curve is part of the load); '' for none")
    ap.add_argument("--preset", default="denoise-fast")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--size", type=int, default=0, help="centre-crop the image to size x size (0: whole)")
    ap.add_argument("--channels", type=int, default=0, help="uniform width override (0: the preset's)")
    ap.add_argument("--depth", type=int, default=0, help="depth override with --channels (0: the preset's)")
    ap.add_argument("--preview-every", type=int, default=0, help="0: the preset's")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default="1", help="seeds averaged (1: the watched run alone, as headless)")
    ap.add_argument("--repeat", type=int, default=1, help="alternate headless/app runs this many times")
    ap.add_argument("--smoke", action="store_true",
                    help=f"a made-up {SMOKE_SIDE}x{SMOKE_SIDE} photo, a tiny net, {SMOKE['iterations']} steps, "
                         "no warm-up: seconds")
    ap.add_argument("--out", default=None, help=f"the JSON (default {OUT}, or bench_app_smoke.json)")
    ap.add_argument("--child", choices=("headless", "app", "warmup"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        for k, v in SMOKE.items():
            setattr(args, k, v)
    if args.out is None:
        args.out = str(OUT.with_name("bench_app_smoke.json") if args.smoke else OUT)
    return args


def smoke_photos(folder: Path) -> tuple[str, str]:
    """A noisy photo and its clean reference, made up (nothing to read from disk)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SMOKE_SIDE, 0:SMOKE_SIDE] / SMOKE_SIDE
    clean = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], axis=-1)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    paths = []
    for name, a in (("smoke_noisy.png", noisy), ("smoke_clean.png", clean)):
        path = folder / name
        Image.fromarray(np.round(a * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths[0], paths[1]


def build_config(args):
    seeds = args.seeds if args.seeds == "auto" else int(args.seeds)
    over = dict(iterations=args.iterations, seed=args.seed, device=args.device, seeds=seeds)
    if args.preview_every:
        over["preview_every"] = args.preview_every
    cfg = get_config(args.preset, **over)
    if args.channels:
        depth = args.depth or len(cfg.net.channels_down)
        cfg.net = cfg.net.with_width(depth, args.channels)
        cfg = cfg.validate()
    return cfg


def crop(a: np.ndarray | None, size: int) -> np.ndarray | None:
    if a is None or not size:
        return a
    h, w = a.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(a[y:y + s, x:x + s])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def headless(cfg, image, reference) -> dict:
    run = Restoration(cfg, image, reference=reference)
    sync(run.device)
    t0 = time.perf_counter()
    n = 0
    for _rec in run.steps():
        n += 1
    sync(run.device)
    dt = time.perf_counter() - t0
    device = run.device_name
    run.close()
    return {"steps": n, "seconds": dt, "steps_per_s": n / dt, "device": device}


def in_app(cfg, image_path: str, reference_path: str | None, size: int) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    # keep the user's real preferences out of it
    app.setOrganizationName("dip-studio-bench")
    app.setApplicationName("dip-studio-bench")
    win = MainWindow()
    win.resize(1400, 900)
    win.show()
    win.open_path(image_path, reference_path)
    if size:
        h, w = win.doc.full.shape[:2]
        s = min(size, h, w)
        win.set_region((w - s) // 2, (h - s) // 2, s, s)
    win.panel.set_config(cfg)
    app.processEvents()

    marks: dict[str, float] = {}
    gaps: list[float] = []
    ends: list[float] = []      # when each gap ended: where in the run a stall came
    last_tick = [0.0]
    ticking = [False]

    def tick() -> None:
        now = time.perf_counter()
        if ticking[0]:
            gaps.append(now - last_tick[0])
            ends.append(now)
        last_tick[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)

    loop = QEventLoop()
    c = win.controller
    orig_start = c.start_with

    def start_with(source, *more, **kw):
        # time the loop from inside the worker: right after the network is built
        def factory():
            run = source() if callable(source) else source
            sync(run.device)
            marks["t0"] = time.perf_counter()
            return run
        orig_start(factory, *more, **kw)

    c.start_with = start_with

    def on_ready(_info) -> None:
        last_tick[0] = time.perf_counter()
        ticking[0] = True

    def on_finished(_reason: str) -> None:
        marks["t1"] = time.perf_counter()
        ticking[0] = False
        loop.quit()

    def on_failed(msg: str) -> None:
        marks["error"] = msg
        ticking[0] = False
        loop.quit()

    c.ready.connect(on_ready)
    c.finished.connect(on_finished)
    c.failed.connect(on_failed)
    timer.start()
    assert win.start_run(), "the window refused to start the run"
    loop.exec()
    timer.stop()
    if "error" in marks:
        raise SystemExit(f"app run failed: {marks['error']}")
    run = c.run
    n = run.step
    dt = marks["t1"] - marks["t0"]
    device = run.device_name
    shown = len(win.plots.loss)
    win.doc.dirty = False                       # nothing to ask about on close
    win.close()
    app.processEvents()
    g = np.asarray(gaps) * 1000.0 if gaps else np.zeros(1)
    return {"steps": n, "seconds": dt, "steps_per_s": n / dt, "device": device,
            "curve_points": shown, "ticks": len(gaps),
            "max_stall_ms": float(g.max()), "p99_stall_ms": float(np.percentile(g, 99)),
            "mean_tick_ms": float(g.mean()),
            # seconds after the network was built: 0 is the first step, "seconds" the last
            "max_stall_at_s": float(ends[int(np.argmax(g))] - marks["t0"]) if gaps else 0.0}


def child(args) -> dict:
    cfg = build_config(args)
    if args.child == "app":
        return in_app(cfg, args.image, args.reference or None, args.size)
    image = crop(load_image(args.image).array, args.size)
    reference = crop(load_image(args.reference).array, args.size) if args.reference else None
    if args.child == "warmup":
        cfg = cfg.replace(iterations=min(10, cfg.iterations))
    return headless(cfg, image, reference)


def run_child(kind: str, argv: list[str]) -> dict:
    # the children get the plain options (a smoke run's are spelled out, with its photos)
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", kind]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} measurement failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="bench_app_") as tmp:
            args.image, args.reference = smoke_photos(Path(tmp))
            return measure(args, child_argv(args))
    return measure(args, argv)


def child_argv(args) -> list[str]:
    """The options of a smoke run, spelled out for its children."""
    return ["--image", args.image, "--reference", args.reference, "--preset", args.preset,
            "--iterations", str(args.iterations), "--size", str(args.size), "--channels", str(args.channels),
            "--depth", str(args.depth), "--preview-every", str(args.preview_every), "--device", args.device,
            "--seed", str(args.seed), "--seeds", str(args.seeds)]


def measure(args, argv: list[str]) -> int:
    cfg = build_config(args)
    image = crop(load_image(args.image).array, args.size)
    h, w = image.shape[:2]
    print(f"config: {cfg.preset} {w}x{h}, {cfg.iterations} steps, net {cfg.net.channels_down}, "
          f"preview every {cfg.preview_every}, seeds {cfg.seeds}, device {cfg.device}", flush=True)
    if not args.smoke:
        # warms the OS file cache and torch's first-import costs; the numbers come after
        run_child("warmup", argv)

    rows = []
    for i in range(args.repeat):
        hl = run_child("headless", argv)
        print(f"  headless #{i + 1}: {hl['steps_per_s']:.3f} steps/s", flush=True)
        ap = run_child("app", argv)
        print(f"  app      #{i + 1}: {ap['steps_per_s']:.3f} steps/s, max stall {ap['max_stall_ms']:.1f} ms "
              f"({ap['max_stall_at_s']:.1f} s into {ap['seconds']:.1f})",
              flush=True)
        rows.append((hl, ap))

    hl_rate = float(np.median([r[0]["steps_per_s"] for r in rows]))
    ap_rate = float(np.median([r[1]["steps_per_s"] for r in rows]))
    ratio = ap_rate / hl_rate
    max_stall = max(r[1]["max_stall_ms"] for r in rows)
    p99 = max(r[1]["p99_stall_ms"] for r in rows)
    print()
    print(f"{'':24s}{'steps/s':>10s}{'seconds':>10s}")
    print(f"{'headless (median)':24s}{hl_rate:10.3f}{np.median([r[0]['seconds'] for r in rows]):10.2f}")
    print(f"{'in the app (median)':24s}{ap_rate:10.3f}{np.median([r[1]['seconds'] for r in rows]):10.2f}")
    print(f"{'ratio app/headless':24s}{ratio:10.3f}   target >= 0.97  {'OK' if ratio >= 0.97 else 'MISSED'}")
    print(f"{'GUI max stall (ms)':24s}{max_stall:10.1f}   target < 50     {'OK' if max_stall < 50 else 'MISSED'}")
    print(f"{'GUI p99 stall (ms)':24s}{p99:10.1f}")

    result = {
        "smoke": bool(args.smoke),
        "config": {"preset": cfg.preset, "width": w, "height": h, "iterations": cfg.iterations,
                   "channels_down": cfg.net.channels_down, "preview_every": cfg.preview_every,
                   "device": rows[0][0]["device"]},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cpus": os.cpu_count()},
        "runs": [{"headless": a, "app": b} for a, b in rows],
        "headless_steps_per_s": hl_rate,
        "app_steps_per_s": ap_rate,
        "ratio": ratio,
        "ratio_target": 0.97,
        "max_stall_ms": max_stall,
        "p99_stall_ms": p99,
        "stall_target_ms": 50.0,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
