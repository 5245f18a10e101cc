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
from .noise import NoiseProfile, measure_noise


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
        self.holdout_note: str | None = None      # what hold_out did, in words (None: nothing)
        self.held_words = "held-out pixels"        # what the stop reason calls them
        self.blocks_held = False                   # held-out blocks (scored at their centres)
        self.holdout_shape = cfg.holdout_shape
        self._block = (cfg.holdout_block, cfg.holdout_gap, cfg.holdout_block_share)
        # the photo's own noise (level, correlation), measured where the held-out geometry
        # depends on it: white-noise tasks (engine/noise.py)
        self.noise: NoiseProfile | None = measure_noise(self.image) if self.white_noise else None

    def hold_out(self, fraction: float, seed: int) -> None:
        """Move ``fraction`` of the known pixels from the data term to the validation set:
        random pixels, or (``holdout_shape`` 'blocks', or 'auto' on correlated noise) square
        blocks scored at their centre only (:meth:`_hold_blocks`)."""
        if fraction <= 0 or not self.has_best:
            return
        h, w = self.target.shape[-2:]
        known = np.ones((h, w), bool) if self.known is None else self.known
        n_known = int(known.sum())
        if n_known < 80:  # too few pixels to spare any
            self.holdout_note = f"nothing held out: only {n_known} known pixels"
            return
        if self.holdout_shape == "blocks" or (self.holdout_shape == "auto" and self.noise is not None
                                              and self.noise.correlated):
            if self._hold_blocks(known, seed):
                return
        # small images (or masks) still get a few dozen held-out pixels, at most a fifth
        fraction = min(0.2, max(fraction, 32.0 / n_known))
        rng = np.random.default_rng(seed)
        self._hold(known, known & (rng.random((h, w)) < fraction), "random pixels")

    def _hold_blocks(self, known: np.ndarray, seed: int) -> bool:
        """Blocks of ``holdout_block`` px, ``holdout_block_share`` of the pixels, out of the fit,
        scored only at least ``holdout_gap`` px from any fitted pixel (a block of 7 scored 3 px
        in keeps 9 of its 49 pixels: more of the frame than random pixels need). A camera's
        noise is correlated over a few pixels, so a held-out *pixel* is predicted from
        neighbours that carry the same noise: the more the network copies the noise, the better
        it predicts it, and the score improves to the end (issue 20: every real photo ran to its
        bound). A block's centre is beyond that reach. False (nothing done) where the frame has
        no room for enough blocks."""
        block, gap, share = self._block
        h, w = known.shape
        held, dist = block_holdout(h, w, share, block, seed, avoid=~known)
        scored = dist >= gap
        if scored.sum() < 16:
            return False
        self._hold(known, held, f"pixels in {block}x{block} px blocks", scored=scored)
        self.holdout_note += f", {int(scored.sum())} scored at their centres"
        self.blocks_held = True
        words = (f": beyond the reach of this photo's noise, {self.noise.short()}"
                 if self.noise is not None and self.noise.correlated else "")
        self.held_words = f"held-out blocks' centres ({gap} px from any fitted pixel{words})"
        return True

    def _hold(self, known: np.ndarray, held: np.ndarray, what: str, scored: np.ndarray | None = None) -> None:
        """Take ``held`` (bool H x W, known pixels only) out of the data term; ``scored`` (of
        ``held``; all of it when None) is what the stopping rule scores."""
        if held.sum() < 8:
            self.holdout_note = f"nothing held out: {int(held.sum())} {what} are too few to score"
            return
        scored = held if scored is None else scored
        self.holdout_note = f"{int(held.sum())} {what} held out ({held.sum() / max(known.sum(), 1):.1%} of the known)"
        self.val_weight = to_tensor(scored[:, :, None].astype(np.float32), self.device)
        self.weight = to_tensor((known & ~held)[:, :, None].astype(np.float32), self.device)
        self._val_norm = 1.0 / (float(scored.sum()) * self.target.shape[1])

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

    def hold_out(self, fraction: float, seed: int) -> None:
        """``holdout_shape`` 'pixels': random known pixels (the base class). 'strokes': known
        pixels shaped like the hole -- the unknown region flipped or translated onto known
        pixels away from the hole (:func:`stroke_holdout`), at most ``fraction`` of the known
        pixels; the net has to invent them as it invents the fill, so their error tracks the
        fill's. Falls back to random pixels where no copy fits (``holdout_note`` says so)."""
        if self.holdout_shape != "strokes" or fraction <= 0 or not self.has_best:
            return super().hold_out(fraction, seed)
        n_known = int(self.known.sum())
        if n_known >= 80:
            held, what = stroke_holdout(self.known, min(0.2, max(fraction, 32.0 / n_known)), seed)
            if held is not None:
                self._hold(self.known, held, what)
                if self.val_weight is not None:
                    self.held_words = "held-out strokes (known pixels shaped like the mask)"
                return
        super().hold_out(fraction, seed)
        self.holdout_note = f"no room for a copy of the mask: {self.holdout_note}"

    def finalize(self, out: torch.Tensor) -> torch.Tensor:
        if self._keep is None:
            return out
        return torch.where(self._keep, self._photo.to(out.dtype), out)

    def change_region(self) -> np.ndarray | None:
        return ~self.known


def _shifted(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``m`` moved by (dy, dx) pixels; what leaves the frame is lost, what enters is False."""
    h, w = m.shape
    out = np.zeros_like(m)
    if abs(dy) < h and abs(dx) < w:
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            m[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _grown(m: np.ndarray, r: int) -> np.ndarray:
    """``m`` dilated by a (2r+1)^2 square (separable)."""
    out = m.copy()
    for d in range(1, r + 1):
        out |= _shifted(m, 0, d) | _shifted(m, 0, -d)
    rows = out.copy()
    for d in range(1, r + 1):
        out |= _shifted(rows, d, 0) | _shifted(rows, -d, 0)
    return out


def _eroded(m: np.ndarray) -> np.ndarray:
    """``m`` eroded by a 3x3 square; the frame's outside counts as True (nothing fitted there)."""
    p = np.pad(m, 1, constant_values=True)
    h, w = m.shape
    out = m.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= p[dy:dy + h, dx:dx + w]
    return out


def block_holdout(h: int, w: int, fraction: float, block: int, seed: int,
                  avoid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Square blocks of ``block`` x ``block`` pixels, about ``fraction`` of the frame, and each
    held pixel's distance to the nearest pixel that is not held (Chebyshev, 1 on a block's rim,
    0 off the blocks). One block per cell of a jittered grid (cells twice the block), cells
    drawn at random; blocks touching ``avoid`` are dropped. The centre of a block lies
    ``(block + 1) // 2`` px from every fitted pixel, so noise correlated over less than that
    cannot be copied into it from the pixels the network fits."""
    rng = np.random.default_rng(seed)
    held = np.zeros((h, w), bool)
    cell = 2 * block
    p = min(1.0, fraction * cell * cell / (block * block))
    for y0 in range(0, h - block + 1, cell):
        for x0 in range(0, w - block + 1, cell):
            if rng.random() >= p:
                continue
            y = y0 + int(rng.integers(0, min(cell, h - y0) - block + 1))
            x = x0 + int(rng.integers(0, min(cell, w - x0) - block + 1))
            if avoid is not None and avoid[max(y - 1, 0):y + block + 1, max(x - 1, 0):x + block + 1].any():
                continue
            held[y:y + block, x:x + block] = True
    dist = held.astype(np.int32)
    cur = held
    while cur.any():
        cur = _eroded(cur)
        dist += cur
    return held, dist


STROKE_MARGIN = (2, 1, 0)   # held-out strokes keep this far from the hole (px), the first that has room


def stroke_holdout(known: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray | None, str]:
    """Known pixels shaped like the hole (bool H x W), or None where no copy fits.

    Candidates: the unknown region flipped (left-right, up-down, both) or translated by 1/8 to
    1/2 of the frame in 8 directions, each kept only on known pixels at least a margin
    (``STROKE_MARGIN``) away from the hole. ``seed`` draws one of those that fill the budget
    and keep at least half as many pixels as the largest. The copy is capped at ``fraction``
    of the known pixels by whole tiles (about a quarter of the shorter side, in an order drawn by
    ``seed``), so what is held out stays stroke-shaped, not thinned at random -- except where
    only a copy touching the hole fits (a scattered mask such as dropped pixels): that copy is
    thinned at random, as tiles of it would starve patches of the hole of known neighbours."""
    hole = ~known
    h, w = known.shape
    n_hole, n_known = int(hole.sum()), int(known.sum())
    budget = max(8, int(round(fraction * n_known)))
    rng = np.random.default_rng(seed)
    # the candidates as (flip rows, flip columns, dy, dx), made one at a time (large frames)
    moves = [(False, True, 0, 0), (True, False, 0, 0), (True, True, 0, 0)]
    for k in (8, 4, 3, 2):
        sy, sx = h // k, w // k
        moves += [(False, False, dy * sy, dx * sx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                  if (dy or dx) and (dy * sy or dx * sx)]

    def copy(i: int) -> np.ndarray:
        fy, fx, dy, dx = moves[i]
        m = hole[::-1 if fy else 1, ::-1 if fx else 1]
        return _shifted(m, dy, dx) if dy or dx else m

    need = min(budget, n_hole) // 2      # a copy that keeps under half of what is wanted: no room
    for margin in STROKE_MARGIN:
        allowed = known & ~_grown(hole, margin)
        sizes = np.array([int(np.count_nonzero(copy(i) & allowed)) for i in range(len(moves))])
        if sizes.max() >= max(need, 8):
            break
    else:
        return None, ""
    # any copy that fills the budget and keeps half the largest will do (the seed draws one)
    pick = int(rng.choice(np.flatnonzero(sizes >= max(min(budget, sizes.max()), sizes.max() / 2))))
    held = copy(pick) & allowed
    if held.sum() > budget and margin == 0:
        # a scattered mask (dropped pixels): its copy interleaves with the hole, and whole tiles
        # of it would leave patches of the hole with half their neighbours; thin it evenly instead
        ys, xs = np.nonzero(held)
        keep = rng.permutation(len(ys))[:budget]
        held = np.zeros_like(held)
        held[ys[keep], xs[keep]] = True
    elif held.sum() > budget:   # whole tiles of the copy in a random order, then part of one
        t = int(np.clip(min(h, w) // 4, 8, 64))
        ids = (np.arange(h)[:, None] // t) * -(-w // t) + np.arange(w)[None, :] // t
        counts = np.bincount(ids[held], minlength=int(ids.max()) + 1)
        take = np.zeros(len(counts), bool)
        total, part = 0, None
        for i in rng.permutation(len(counts)):
            if counts[i] and total + counts[i] <= budget:
                take[i], total = True, total + counts[i]
            elif counts[i] and part is None:
                part = i
        rest = held & (ids == part) if part is not None else None
        held = held & take[ids]
        if rest is not None and total < budget:   # the first rows of a tile: a band of strokes
            ys, xs = np.nonzero(rest)
            held[ys[:budget - total], xs[:budget - total]] = True
    what = ("mirrored", "mirrored", "rotated")[pick] if pick < 3 else "shifted"
    return held, f"pixels of a {what} copy of the mask ({margin} px from it)"


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
