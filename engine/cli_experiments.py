"""``restore --task preimage|actmax``: the paper's experiments with a classifier, headless.

    restore --task preimage --classifier PATH|ARCH:WEIGHTS --layer NAME --input PATH --output PATH
    restore --task actmax --classifier PATH|ARCH:WEIGHTS [--layer NAME] --unit N --output PATH [--size WxH]

Everything is checked (classifier file, layer name, unit range, destinations) before the
first step; the image and its ``--metrics`` report are written together or not at all.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from .cli_common import _check_destinations, _Progress, flag_overrides, strict_json, write_result
from .config import CLASSIFIER_TASKS
from .errors import DIPError

EXPERIMENT_FLAGS = ("classifier", "layer", "unit", "size")
# restore flags that mean nothing without degraded pixels
_RESTORE_ONLY = ("mask", "guide", "scale", "reference")
CURVE_POINTS = 200     # at most this many (step, value) pairs in the report's curve


def reject_experiment_flags(a: argparse.Namespace) -> None:
    """--classifier, --layer, --unit and --size belong to preimage/actmax only."""
    for flag in EXPERIMENT_FLAGS:
        if getattr(a, flag, None) is not None:
            raise DIPError(f"--{flag} is only used by --task preimage or actmax, not {a.task}")


def cmd_experiment(a: argparse.Namespace) -> int:
    """Run one preimage/actmax job."""
    from . import imageio
    from .classifier import load_classifier, parse_size
    from .presets import get_config

    task = a.task
    assert task in CLASSIFIER_TASKS
    if not a.classifier:
        raise DIPError(f"--task {task} needs --classifier PATH (a TorchScript file) or ARCH:WEIGHTS "
                       f"(alexnet or vgg16 and a state_dict file)")
    for flag in _RESTORE_ONLY:
        if getattr(a, flag, None):
            raise DIPError(f"--{flag} is not used by --task {task}: drop it")
    if (a.runs or 1) > 1:
        raise DIPError(f"--runs is not used by --task {task}: drop it")
    for flag, default in (("tile", "auto"), ("overlap", None), ("crop_margin", None)):
        if getattr(a, flag, default) != default:   # a classifier sees the whole image: nothing to tile
            raise DIPError(f"--{flag.replace('_', '-')} is not used by --task {task}: drop it")
    if task == "preimage":
        if not a.input:
            raise DIPError("--task preimage needs --input: the image whose features to match")
        if a.unit is not None:
            raise DIPError("--unit is used by --task actmax, not preimage: drop it")
        if a.size:
            raise DIPError("--size is used by --task actmax (the pre-image has the input's size): drop it")
    else:
        if a.unit is None:
            raise DIPError("--task actmax needs --unit N: the channel or logit to maximise")
        if a.input:
            raise DIPError("--task actmax makes an image from nothing: drop --input (give --size WxH)")
    size = parse_size(a.size) if a.size else None

    overrides = {"classifier": a.classifier,
                 **flag_overrides(a, ("layer", "unit", "arch", "iterations", "lr", "seed", "device", "pick", "stop"))}
    cfg = get_config(a.preset, task=task, **overrides)
    if a.preset is None:   # no preset named: the fast one on a CPU, the paper's on a GPU
        from .device import pick_device
        from .presets import default_preset
        name = default_preset(task, pick_device(cfg.device).type)
        if name != cfg.preset:
            cfg = get_config(name, task=task, **overrides)
    _check_destinations(
        [("--output", a.output, imageio.SAVE_FORMATS)] + ([("--metrics", a.metrics, None)] if a.metrics else []),
        [("--input", a.input), ("--classifier", a.classifier.split(":", 1)[-1])], a.overwrite)

    # the classifier, its layer and the unit, before any network is built
    clf = load_classifier(cfg.classifier)
    clf.check_layer(cfg.layer)
    loaded = None
    if task == "preimage":
        loaded = imageio.load_image(a.input)
        image = loaded.array
    else:
        from .experiments import canvas
        hw = size or clf.input_size
        if hw is None:
            raise DIPError(f"classifier {a.classifier} does not say its input size: give --size WxH")
        image = canvas(*hw)

    from .run import Restoration

    run = Restoration(cfg, image)
    h, w, _ = run.out_shape
    what = "feature distance" if task == "preimage" else "activation"
    if not a.quiet:
        print(f"{task} with preset {cfg.preset} ({'TV prior: pixels' if cfg.prior == 'tv' else 'deep image prior'}): "
              f"layer {cfg.layer or 'output'}" + (f", unit {cfg.unit} of {run.task.units}" if task == "actmax" else "")
              + f", {run.param_count:,} parameters, {w}x{h}, {cfg.iterations} steps on {run.device_name}",
              file=sys.stderr)
    sign = 1.0 if task == "preimage" else -1.0
    curve: list[tuple[int, float]] = []
    every = max(1, cfg.iterations // CURVE_POINTS)
    bar = _Progress(cfg.iterations, a.quiet)
    try:
        for rec in run.steps():
            if rec.step == 1 or rec.step % every == 0 or rec.step >= cfg.iterations:
                curve.append((rec.step, sign * float(run.task.last_data)))
            bar.update(rec.step, rec.loss, rec.elapsed, None, f"  {what} {curve[-1][1]:.4g}")
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    result = run.result(cfg.pick)
    final = _measure(run, result)
    report: dict[str, Any] = {
        "task": task, "preset": cfg.preset, "prior": cfg.prior, "classifier": cfg.classifier,
        "layer": cfg.layer, "parameters": run.param_count, "device": run.device_name, "size": [w, h],
        "steps": run.step, "seconds": run.elapsed, "seconds_per_step": run.elapsed / max(run.step, 1),
        "pick": cfg.pick, "stop": {"step": run.step, "reason": run.stop_reason},
        "config": cfg.to_dict(),
    }
    if task == "preimage":
        report["feature_distance"] = {"start": curve[0][1], "written": final, "min": min(v for _, v in curve),
                                      "curve": curve,
                                      "is": "||Phi(x) - Phi(x0)||^2 / ||Phi(x0)||^2 at the layer"}
    else:
        others = np.delete(final, cfg.unit)
        report["activation"] = {"unit": cfg.unit, "start": curve[0][1], "written": float(final[cfg.unit]),
                                "max": max(v for _, v in curve), "curve": curve,
                                "other_units_max": float(others.max()) if others.size else None,
                                "rank": int((final > final[cfg.unit]).sum()) + 1, "units": int(final.size),
                                "is": "the unit's value (channel: spatial mean; flat output: the logit)"}
        if clf.class_names and cfg.layer is None and cfg.unit < len(clf.class_names):
            report["activation"]["class"] = clf.class_names[cfg.unit]
    write_result(a.output, result, loaded, (a.metrics, strict_json(report)) if a.metrics else None)
    if not a.quiet:
        if task == "preimage":
            print(f"feature distance {curve[0][1]:.4g} at the start, {final:.4g} written", file=sys.stderr)
        else:
            print(f"unit {cfg.unit}: activation {curve[0][1]:.4g} at the start, {final[cfg.unit]:.4g} written "
                  f"(rank {report['activation']['rank']} of {final.size})", file=sys.stderr)
        print(f"wrote {a.output}" + (f" and {a.metrics}" if a.metrics else ""), file=sys.stderr)
    return 0


def _measure(run, result: np.ndarray):
    """The written image's feature distance (preimage) or every unit's activation (actmax)."""
    import torch

    from .experiments import ActMax
    from .tasks import to_tensor

    x = to_tensor(result, run.device)
    with torch.no_grad():
        if isinstance(run.task, ActMax):
            return run.task.all_units(x)
        return float(run.task.data_term(x))
