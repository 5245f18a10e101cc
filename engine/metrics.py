"""Image-quality numbers: PSNR (optionally on the BT.601 Y channel with a border shave)
and SSIM (Wang et al. 2004). NumPy only, in float64.

:func:`task_psnr` is the one home of the scoring protocol of the paper's tables: the live
curve (engine/run.py), the CLI's metrics report and the benchmarks all score with it, so
their numbers agree and can be compared with the paper's.
"""
from __future__ import annotations

import math

import numpy as np

from .config import TASKS
from .errors import ImageError

# Super-resolution tables score the Y channel with this many pixels dropped at every border,
# at every factor (../shared/dip-reference-facts.md, ../shared/datasets/README.md).
SR_SHAVE = 4

# ITU-R BT.601 for RGB in [0, 1] giving Y on the 0..255 scale in [16, 235]
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
_Y_OFFSET = 16.0


def _hwc(a: np.ndarray) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"expected an H x W or H x W x C image, got shape {np.shape(a)}")
    return x


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _hwc(a), _hwc(b)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")
    return x, y


def rgb_to_y(a: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (... x 3) -> BT.601 luma Y in [16/255, 235/255] (shape without the last axis).

    This is the Y of MATLAB's ``rgb2ycbcr`` used by the super-resolution literature, on
    the [0, 1] scale. The result is float64 (float32 stays float32).
    """
    x = np.asarray(a)
    if x.shape[-1:] != (3,):
        raise ValueError(f"rgb_to_y needs 3 channels in the last axis, got shape {x.shape}")
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    y = (_Y_OFFSET + x.astype(np.float64) @ _Y_WEIGHTS) / 255.0
    return y.astype(dtype, copy=False)


def _y_view(x: np.ndarray) -> np.ndarray:
    if x.shape[2] == 3:
        return rgb_to_y(x)[:, :, None]
    if x.shape[2] == 1:
        # a gray image is its own R = G = B: same Y scaling, so gray and RGB copies agree
        return (_Y_OFFSET + x * _Y_WEIGHTS.sum()) / 255.0
    raise ValueError(f"the Y channel needs 1 or 3 channels, got {x.shape[2]}")


def _shave(x: np.ndarray, shave: int) -> np.ndarray:
    if shave < 0:
        raise ValueError(f"shave must be >= 0, got {shave}")
    if shave == 0:
        return x
    h, w = x.shape[:2]
    if 2 * shave >= h or 2 * shave >= w:
        raise ValueError(f"shaving {shave} pixels leaves nothing of a {w} x {h} image")
    return x[shave:h - shave, shave:w - shave]


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float = 1.0,
    y_channel: bool = False,
    shave: int = 0,
) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; ``inf`` if identical.

    ``y_channel`` compares the BT.601 Y channel (see :func:`rgb_to_y`, which assumes
    ``data_range`` 1); ``shave`` drops that many pixels at every border first.
    """
    x, y = _pair(a, b)
    if y_channel:
        x, y = _y_view(x), _y_view(y)
    x, y = _shave(x, shave), _shave(y, shave)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(float(data_range) ** 2 / mse)


def task_psnr(task: str, result: np.ndarray, reference: np.ndarray, *, scale: int = 1) -> float:
    """PSNR in dB of ``result`` against ``reference`` (both H x W x C in [0, 1], one shape)
    by the protocol of the paper's tables for ``task``.

    superres: the BT.601 Y channel (a gray image is scored as the Y of its R = G = B copy,
    so the two agree), :data:`SR_SHAVE` pixels shaved at every border; on an image too
    small for that border (8 px or less a side) the shave shrinks to leave its centre.
    Every other task: all channels, range 1, the whole image.

    ``scale`` is the super-resolution factor (ignored by the other tasks). The paper's
    tables shave the same border at every factor, so it does not change the number; the
    callers pass it so that a protocol that did depend on it would change here alone.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}': choose one of {', '.join(TASKS)}")
    if task != "superres":
        return psnr(result, reference)
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"the super-resolution factor must be a positive whole number, got {scale!r}")
    h, w = _hwc(reference).shape[:2]
    return psnr(result, reference, y_channel=True, shave=max(0, min(SR_SHAVE, (min(h, w) - 1) // 2)))


def region_psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB (range 1, all channels) over the pixels where ``region`` (H x W, bool) is
    True; the whole image when it is None. The visible-change stop's measure: two moving
    averages of one run compared where the user looks (engine/stopping.py)."""
    x, y = _pair(a, b)
    if region is not None:
        r = np.asarray(region, dtype=bool)
        if r.shape != x.shape[:2]:
            raise ValueError(f"the region is {r.shape[1]}x{r.shape[0]}, the images {x.shape[1]}x{x.shape[0]}")
        if not r.any():
            return math.inf
        x, y = x[r], y[r]
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def psnr_protocol(task: str) -> str:
    """:func:`task_psnr`'s protocol for ``task`` in words, for reports beside its numbers."""
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}': choose one of {', '.join(TASKS)}")
    if task == "superres":
        return f"Y channel (BT.601), {SR_SHAVE} px shaved"
    return "all channels, range 1"


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of H x W x C by a 1-D window on both spatial axes.

    Only positions whose window lies inside the image are kept, which is what the
    reference implementations average after cropping their padded borders.
    """
    k = w.size
    h_out = x.shape[0] - k + 1
    rows = sum(w[i] * x[i:i + h_out] for i in range(k))
    w_out = x.shape[1] - k + 1
    return sum(w[i] * rows[:, i:i + w_out] for i in range(k))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004): 11 x 11 Gaussian window (sigma 1.5),
    K1 = 0.01, K2 = 0.03, population covariances, averaged over the valid window positions
    and then over channels. Both sides must be at least 11 pixels.
    """
    x, y = _pair(a, b)
    win = _gaussian_window()
    if x.shape[0] < win.size or x.shape[1] < win.size:
        raise ValueError(f"SSIM needs images of at least {win.size} x {win.size}, got {x.shape[1]} x {x.shape[0]}")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mx, my = _filter_valid(x, win), _filter_valid(y, win)
    vx = _filter_valid(x * x, win) - mx * mx
    vy = _filter_valid(y * y, win) - my * my
    cxy = _filter_valid(x * y, win) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean(axis=(0, 1)).mean())


class ReferenceScores:
    """A clean reference a run's previews are scored against (``task_psnr`` and SSIM), checked
    once against the result's shape; the degraded input's own scores are worked out once."""

    def __init__(self, task: str, scale: int, reference: np.ndarray, out_shape: tuple[int, int, int],
                 degraded: np.ndarray):
        ref = np.asarray(reference, dtype=np.float32)
        if ref.ndim == 2:
            ref = ref[:, :, None]
        h, w, c = out_shape
        if ref.shape[:2] != (h, w):
            raise ImageError(f"the reference is {ref.shape[1]}x{ref.shape[0]} but the result will be "
                             f"{w}x{h} (W x H)")
        if ref.shape[2] != c:
            ref = ref.mean(axis=2, keepdims=True) if c == 1 else np.repeat(ref[:, :, :1], 3, axis=2)
        self.task, self.scale, self.array = task, scale, ref
        self.input_psnr = task_psnr(task, degraded, ref, scale=scale)
        # SSIM's 11x11 window needs 11 px a side
        self.input_ssim = ssim(degraded, ref) if min(h, w) >= 11 else None

    def scores(self, out: np.ndarray, ema: np.ndarray | None) -> tuple[dict[str, float], dict[str, float]]:
        """PSNR and SSIM of the output and its moving average, beside the input's."""
        ref, task, scale = self.array, self.task, self.scale
        p = {"output": task_psnr(task, out, ref, scale=scale), "input": self.input_psnr}
        if ema is not None:
            p["ema"] = task_psnr(task, ema, ref, scale=scale)
        if self.input_ssim is None:
            return p, {}
        q = {"output": ssim(out, ref), "input": self.input_ssim}
        if ema is not None:
            q["ema"] = ssim(ema, ref)
        return p, q
