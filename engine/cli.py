"""The command line: ``restore`` runs a restoration headless, ``degrade`` makes the
paper's degradations for trying things out. Both print one-line errors and exit non-zero.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .cli_common import (  # noqa: F401
    _check_destinations, _Progress, check_name_lengths, describe_os_error, flag_overrides, parse_overrides,
    strict_json, write_result,
)
from .config import ARCHS, DEVICES, MAX_SEEDS, PICKS, STOPS, TASKS
from .errors import DIPError
from .presets import DEFAULT_PRESET, PAPER_PRESET, PRESETS

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
        default = " [default]" if DEFAULT_PRESET.get(p.task) == p.name else \
            " [default on a GPU]" if PAPER_PRESET.get(p.task) == p.name else ""
        lines.append(f"  {p.task:9s} {p.name}{default}: {p.summary}")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ...``) and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message.splitlines()[0] if message else 'bad arguments'} "
                     f"(see: {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="main.py", description="Deep Image Prior restoration (headless).")
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore an image", epilog=_presets_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--task", required=True, choices=TASKS)
    r.add_argument("--input", help="the degraded image (for superres: the low-resolution one); required except "
                                   "for actmax; a folder, a glob pattern or a list file (.txt) restores many")
    r.add_argument("--output", required=True, help="where to write the result (.png, .jpg, .tif, ...)")
    r.add_argument("--mask", help="inpainting mask: white = known pixel, black = to fill")
    r.add_argument("--guide", help="flash/no-flash: the flash photo (the input is the no-flash photo)")
    r.add_argument("--scale", type=int, help="super-resolution factor (2, 3, 4 or 8)")
    r.add_argument("--reference", help="clean image for PSNR/SSIM reporting only; never used to pick")
    r.add_argument("--preset", help="a named configuration (default: the task's paper preset)")
    r.add_argument("--arch", choices=ARCHS, help="network architecture")
    r.add_argument("--iterations", type=int,
                   help="Adam steps; with --stop auto the most it may take (the preset's bound by default)")
    r.add_argument("--stop", choices=STOPS,
                   help="auto (default): stop once the best iterate is confirmed (held-out pixels stop "
                        "improving) and write it; never: run every step")
    r.add_argument("--lr", type=float, help="learning rate")
    r.add_argument("--seed", type=int, help="fixes input, weights and jitter")
    r.add_argument("--device", choices=DEVICES, help="default auto: CUDA, then MPS, then CPU")
    r.add_argument("--runs", type=_runs_count, metavar="N",
                   help="run N seeds (seed, seed+1, ...) and write the mean of their picks, side by side on a "
                        "CPU (default: the preset's; fast denoising averages 4 on images up to 160x160 px)")
    r.add_argument("--pick", choices=PICKS,
                   help="which iterate to write: auto (default: the stopping rule's best), last, or ema")
    r.add_argument("--metrics", help="write a JSON report here")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set channels_down=[32,32,32] --set sigma_p=0")
    r.add_argument("--tile", type=_tile_arg, default="auto", metavar="SIZE|auto|off",
                   help="restore in overlapping tiles of SIZE px, each a full run that stops by itself; auto "
                        "(default): tiles only when one run of the whole photo would not fit this device's "
                        "memory, and inpainting of a large photo restores crops around the mask; off: one run")
    r.add_argument("--overlap", type=int, metavar="PX",
                   help="pixels shared by neighbouring tiles (default: 1/8 of the tile, at least the net's cell)")
    r.add_argument("--crop-margin", type=int, metavar="PX",
                   help="inpainting crops: context kept around each part of the mask (default 32)")
    r.add_argument("--yes", action="store_true",
                   help="run a job estimated at over an hour (without it the plan is printed and nothing runs)")
    r.add_argument("--classifier", metavar="PATH|ARCH:WEIGHTS",
                   help="preimage/actmax: a TorchScript file taking a 1x3xHxW image in [0, 1], or alexnet:FILE / "
                        "vgg16:FILE (torchvision and a state_dict file; nothing is downloaded)")
    r.add_argument("--layer", metavar="NAME", help="preimage/actmax: a named_modules() name (default: the output)")
    r.add_argument("--unit", type=int, metavar="N", help="actmax: the channel (its spatial mean) or logit to maximise")
    r.add_argument("--size", metavar="WxH", help="actmax: the image size (default: the classifier's)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--overwrite", action="store_true",
                   help="allow --output to be the --input file itself (replaces your original)")
    from .batch_cli import add_batch_arguments   # --input DIR|GLOB|LIST.txt --output DIR; --ray, --threads
    add_batch_arguments(r)

    d = sub.add_parser("degrade", help="degrade a clean image as in the paper")
    d.add_argument("--task", required=True, choices=("denoise", "inpaint", "superres", "jpeg"))
    d.add_argument("--input", required=True)
    d.add_argument("--output", required=True)
    d.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0-255 scale (denoise)")
    d.add_argument("--drop", type=float, default=0.5, help="fraction of pixels dropped (inpaint)")
    d.add_argument("--mask-out", help="where to write the mask (inpaint; default OUTPUT_mask.png)")
    d.add_argument("--scale", type=int, default=4, help="downscale factor (superres): 2, 3, 4 or 8")
    d.add_argument("--quality", type=int, default=10, help="JPEG quality 1..100 (jpeg)")
    d.add_argument("--seed", type=int, default=0, help="noise / dropped pixels (0..2**63-1)")
    d.add_argument("--overwrite", action="store_true",
                   help="allow --output to be the --input file itself (replaces your original)")
    return ap


def _runs_count(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, got '{v}'") from None
    if not 1 <= n <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"--runs must be 1..{MAX_SEEDS}, got {n}")
    return n


def _tile_arg(v: str) -> int | str:
    v = v.strip().lower()
    if v in ("auto", "off"):
        return v
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in pixels, auto or off, got '{v}'") from None
    if n < 64:
        raise argparse.ArgumentTypeError(f"a tile must be at least 64 px, got {n}")
    return n


def check_run_flags(a: argparse.Namespace) -> None:
    """Every tiling and executor flag is checked whether or not it applies, and one that does
    not apply to this command is refused, never silently ignored."""
    from .cli_experiments import CLASSIFIER_TASKS
    from .tiling import check_tiling_args

    for flag, args in (("--overlap", (a.overlap, None)), ("--crop-margin", (None, a.crop_margin))):
        try:
            check_tiling_args(*args)
        except DIPError as exc:
            raise DIPError(f"{flag}: {exc}") from None
    if a.threads is not None and not 1 <= a.threads <= 256:
        raise DIPError(f"--threads must be 1..256, got {a.threads}")
    g = a.gpus_per_unit
    if g is not None:
        if not (math.isfinite(g) and 0 < g <= 1):
            raise DIPError(f"--gpus-per-unit must be in (0, 1], got {g:g}")
        if a.ray is None:
            raise DIPError("--gpus-per-unit is used with --ray only (a Ray task's share of a GPU): drop it or add "
                           "--ray")
    if a.overlap is not None and a.tile == "off":
        raise DIPError("--overlap is the pixels tiles share, and --tile off runs the photo as one: drop one of them")
    if a.crop_margin is not None and a.task != "inpaint":
        raise DIPError(f"--crop-margin is the known pixels kept around the mask: only --task inpaint uses it, "
                       f"not {a.task}")
    if a.ray is not None and a.task in CLASSIFIER_TASKS:
        raise DIPError(f"--ray is not used by --task {a.task}: it runs as one job in this process; drop --ray")


def cmd_restore(a: argparse.Namespace) -> int:
    from . import imageio
    from .cli_experiments import CLASSIFIER_TASKS, cmd_experiment, reject_experiment_flags
    from .presets import get_config

    check_name_lengths(a)
    check_run_flags(a)
    if a.task in CLASSIFIER_TASKS:
        if a.threads is not None:
            from .batch_cli import set_threads
            set_threads(a.threads)
        return cmd_experiment(a)
    reject_experiment_flags(a)
    if not a.input:
        raise DIPError(f"--task {a.task} needs --input: the image to restore")
    overrides = flag_overrides(a, ("arch", "iterations", "lr", "seed", "device", "pick", "scale", "stop"))
    cfg = get_config(a.preset, task=a.task, **overrides)
    from .batch_cli import cmd_batch, wants_batch
    if wants_batch(a):   # a folder, a pattern or a list of photos, or --ray: engine/batch_cli.py
        return cmd_batch(a, cfg, overrides)
    if a.threads is not None:   # one photo in this process: its torch threads (the same pixels as a unit's)
        from .batch_cli import set_threads
        set_threads(a.threads)
    # everything that can be checked is checked before the first step: nothing is lost
    if a.task == "inpaint" and not a.mask:
        raise DIPError("inpainting needs --mask (white = known pixel, black = to fill)")
    if a.task == "flash" and not a.guide:
        raise DIPError("flash/no-flash needs --guide FLASH_PHOTO (--input is the no-flash photo)")
    if a.mask and a.task != "inpaint":
        raise DIPError(f"--mask is only used by --task inpaint, not {a.task}: drop it or change the task")
    if a.guide and a.task != "flash":
        raise DIPError(f"--guide is only used by --task flash, not {a.task}: drop it or change the task")
    _check_destinations(
        [("--output", a.output, imageio.SAVE_FORMATS)] + ([("--metrics", a.metrics, None)] if a.metrics else []),
        [("--input", a.input), ("--mask", a.mask), ("--guide", a.guide), ("--reference", a.reference)],
        a.overwrite)

    loaded = imageio.load_image(a.input)
    image = loaded.array
    mask = imageio.load_mask(a.mask, image.shape[:2]) if a.mask else None
    guide = imageio.load_image(a.guide).array if a.guide else None
    reference = imageio.load_image(a.reference).array if a.reference else None
    h, w = image.shape[:2]
    if mask is not None:
        imageio.check_inpainting_mask(mask, a.mask)
    if guide is not None and guide.shape[:2] != (h, w):
        raise DIPError(f"the flash photo (--guide) is {guide.shape[1]}x{guide.shape[0]} but the no-flash "
                       f"photo (--input) is {w}x{h} (W x H)")
    if reference is not None:
        f = cfg.out_factor
        if reference.shape[:2] != (h * f, w * f):
            how = f" (the input x {f})" if f > 1 else ""
            raise DIPError(f"the reference is {reference.shape[1]}x{reference.shape[0]} but the result will be "
                           f"{w * f}x{h * f}{how} (W x H)")

    from .metrics import psnr_protocol, ssim, task_psnr   # torch: imported only once the inputs are known to be usable

    if a.preset is None:   # no preset named: the fast one on a CPU, the paper's on a GPU
        from .device import pick_device
        from .presets import default_preset
        name = default_preset(a.task, pick_device(cfg.device).type)
        if name != cfg.preset:
            cfg = get_config(name, task=a.task, **overrides)
    from .seeds import Seeds
    from .durations import format_duration
    from .tiling import LONG_PLAN_S, plan_job
    from .calibrate import factor_for, time_long_plans
    from .schedule import pace_noise

    plan = plan_job(cfg, (h, w), image.shape[2], mask=mask, device=cfg.device, tile=a.tile,
                    overlap=a.overlap, margin=a.crop_margin, runs=a.runs or None, noise=pace_noise(cfg, image))
    # a long plan is priced by this machine's measured step, not only the model's
    (plan,), timed = time_long_plans(cfg, [plan], plan.seconds)
    n_runs = plan.runs
    too_long = plan.seconds > LONG_PLAN_S and not a.yes
    if not a.quiet or plan.problem or too_long:
        print(f"plan: {plan.describe()}", file=sys.stderr)
        if timed is not None:
            print(f"(priced by this machine's own steps: {timed:.2f}x the step model's)", file=sys.stderr)
    if plan.problem:
        raise DIPError(plan.problem)
    if too_long:
        raise DIPError(f"this job is estimated at about {format_duration(plan.seconds)}: add --yes to run it "
                       f"(the plan above says how), or restore a region or a downscaled copy")
    if plan.tiled:
        return _restore_tiled(a, cfg, plan, loaded, mask, guide, reference, n_runs)
    seeds = Seeds(cfg, image, n_runs, mask=mask, guide=guide, reference=reference)
    run = seeds.runs[0]
    h, w, _ = run.out_shape
    if not a.quiet:
        side = "" if n_runs == 1 else (f"{n_runs} seeds averaged" +
                                       (" side by side: " if seeds.concurrent else " one after the other: "))
        print(f"{side}{cfg.task} with preset {cfg.preset}: {cfg.net.arch} net, {run.param_count:,} parameters, "
              f"{w}x{h} output, " + (f"stops by itself (at most {cfg.iterations} steps)" if cfg.stop == "auto"
                                     else f"{cfg.iterations} steps") + f" on {run.device_name}", file=sys.stderr)
        if run.noise is not None:
            print(f"{run.noise.words()} (measured on the photo); {run.task.holdout_note or 'nothing held out'}",
                  file=sys.stderr)
    # progress follows the first seed (the others run alike); each seed says how it ended
    progress = _Progress(cfg.iterations, a.quiet)
    best_seen: dict[str, Any] | None = None
    try:
        for k, rec in seeds.steps():
            if k == 0:
                extra = ""
                if rec.psnr:
                    extra = f"  PSNR {rec.psnr['output']:.2f}"
                    for kind in ("output", "ema"):
                        v = rec.psnr.get(kind)
                        if v is not None and (best_seen is None or v > best_seen["psnr"]):
                            best_seen = {"psnr": v, "step": rec.step, "kind": kind}
                progress.update(rec.step, rec.loss, rec.elapsed, rec.suggested, extra)
            if rec.final and not a.quiet:
                r = seeds.runs[k]
                print(("" if n_runs == 1 else f"seed {k + 1}/{n_runs} ") +
                      f"{'stopped' if r.stopped_early else 'ended'} at step {r.step}: {r.stop_reason}",
                      file=sys.stderr)
    except KeyboardInterrupt:
        seeds.request_stop()
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    if seeds.failed_to_fit:
        raise DIPError(f"the run did not fit the image (after {run.step} steps no output came closer to it "
                       f"than a flat grey image): nothing written; lower the learning rate (now {cfg.lr:g})")
    picks = seeds.picks(cfg.pick)
    seconds = seeds.elapsed
    per_run = [{"seed": r.cfg.seed, "steps": r.step, "seconds": r.elapsed, "stop_reason": r.stop_reason,
                "best_iterate": None if r.suggested is None else {"step": r.suggested[0], "kind": r.suggested_kind}}
               for r in seeds.runs]
    result = picks[0] if n_runs == 1 else np.mean(picks, axis=0).astype(np.float32)
    metrics = None
    if a.metrics:
        report: dict[str, Any] = {
            "task": cfg.task, "preset": cfg.preset, "architecture": cfg.net.arch,
            "parameters": run.param_count, "device": run.device_name, "steps": run.step,
            "seconds_per_step": run.elapsed / max(run.step, 1), "seconds": seconds, "runs": per_run,
            "seeds_side_by_side": seeds.concurrent,
            "plan": {"text": plan.describe(), "estimate_seconds": plan.seconds,
                     "speed_factor": factor_for(cfg, cfg.device)},
            "backtracks": run.backtracks, "pick": cfg.pick,
            "noise": None if run.noise is None else run.noise.to_dict(),
            "stop": {"mode": cfg.stop, "rule": cfg.stop_rule, "step": run.step,
                     "stopped_early": run.stopped_early, "reason": run.stop_reason,
                     # the change rule's last measure: the moving average against one look-back ago
                     "change_db": None if run.change is None or run.change.last is None
                     else run.change.last[1]},
            "best_iterate": None if run.suggested is None else
            {"step": run.suggested[0], "kind": run.suggested_kind, "score": run.suggested[1],
             "score_is": "held-out pixel MSE" if cfg.stop_rule == "holdout" else "window variance"},
            "config": cfg.to_dict(),
        }
        if reference is not None:
            ref = run.reference

            def score(image: np.ndarray) -> float:
                return task_psnr(cfg.task, image, ref, scale=cfg.scale)

            p = {"input": score(run.degraded()), "last": score(run.result("last")), "written": score(result)}
            if cfg.ema > 0:
                p["ema"] = score(run.result("ema"))
            if run.suggested is not None:
                p["best_iterate"] = score(run.result("auto"))
            if n_runs > 1:
                p["each_run"] = [score(x) for x in picks]
            if best_seen is not None:
                p["best_seen_oracle"] = best_seen
            report["psnr"] = p
            report["psnr_protocol"] = psnr_protocol(cfg.task)
            report["ssim_written"] = ssim(result, ref)
        metrics = (a.metrics, strict_json(report))
    write_result(a.output, result, loaded, metrics)
    if not a.quiet:
        what = {"last": f"last iterate (step {run.step})", "ema": f"moving average (step {run.step})"}
        if run.suggested is not None:
            kind = "moving average" if run.suggested_kind == "ema" else "output"
            what["auto"] = f"best iterate: {kind} at step {run.suggested[0]}"
        print(f"wrote {a.output} ({what.get(cfg.pick, what['last'])}" +
              (f"; the mean of {n_runs} runs' picks" if n_runs > 1 else "") + ")", file=sys.stderr)
        if a.metrics:
            print(f"wrote {a.metrics}", file=sys.stderr)
    return 0


def _restore_tiled(*args) -> int:
    from .cli_tiled import restore_tiled
    return restore_tiled(*args)


def cmd_degrade(a: argparse.Namespace) -> int:
    from . import degrade, imageio
    from .config import SCALES

    check_name_lengths(a)

    # the parameters first (cheap, and nothing is read or written yet) ...
    if a.task == "denoise" and not (math.isfinite(a.sigma) and 0 <= a.sigma <= 255):
        raise DIPError(f"--sigma must be a number in 0..255 (the noise std on the 0-255 scale), got {a.sigma:g}")
    if a.task == "inpaint" and not 0.0 <= a.drop < 1.0:
        raise DIPError(f"--drop must be a fraction in [0, 1) (1 would drop every pixel), got {a.drop:g}")
    if a.task == "superres" and a.scale not in SCALES:
        raise DIPError(f"--scale must be {', '.join(map(str, SCALES[:-1]))} or {SCALES[-1]}, got {a.scale}")
    if a.task == "jpeg" and not 1 <= a.quality <= 100:
        raise DIPError(f"--quality must be 1..100, got {a.quality}")
    if not 0 <= a.seed <= degrade.MAX_SEED:
        raise DIPError(f"--seed must be in 0..{degrade.MAX_SEED} (0..2**63-1), got {a.seed}")
    if a.mask_out and a.task != "inpaint":
        raise DIPError(f"--mask-out is only used by --task inpaint, not {a.task}")
    # ... then every destination, before any pixel is computed or any file written
    outputs: list[tuple[str, str, dict[str, str] | None]] = [("--output", a.output, imageio.SAVE_FORMATS)]
    mask_out = None
    if a.task == "inpaint":
        mask_out = a.mask_out or str(Path(a.output).with_name(Path(a.output).stem + "_mask.png"))
        outputs.append(("--mask-out", mask_out, imageio.MASK_FORMATS))
    _check_destinations(outputs, [("--input", a.input)], a.overwrite)

    loaded = imageio.load_image(a.input)
    img = loaded.array
    if a.task == "denoise":
        out = degrade.add_noise(img, a.sigma, seed=a.seed)
    elif a.task == "jpeg":
        out = degrade.jpeg(img, quality=a.quality)
    elif a.task == "superres":
        out = degrade.downscale(img, a.scale)
    else:
        out, mask = degrade.drop_pixels(img, a.drop, seed=a.seed)
    writes = [(a.output, imageio.image_writer(a.output, out, like=loaded if out.shape[:2] == img.shape[:2] else None))]
    if mask_out is not None:
        writes.append((mask_out, imageio.mask_writer(mask_out, mask)))
    imageio.write_all(writes)  # the image and its mask together, or neither
    if mask_out is not None:
        print(f"wrote {mask_out} (white = known)", file=sys.stderr)
    print(f"wrote {a.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(USAGE)
        return 0
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # -h, or a usage error (already printed as one line)
            return exc.code if isinstance(exc.code, int) else 2
        return cmd_restore(args) if args.command == "restore" else cmd_degrade(args)
    except DIPError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory: use a smaller image or region, or fewer channels", file=sys.stderr)
        return 2
    except OSError as exc:   # the file system refused something no check foresaw: one line, written nothing
        if _interrupted(exc):
            print("\ninterrupted: nothing written", file=sys.stderr)
            return 130
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _interrupted(exc):
            raise
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # e.g. while torch is imported; every write is atomic
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C during an import can surface as another exception (a RuntimeError from
    ``__set_name__``, an ImportError...) caused by the KeyboardInterrupt."""
    e: BaseException | None = exc
    for _ in range(50):
        if e is None:
            return False
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__cause__ or e.__context__
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed"
