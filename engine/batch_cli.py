"""``restore`` with a folder, a pattern or a list (or one photo with --ray): the flags and
the command, over engine/batch.py's :class:`Batch`."""
from __future__ import annotations

import argparse
from typing import Any

from .batch import Batch, BatchOptions
from .batch_inputs import is_batch_input
from .config import RunConfig
from .errors import DIPError
from .executors import make_executor


def add_batch_arguments(r: argparse.ArgumentParser) -> None:
    """The batch and executor flags of ``restore`` (engine/cli.py)."""
    r.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the units as Ray tasks: without ADDRESS a Ray on this machine; auto: the cluster of "
                        "RAY_ADDRESS; ray://HOST:PORT: a remote cluster (needs pip install \"dip-studio[cluster]\")")
    r.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads per unit (a Ray task asks for as many CPUs); default: all of this machine's "
                        "locally, 1 on Ray. The same seed and threads give the same pixels on any machine, so "
                        "--threads 1 writes the same files locally and on Ray")
    r.add_argument("--gpus-per-unit", type=float, metavar="F",
                   help="Ray on a cluster with GPUs: the share of a GPU each unit asks for (e.g. 0.25 runs four "
                        "small units per GPU; default 1)")


def set_threads(n: int) -> None:
    """``--threads`` for one photo run in this process."""
    if not 1 <= n <= 256:
        raise DIPError(f"--threads must be 1..256, got {n}")
    import torch
    torch.set_num_threads(n)


def wants_batch(a: argparse.Namespace) -> bool:
    return is_batch_input(a.input) or getattr(a, "ray", None) is not None


def cmd_batch(a: argparse.Namespace, cfg: RunConfig, overrides: dict[str, Any]) -> int:
    """``restore`` with a folder, a pattern or a list (or one photo with --ray)."""
    from .presets import get_config

    if a.guide or a.reference:
        flag = "--guide" if a.guide else "--reference"
        raise DIPError(f"{flag} works with one photo run in this process; not with a folder of photos or --ray")
    if a.task == "flash":
        raise DIPError("flash/no-flash needs a flash photo per photo: restore them one at a time")
    if a.mask and a.task != "inpaint":
        raise DIPError(f"--mask is only used by --task inpaint, not {a.task}: drop it or change the task")
    if a.preset is None:   # no preset named: the fast one on a CPU, the paper's on a GPU (of this machine)
        from .device import pick_device
        from .presets import default_preset
        name = default_preset(a.task, pick_device(cfg.device).type)
        if name != cfg.preset:
            cfg = get_config(name, task=a.task, **overrides)
    opts = BatchOptions(cfg=cfg, inputs=a.input, output=a.output, mask=a.mask, metrics=a.metrics, tile=a.tile,
                        overlap=a.overlap, margin=a.crop_margin, runs=a.runs, threads=a.threads, yes=a.yes,
                        quiet=a.quiet, overwrite=a.overwrite)
    executor = make_executor(a.ray, 1.0 if a.gpus_per_unit is None else a.gpus_per_unit)
    try:
        return Batch(opts, executor).run()
    finally:
        executor.close()
