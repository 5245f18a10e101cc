"""Several seeds of one restoration, averaged: the one home of ``--runs N`` / ``seeds``.

Runs of the same image from different random networks make different errors; the mean of
their picks is better than any of them (the paper gains about 0.6 dB averaging two runs of
its denoiser; here two seeds give +0.36 dB and four +0.5 on CBM3D9, benchmarks/README.md).

On a CPU the members step *side by side* (engine/lanes.py, as a job's tiles do): as many
lanes (Python threads) as torch has threads, each lane with one torch thread, taking the
next member when its own ends. A small
network uses a second core poorly (one 128 px step: 36 ms on one thread, 28.5 ms on two), so
two lanes on two cores step two members in about 41 ms: ~1.4x the throughput of one run with
both threads (benchmarks/README.md). More lanes than cores only add switching. Every member is a plain
:class:`~engine.run.Restoration` whose tensors, generators and optimiser are its own, and a
lane's one thread makes its arithmetic independent of what runs beside it (a test checks the
pixels against the same seed run alone). Elsewhere (a GPU, one torch thread, images larger
than :data:`SIDE_BY_SIDE_MAX_PIXELS`) the members run one after the other.

``seeds='auto'`` (the fast denoising preset): :data:`AUTO_SEEDS` seeds on images up to
:data:`AUTO_SEEDS_MAX_PIXELS`, where they cost seconds, one seed above that, where they
would multiply minutes or hours. It is resolved once per job (:func:`seed_count`), never
per tile: a tiled photo is big by definition.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import torch

from .config import MAX_SEEDS, RunConfig
from .control import Controls
from .errors import DIPError
from .lanes import lane_count, side_by_side
from .run import Restoration, StepRecord

AUTO_SEEDS = 4
AUTO_SEEDS_MAX_PIXELS = 160 * 160
# members run side by side up to this size (above it one run's threads keep the cores busy,
# and N runs' memory at once is no longer small)
SIDE_BY_SIDE_MAX_PIXELS = 256 * 256
# the time of each seed side by side, as a share of one seed alone with all the threads
# (2-core CPU, 128 px: two 1-thread runs step in 37 ms each where one 2-thread run takes 28.5)
SIDE_BY_SIDE_COST = 0.65


def seed_count(cfg: RunConfig, height: int, width: int) -> int:
    """How many seeds a job of ``height`` x ``width`` output pixels averages."""
    if cfg.seeds == "auto":
        return AUTO_SEEDS if height * width <= AUTO_SEEDS_MAX_PIXELS else 1
    return int(cfg.seeds)


def member_seed(seed: int, k: int) -> int:
    """The seed of member ``k`` (member 0 keeps the config's: one seed is a plain run)."""
    return (seed + k) % 2**63


def concurrent_members(device: torch.device, n: int, pixels: int = 0) -> bool:
    """Side by side: on a CPU, for images small enough that one run leaves cores idle (and
    that n of them fit in memory at once); one after the other elsewhere."""
    return seeds_time_factor(n, device.type, pixels) < n


def seeds_time_factor(n: int, device_type: str, pixels: int) -> float:
    """The time of ``n`` seeds as a multiple of one seed's (the plan's estimate)."""
    if n > 1 and device_type == "cpu" and pixels <= SIDE_BY_SIDE_MAX_PIXELS:
        return n * SIDE_BY_SIDE_COST
    return float(n)


class Seeds(Controls):
    """``n`` restorations of one image, seeds ``cfg.seed``, ``cfg.seed + 1``, ...

    ``steps()`` yields ``(k, record)`` for every step of every member (interleaved as they
    happen); once it is exhausted, ``result(pick)`` is the mean of the members' picks.
    A member that raises stops the others and the error comes out of ``steps()``."""

    def __init__(self, cfg: RunConfig, image: np.ndarray, n: int, mask: np.ndarray | None = None,
                 guide: np.ndarray | None = None, reference: np.ndarray | None = None, first: int = 0):
        """Members ``first`` .. ``n - 1`` (``first`` = 1: the others of a run made alone, the app's way)."""
        if not 1 <= n <= MAX_SEEDS or not 0 <= first < n:
            raise DIPError(f"seeds must be 1..{MAX_SEEDS} (members {first}..{n - 1}), got {n}")
        self._init_controls()
        self.cfg = cfg
        self.runs = [Restoration(cfg.replace(seed=member_seed(cfg.seed, k)), image, mask=mask, guide=guide,
                                 reference=reference) for k in range(first, n)]
        for r in self.runs:     # stop / pause / resume reach every member (engine/control.py)
            self._adopt(r)
        h, w, _ = self.runs[0].out_shape
        self.concurrent = concurrent_members(self.runs[0].device, len(self.runs), h * w) \
            and torch.get_num_threads() > 1
        self._wall = 0.0
        self._t0: float | None = None      # while members run side by side

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def elapsed(self) -> float:
        """Seconds of stepping (so far, while ``steps()`` runs): the wall clock while members
        run side by side, the members' own seconds added up otherwise."""
        if not self.concurrent:
            return sum(r.elapsed for r in self.runs)
        return self._wall + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def steps(self) -> Iterator[tuple[int, StepRecord]]:
        self._stop.clear()
        if not self.concurrent:
            for k, run in enumerate(self.runs):
                if self._stop.is_set():
                    break
                for rec in run.steps():
                    yield k, rec
            return
        yield from self._side_by_side()

    def _side_by_side(self) -> Iterator[tuple[int, StepRecord]]:
        # as many lanes as torch has threads (engine/lanes.py): 2 cores, 4 members at once
        # step no faster than 2 lanes of 2
        self._t0 = t0 = time.perf_counter()
        try:
            yield from side_by_side([r.steps for r in self.runs], self,
                                    lane_count("cpu", torch.get_num_threads(), len(self.runs)))
        finally:
            self._wall += time.perf_counter() - t0
            self._t0 = None

    @property
    def failed_to_fit(self) -> bool:
        return any(r.failed_to_fit for r in self.runs)

    def picks(self, pick: str) -> list[np.ndarray]:
        return [r.result(pick) for r in self.runs]

    def result(self, pick: str) -> np.ndarray:
        """The mean of the members' picks (one member: its pick, untouched)."""
        picks = self.picks(pick)
        return picks[0] if len(picks) == 1 else np.mean(picks, axis=0).astype(np.float32)

    def close(self) -> None:
        for r in self.runs:
            r.close()
