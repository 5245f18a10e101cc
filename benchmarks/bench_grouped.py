"""N small runs as one grouped network (engine/group.py) against the same N runs one after
the other (engine.run.Restoration), on the same tiles with the same seeds.

    python benchmarks/bench_grouped.py [--device cpu|cuda] [--preset denoise-fast]
                                       [--tiles 64,128] [--members 1,2,4,8] [--steps 20]
    python benchmarks/bench_grouped.py --smoke --out PATH     # seconds: the same code, tiny cases

For each tile side and member count N: N synthetic tiles (noisy, different content), one
config (``--preset``, ``stop never``) with seeds 0..N-1. 'sequential' runs each tile's
Restoration for --warmup + --steps steps; 'grouped' runs one GroupRun of the N tiles for
as many group steps. Both time each step (both loops read their scalars back once a step,
so the device has finished when the clock stops) and report the median, per member:
sequential = mean over the members of their median step; grouped = median group step / N.
'speed-up' is sequential over grouped. Peak memory is torch.cuda.max_memory_allocated on a
GPU (none on a CPU: one process runs every case). A case engine.group.fits_group says will
not fit the device's memory is skipped with a note.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any

from common import OUT_DIR, SMOKE_HELP, BenchError, Column, environment, fint, fnum, log, text_table, write_json


def _tiles(n: int, side: int, seed: int = 0) -> list[Any]:
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    out = []
    for i in range(n):
        a, b = rng.random(2) * 6 + 1
        base = 0.5 + 0.3 * np.sin(xx * a + i)[:, :, None] * np.cos(yy * b)[:, :, None]
        noisy = base + rng.normal(0, 25 / 255, (side, side, 3))
        out.append(np.clip(noisy, 0, 1).astype(np.float32))
    return out


def _sync(device: str) -> None:
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def _sequential(cfgs, tiles, warmup: int, steps: int, device: str) -> float:
    from engine.run import Restoration
    medians = []
    for cfg, tile in zip(cfgs, tiles):
        run = Restoration(cfg, tile)
        times = []
        gen = run.steps()
        for k in range(warmup + steps):
            t0 = time.perf_counter()
            next(gen)
            _sync(device)
            if k >= warmup:
                times.append(time.perf_counter() - t0)
        gen.close()
        run.close()
        medians.append(statistics.median(times))
    return statistics.fmean(medians)


def _grouped(cfgs, tiles, warmup: int, steps: int, device: str) -> float:
    from engine.group import GroupRun
    group = GroupRun(cfgs, tiles)
    times = []
    gen = group.steps()
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        next(gen)
        _sync(device)
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    gen.close()
    group.close()
    return statistics.median(times) / len(cfgs)


def run_case(preset: str, side: int, n: int, a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from engine.group import fits_group
    from engine.presets import get_config
    row: dict[str, Any] = {"tile": side, "members": n}
    cfgs = [get_config(preset, stop="never", iterations=a.warmup + a.steps + 1, seed=s,
                       device=a.device, memory_budget_mb=64) for s in range(n)]
    fit = fits_group(cfgs[0], side, side, a.device, n)
    if fit < n:
        row["note"] = f"only {fit} member(s) fit the device's memory"
        return row
    tiles = _tiles(n, side)
    for mode, fn in (("sequential", _sequential), ("grouped", _grouped)):
        if a.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        row[mode] = fn(cfgs, tiles, a.warmup, a.steps, a.device)
        if a.device == "cuda":
            row[f"{mode}_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        gc.collect()
        if a.device == "cuda":
            torch.cuda.empty_cache()
    row["speedup"] = row["sequential"] / row["grouped"]
    return row


COLUMNS = [
    Column("tile", "tile px", 7, fint),
    Column("members", "N", 3, fint),
    Column("sequential", "sequential s/step/member", 10, fnum(4)),
    Column("grouped", "grouped s/step/member", 10, fnum(4)),
    Column("speedup", "speed-up", 8, fnum(2)),
    Column("sequential_peak_mb", "seq peak MB", 8, fnum(0)),
    Column("grouped_peak_mb", "group peak MB", 8, fnum(0)),
    Column("note", "note", 4, str, "<"),
]


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchError(f"--{what} must be a comma list of whole numbers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise BenchError(f"--{what} must list positive whole numbers, got {text!r}")
    return vals


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--preset", default="denoise-fast", help="the members' preset (one net for all)")
    ap.add_argument("--tiles", default="64,128", help="tile sides, comma list")
    ap.add_argument("--members", default="1,2,4,8", help="member counts N, comma list")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (median) after the warm-up")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN autotuning)")
    ap.add_argument("--threads", type=int, help="torch threads (default torch's)")
    ap.add_argument("--out", default=str(OUT_DIR / "grouped.json"), help="JSON report")
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP + ": 64 px tiles, 2 members, 1 step")
    a = ap.parse_args(argv)
    if a.smoke:
        a.tiles, a.members, a.steps, a.warmup = "64", "2", 1, 0
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        tiles, members = _ints(a.tiles, "tiles"), _ints(a.members, "members")
        if a.steps < 1 or a.warmup < 0:
            raise BenchError("--steps must be >= 1 and --warmup >= 0")
        import torch
        if a.device == "cuda" and not torch.cuda.is_available():
            raise BenchError("--device cuda: no CUDA GPU is available")
        if a.threads:
            torch.set_num_threads(a.threads)
        from engine.presets import PRESETS
        if a.preset not in PRESETS:
            raise BenchError(f"unknown preset '{a.preset}': choose one of {', '.join(PRESETS)}")
    except BenchError as exc:
        print(f"bench_grouped: {exc}", file=sys.stderr)
        return 2
    from engine.group import group_is_faster
    rows = []
    for side in tiles:
        for n in members:
            log(f"tile {side} px, {n} member(s) ...")
            rows.append(run_case(a.preset, side, n, a))
    table = text_table(COLUMNS, rows)
    print(f"{a.preset} on {a.device}; {a.steps} timed steps after {a.warmup}; "
          f"engine.group.group_is_faster({a.device!r}) = {group_is_faster(a.device)}")
    print(table)
    report = {"environment": environment(a.device), "preset": a.preset, "steps": a.steps,
              "warmup": a.warmup, "rows": rows}
    path = write_json(a.out, report)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
