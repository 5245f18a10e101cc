"""The command line: ``restore`` runs a restoration headless, ``degrade`` makes the
paper's degradations for trying things out. Both print one-line errors and exit non-zero.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import ARCHS, DEVICES, PICKS, TASKS
from .errors import DIPError
from .presets import DEFAULT_PRESET, PRESETS

USAGE = """\
DIP Studio: Deep Image Prior restoration.

  python main.py                 open the desktop app (with a sample image)
  python main.py PATH            open PATH in the app
  python main.py restore ...     restore an image headless (python main.py restore -h)
  python main.py degrade ...     make a degraded test image  (python main.py degrade -h)
"""


def _presets_epilog() -> str:
    lines = ["presets (task: name - summary):"]
    for p in PRESETS.values():
        default = " [default]" if DEFAULT_PRESET.get(p.task) == p.name else ""
        lines.append(f"  {p.task:9s} {p.name}{default}: {p.summary}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="main.py", description="Deep Image Prior restoration (headless).")
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore an image", epilog=_presets_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--task", required=True, choices=TASKS)
    r.add_argument("--input", required=True, help="the degraded image (for superres: the low-resolution one)")
    r.add_argument("--output", required=True, help="where to write the result (.png, .jpg, .tif, ...)")
    r.add_argument("--mask", help="inpainting mask: white = known pixel, black = to fill")
    r.add_argument("--guide", help="flash/no-flash: the flash photo (the input is the no-flash photo)")
    r.add_argument("--scale", type=int, help="super-resolution factor (2, 4, 8)")
    r.add_argument("--reference", help="clean image for PSNR/SSIM reporting only; never used to pick")
    r.add_argument("--preset", help="a named configuration (default: the task's paper preset)")
    r.add_argument("--arch", choices=ARCHS, help="network architecture")
    r.add_argument("--iterations", type=int, help="Adam steps")
    r.add_argument("--lr", type=float, help="learning rate")
    r.add_argument("--seed", type=int, help="fixes input, weights and jitter")
    r.add_argument("--device", choices=DEVICES, help="default auto: CUDA, then MPS, then CPU")
    r.add_argument("--pick", choices=PICKS, help="which iterate to write: last, ema, or auto (suggested)")
    r.add_argument("--metrics", help="write a JSON report here")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set channels_down=[32,32,32] --set sigma_p=0")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    d = sub.add_parser("degrade", help="degrade a clean image as in the paper")
    d.add_argument("--task", required=True, choices=("denoise", "inpaint", "superres", "jpeg"))
    d.add_argument("--input", required=True)
    d.add_argument("--output", required=True)
    d.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0-255 scale (denoise)")
    d.add_argument("--drop", type=float, default=0.5, help="fraction of pixels dropped (inpaint)")
    d.add_argument("--mask-out", help="where to write the mask (inpaint; default OUTPUT_mask.png)")
    d.add_argument("--scale", type=int, default=4, help="downscale factor (superres)")
    d.add_argument("--quality", type=int, default=10, help="JPEG quality (jpeg)")
    d.add_argument("--seed", type=int, default=0)
    return ap


def parse_overrides(items: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """KEY=VALUE strings -> config overrides; values are JSON where they parse as JSON."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise DIPError(f"{flag} expects KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


class _Progress:
    """A single updating line on a terminal; sparse plain lines otherwise (logs, CI)."""

    def __init__(self, total: int, quiet: bool):
        self.total = total
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.every = max(1, total // 10)

    def update(self, step: int, loss: float, elapsed: float, suggested: tuple[int, float] | None,
               extra: str = "") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        done = step >= self.total
        if self.tty and not done and now - self.last < 0.2:
            return
        if not self.tty and not done and step % self.every:
            return
        self.last = now
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else math.inf
        sug = f"  suggested {suggested[0]}" if suggested else ""
        line = (f"step {step}/{self.total}  loss {loss:.3e}  {rate:.2f} it/s  "
                f"ETA {_fmt_s(eta)}{sug}{extra}")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(100)[:140] + ("\n" if done else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _fmt_s(s: float) -> str:
    if not math.isfinite(s):
        return "--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cmd_restore(a: argparse.Namespace) -> int:
    from . import imageio
    from .metrics import psnr, ssim
    from .presets import get_config
    from .run import Restoration

    overrides: dict[str, Any] = {}
    for key in ("arch", "iterations", "lr", "seed", "device", "pick", "scale"):
        v = getattr(a, key)
        if v is not None:
            overrides[key] = v
    overrides.update(parse_overrides(a.set))
    cfg = get_config(a.preset, task=a.task, **overrides)

    loaded = imageio.load_image(a.input)
    image = loaded.array
    mask = imageio.load_mask(a.mask, image.shape[:2]) if a.mask else None
    guide = imageio.load_image(a.guide).array if a.guide else None
    reference = imageio.load_image(a.reference).array if a.reference else None
    if a.task == "inpaint" and mask is None:
        raise DIPError("inpainting needs --mask (white = known pixel, black = to fill)")
    if a.task == "flash" and guide is None:
        raise DIPError("flash/no-flash needs --guide FLASH_PHOTO (--input is the no-flash photo)")
    _check_output_path(a.output)

    run = Restoration(cfg, image, mask=mask, guide=guide, reference=reference)
    h, w, _ = run.out_shape
    if not a.quiet:
        print(f"{cfg.task} with preset {cfg.preset}: {cfg.net.arch} net, {run.param_count:,} parameters, "
              f"{w}x{h} output, {cfg.iterations} steps on {run.device_name}", file=sys.stderr)
    progress = _Progress(cfg.iterations, a.quiet)
    best_seen: dict[str, Any] | None = None
    try:
        for rec in run.steps():
            extra = ""
            if rec.psnr:
                extra = f"  PSNR {rec.psnr['output']:.2f}"
                for kind in ("output", "ema"):
                    v = rec.psnr.get(kind)
                    if v is not None and (best_seen is None or v > best_seen["psnr"]):
                        best_seen = {"psnr": v, "step": rec.step, "kind": kind}
            progress.update(rec.step, rec.loss, rec.elapsed, rec.suggested, extra)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130

    result = run.result(cfg.pick)
    imageio.save_image(a.output, result, like=loaded if result.shape[:2] == image.shape[:2] else None)
    if not a.quiet:
        print(f"wrote {a.output} ({cfg.pick} iterate"
              + (f", suggested step {run.suggested[0]}" if cfg.pick == "auto" and run.suggested else "")
              + ")", file=sys.stderr)

    if a.metrics:
        report: dict[str, Any] = {
            "task": cfg.task, "preset": cfg.preset, "architecture": cfg.net.arch,
            "parameters": run.param_count, "device": run.device_name, "steps": run.step,
            "seconds_per_step": run.elapsed / max(run.step, 1), "seconds": run.elapsed,
            "backtracks": run.backtracks, "pick": cfg.pick, "stopped_early": run.stopped_early,
            "suggested_iterate": None if run.suggested is None else
            {"step": run.suggested[0], "variance": run.suggested[1]},
            "config": cfg.to_dict(),
        }
        if reference is not None:
            ref = run.reference
            sr = cfg.task == "superres"
            kw = dict(y_channel=sr and ref.shape[2] == 3, shave=4 if sr else 0)
            p = {"input": psnr(run.degraded(), ref, **kw),
                 "last": psnr(run.result("last"), ref, **kw),
                 "written": psnr(result, ref, **kw)}
            if cfg.ema > 0:
                p["ema"] = psnr(run.result("ema"), ref, **kw)
            if run.suggested is not None:
                p["suggested"] = psnr(run.result("auto"), ref, **kw)
            if best_seen is not None:
                p["best_seen_oracle"] = best_seen
            report["psnr"] = p
            report["psnr_protocol"] = "Y channel, 4 px shaved" if kw["y_channel"] else "all channels, range 1"
            report["ssim_written"] = ssim(result, ref)
        from .imageio import atomic_write
        text = json.dumps(report, indent=2, default=float)
        atomic_write(a.metrics, lambda tmp: Path(tmp).write_text(text))
    return 0


def _check_output_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DIPError(f"cannot write {path}: folder {folder} does not exist")


def cmd_degrade(a: argparse.Namespace) -> int:
    from . import degrade, imageio

    loaded = imageio.load_image(a.input)
    img = loaded.array
    _check_output_path(a.output)
    if a.task == "denoise":
        out = degrade.add_noise(img, a.sigma, seed=a.seed)
    elif a.task == "jpeg":
        out = degrade.jpeg(img, quality=a.quality)
    elif a.task == "superres":
        out = degrade.downscale(img, a.scale)
    else:
        out, mask = degrade.drop_pixels(img, a.drop, seed=a.seed)
        mask_out = a.mask_out or str(Path(a.output).with_name(Path(a.output).stem + "_mask.png"))
        imageio.save_mask(mask_out, mask)
        print(f"wrote {mask_out} (white = known)", file=sys.stderr)
    imageio.save_image(a.output, out, like=loaded if out.shape[:2] == img.shape[:2] else None)
    print(f"wrote {a.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(USAGE)
        return 0
    args = build_parser().parse_args(argv)
    try:
        return cmd_restore(args) if args.command == "restore" else cmd_degrade(args)
    except DIPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory: use a smaller image or region, or fewer channels", file=sys.stderr)
        return 2
