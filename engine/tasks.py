"""A task turns the user's inputs into a target, a data term and a final mapping.

| task | data term E(x; x0) | result |
|---|---|---|
| denoise, jpeg, flash | ||x - x0||^2 | x |
| inpaint | ||(x - x0) * m||^2, m = 1 on known pixels | x |
| superres | ||d(x) - x0||^2, d = Lanczos2 low-pass + decimation | x (factor times larger) |
| enhance | ||x - x0||^2 (no jitter, stopped early: x = x_c) | x0 + (x0 - x_c) |
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .degrade import resize
from .errors import ConfigError, ImageError, MaskError
from .lanczos import Downsampler


def to_tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWxC float array -> (1, C, H, W) float32 tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


def _as_hwc(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3) or min(a.shape[:2]) < 1:
        raise ImageError(f"{what} must be H x W x 1 or 3, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ImageError(f"{what} contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


class Task:
    """Base: fit x to x0 with the plain squared error.

    ``hold_out(fraction, seed)`` takes a random subset of the known pixels (of the target's
    geometry: low-resolution pixels for super-resolution) out of the data term; the error
    on them (``val_error``) estimates how well the output predicts data it never saw, the
    signal of the stopping rule (engine/stopping.py).
    """

    name = "denoise"
    # whether iterates are scored at all: enhancement wants a coarse fit, not the best one,
    # so it holds nothing out and has no best iterate (it runs its step count)
    has_best = True
    # whether the degradation is additive white noise whose level the image itself tells
    # (the discrepancy principle's premise: engine/stopping.py); JPEG's blocks are not
    white_noise = False
    # what the visible-change stop watches, in words (engine/stopping.py ChangeWatch)
    watched = "the image"

    def __init__(self, cfg: RunConfig, image: np.ndarray, mask: np.ndarray | None,
                 guide: np.ndarray | None, device: torch.device):
        self.image = _as_hwc(image, "image")
        self.guide = None if guide is None else _as_hwc(guide, "guide image")
        self.device = device
        self.channels = self.image.shape[2]
        self.out_hw: tuple[int, int] = self.image.shape[:2]
        self.target = to_tensor(self.image, device)
        self.known: np.ndarray | None = None       # bool HxW of the target; None: all known
        self.weight: torch.Tensor | None = None    # 1 on pixels in the data term
        self.val_weight: torch.Tensor | None = None

    def hold_out(self, fraction: float, seed: int) -> None:
        """Move ``fraction`` of the known pixels from the data term to the validation set."""
        if fraction <= 0 or not self.has_best:
            return
        h, w = self.target.shape[-2:]
        known = np.ones((h, w), bool) if self.known is None else self.known
        n_known = int(known.sum())
        if n_known < 80:  # too few pixels to spare any
            return
        # small images (or masks) still get a few dozen held-out pixels, at most a fifth
        fraction = min(0.2, max(fraction, 32.0 / n_known))
        rng = np.random.default_rng(seed)
        held = known & (rng.random((h, w)) < fraction)
        if held.sum() < 8:
            return
        self.val_weight = to_tensor(held[:, :, None].astype(np.float32), self.device)
        self.weight = to_tensor((known & ~held)[:, :, None].astype(np.float32), self.device)
        self._val_norm = 1.0 / (float(held.sum()) * self.target.shape[1])

    @property
    def fitted_fraction(self) -> float:
        """The share of the data term's pixels the network fits (held-out ones count as 0)."""
        return 1.0 if self.weight is None else float(self.weight.mean())

    def data_view(self, out: torch.Tensor) -> torch.Tensor:
        """The output in the target's geometry (the degradation operator applied)."""
        return out

    def loss(self, out: torch.Tensor) -> torch.Tensor:
        x = self.data_view(out)
        if self.weight is None:
            return F.mse_loss(x, self.target)
        return F.mse_loss(x * self.weight, self.target * self.weight)

    @torch.no_grad()
    def val_error(self, out: torch.Tensor) -> torch.Tensor | None:
        """Mean squared error on the held-out pixels (0-d tensor, no sync), or None."""
        if self.val_weight is None:
            return None
        d = self.data_view(out) - self.target
        return (d * d * self.val_weight).sum() * self._val_norm

    def finalize(self, out: torch.Tensor) -> torch.Tensor:
        """Network output -> what the user sees and saves (same device, no sync)."""
        return out

    def change_region(self) -> np.ndarray | None:
        """The output pixels (H x W bool) whose change a user would see; None: all of them."""
        return None

    def degraded_view(self) -> np.ndarray:
        """The degraded input in the result's geometry (for 'input' PSNR and comparisons)."""
        return self.image


class Denoise(Task):
    name = "denoise"
    white_noise = True


class Jpeg(Task):
    name = "jpeg"


class Flash(Task):
    """Target: the no-flash photo; the flash photo is the network input (a 'guide')."""

    name = "flash"

    def __init__(self, cfg, image, mask, guide, device):
        super().__init__(cfg, image, mask, guide, device)
        if self.guide is None:
            raise ImageError("flash/no-flash needs the flash photo as the guide image")
        if self.guide.shape[:2] != self.image.shape[:2]:
            gh, gw = self.guide.shape[:2]
            h, w = self.image.shape[:2]
            raise ImageError(f"the flash photo is {gw}x{gh} but the no-flash photo is {w}x{h} (W x H)")


class Inpaint(Task):
    name = "inpaint"

    def __init__(self, cfg, image, mask, guide, device):
        super().__init__(cfg, image, mask, guide, device)
        if mask is None:
            raise MaskError("inpainting needs a mask (white = known pixel, black = to fill)")
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[..., 0]
        if mask.shape != self.image.shape[:2]:
            raise MaskError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                            f"{self.image.shape[1]}x{self.image.shape[0]} (W x H)")
        self.known = mask.astype(bool)
        if not self.known.any():
            raise MaskError("the mask marks every pixel as unknown: nothing to fit")
        self.weight = to_tensor(self.known[:, :, None].astype(np.float32), device)
        # what the user sees and saves keeps the known pixels exactly as the photo has them
        # (the network only approximates them: on a detailed 256 px photo its output is ~29 dB
        # off after 3000 steps, benchmarks/README.md); cfg.keep_known=False shows the raw output
        self._keep = self.weight > 0.5 if cfg.keep_known else None
        self._photo = self.target.clone() if cfg.keep_known else None
        # unknown pixels must not leak into the loss, whatever the file holds there
        self.target = self.target * self.weight

    watched = "the filled area"

    def finalize(self, out: torch.Tensor) -> torch.Tensor:
        if self._keep is None:
            return out
        return torch.where(self._keep, self._photo.to(out.dtype), out)

    def change_region(self) -> np.ndarray | None:
        return ~self.known


class SuperRes(Task):
    name = "superres"

    def __init__(self, cfg, image, mask, guide, device):
        super().__init__(cfg, image, mask, guide, device)
        self.factor = cfg.scale
        h, w = self.image.shape[:2]
        self.out_hw = (h * self.factor, w * self.factor)
        self.down = Downsampler(self.factor, self.channels).to(device)

    def data_view(self, out: torch.Tensor) -> torch.Tensor:
        return self.down(out)

    def degraded_view(self) -> np.ndarray:
        h, w = self.out_hw
        return resize(self.image, w, h)


class Enhance(Task):
    name = "enhance"
    has_best = False

    def finalize(self, out: torch.Tensor) -> torch.Tensor:
        return (2.0 * self.target - out).clamp_(0.0, 1.0)


TASK_CLASSES: dict[str, type[Task]] = {
    "denoise": Denoise, "jpeg": Jpeg, "inpaint": Inpaint,
    "superres": SuperRes, "enhance": Enhance, "flash": Flash,
}


def make_task(cfg: RunConfig, image: np.ndarray, mask: np.ndarray | None = None,
              guide: np.ndarray | None = None, device: torch.device | str = "cpu") -> Task:
    # preimage / actmax are added by engine/experiment_tasks.py (engine/run.py imports it)
    if cfg.task not in TASK_CLASSES:
        raise ConfigError(f"unknown task '{cfg.task}': choose one of {', '.join(TASK_CLASSES)}")
    return TASK_CLASSES[cfg.task](cfg, image, mask, guide, torch.device(device))
