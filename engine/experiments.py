"""The paper's experiments beyond restoration, as the CLI and the app use them: the two
classifier tasks (engine/experiment_tasks.py, re-exported here), the TV-prior comparison of a
config, and the noise-impedance fits that explain why early stopping works.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .config import NetConfig, RunConfig
from .errors import ConfigError
from .experiment_tasks import (  # noqa: F401  (re-exported: the experiments' one entry point)
    EXPERIMENT_CLASSES, EXPERIMENT_TASKS, TV_BETA, ActMax, PixelPrior, PreImage, canvas, feature_distance,
    probe_units, total_variation, unit_values,
)


def tv_config(cfg: RunConfig) -> RunConfig:
    """The TV-prior comparison of a preimage/actmax config: the ``-tv`` preset of its task with
    the same classifier, layer, unit, seed and device."""
    from .presets import get_config

    if cfg.task not in EXPERIMENT_TASKS:
        raise ConfigError(f"the TV comparison is for {' and '.join(EXPERIMENT_TASKS)}, not {cfg.task}")
    return get_config(f"{cfg.task}-tv", task=cfg.task, classifier=cfg.classifier, layer=cfg.layer,
                      unit=cfg.unit, seed=cfg.seed, device=cfg.device, preview_every=cfg.preview_every,
                      snapshot_every=cfg.snapshot_every, memory_budget_mb=cfg.memory_budget_mb)


# ---- noise impedance -------------------------------------------------------------------
IMPEDANCE_KINDS = ("image", "image + noise", "image shuffled", "noise")
# an hourglass without skip connections: with skips a small net memorises a small image's
# shuffled pixels nearly as fast as the image itself, hiding the effect the figure shows
IMPEDANCE_NET = NetConfig(channels_down=[16] * 4, channels_up=[16] * 4, channels_skip=[0] * 4,
                          upsample="bilinear")
IMPEDANCE_SIGMA = 0.1     # the noise added to the image (0..1 scale)


def impedance_targets(image: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The paper's four targets: the image, the image plus i.i.d. Gaussian noise, its pixels
    randomly permuted, and uniform noise U(0, 1)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    rng = np.random.default_rng(seed)
    h, w, c = img.shape
    flat = img.reshape(-1, c)
    return {
        "image": img,
        "image + noise": np.clip(img + rng.normal(0, IMPEDANCE_SIGMA, img.shape), 0, 1).astype(np.float32),
        "image shuffled": flat[rng.permutation(h * w)].reshape(h, w, c),
        "noise": rng.random(img.shape, dtype=np.float32),
    }


@dataclass
class ImpedanceStep:
    step: int
    losses: dict[str, float]


class ImpedanceDemo:
    """Fits the same small net (same seed) to the four targets, one Adam step of each per
    round, without input jitter, as in the paper's learning-curve figure."""

    def __init__(self, image: np.ndarray, steps: int = 600, lr: float = 0.01, seed: int = 0,
                 net: NetConfig | None = None, device: str = "cpu"):
        from .run import Restoration

        self.steps_total = int(steps)
        self.cfg = RunConfig(task="denoise", net=net or IMPEDANCE_NET, lr=lr, iterations=self.steps_total,
                             sigma_p=0.0, ema=0.0, stop="never", holdout=0.0, discrepancy=False,
                             backtrack_db=None, seed=seed, device=device, preview_every=10 ** 6,
                             snapshot_every=10 ** 6, memory_budget_mb=16)
        self.targets = impedance_targets(image, seed)
        self.runs = {k: Restoration(self.cfg, t) for k, t in self.targets.items()}
        self.curves: dict[str, list[float]] = {k: [] for k in IMPEDANCE_KINDS}
        self.seconds = 0.0
        self._stop = False

    def request_stop(self) -> None:
        self._stop = True

    def steps(self):
        """Yield an ImpedanceStep per round (the four losses at that step)."""
        gens = {k: r.steps() for k, r in self.runs.items()}
        try:
            for step in range(1, self.steps_total + 1):
                if self._stop:
                    break
                t0 = time.perf_counter()
                losses = {k: next(g).loss for k, g in gens.items()}
                self.seconds += time.perf_counter() - t0
                for k, v in losses.items():
                    self.curves[k].append(v)
                yield ImpedanceStep(step, losses)
        finally:
            for g in gens.values():
                g.close()

    def outputs(self) -> dict[str, np.ndarray]:
        return {k: r.result("last") for k, r in self.runs.items()}


def impedance_seconds(h: int, w: int, steps: int, device: str = "cpu", net: NetConfig | None = None) -> float:
    """Roughly how long the four fits take (engine.estimate; a CPU estimate is approximate)."""
    from .estimate import estimate_cost

    cfg = RunConfig(task="denoise", net=net or IMPEDANCE_NET)
    return 4 * steps * estimate_cost(cfg, h, w, device).seconds_per_step


def steps_to_reach(curve: list[float], level: float) -> int | None:
    """The first step (1-based) whose loss is at or under ``level``, or None."""
    for i, v in enumerate(curve):
        if math.isfinite(v) and v <= level:
            return i + 1
    return None

