"""Small synthetic images and tiny configs shared by the engine tests."""
from __future__ import annotations

import numpy as np
from PIL import Image

from engine.presets import get_config

# the smallest net the GUI tests drive (fast on 2 cores)
TINY_QT = dict(channels_down=[8, 8], channels_up=[8, 8], channels_skip=[2, 2], input_channels=8)
TINY_NET = dict(channels_down=[16, 16, 16], channels_up=[16, 16, 16], channels_skip=[4, 4, 4])


def smooth_image(h: int = 32, w: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A band-limited colour image (random coarse values, bicubic-upsampled, plus an edge)."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 8), max(2, w // 8), channels)).astype(np.float32)
    chans = [np.asarray(Image.fromarray(small[:, :, c], mode="F").resize((w, h), Image.BICUBIC))
             for c in range(channels)]
    img = np.stack(chans, 2)
    img[:, w // 2:, :] = 0.7 * img[:, w // 2:, :] + 0.3  # a vertical edge
    return np.clip(img, 0.05, 0.95).astype(np.float32)


def flat_scene(n: int = 96) -> np.ndarray:
    """A smooth picture with an edge: flat areas to measure in, structure to avoid."""
    y, x = np.mgrid[0:n, 0:n] / n
    img = np.stack([0.3 + 0.3 * x, 0.5 - 0.2 * y, 0.4 + 0.1 * x * y], -1)
    img[:, n // 2:] += 0.2
    return img


def blurred_noise(shape, sigma: float, seed: int) -> np.ndarray:
    """White noise smoothed by a 3x3 box and rescaled: correlated over ~1-2 px, std sigma."""
    rng = np.random.default_rng(seed)
    n = rng.normal(size=(shape[0] + 2, shape[1] + 2, shape[2]))
    s = sum(n[i:i + shape[0], j:j + shape[1]] for i in range(3) for j in range(3))
    return s / s.std() * sigma


def tiny_config(task: str, **overrides):
    kw = dict(TINY_NET)
    # float32 everywhere: the tests behave alike on CPUs with and without native bf16
    # (precision 'auto'); tests/test_noisefree.py covers bf16 itself; one seed (tests/test_seeds.py
    # covers several)
    kw.update(dict(iterations=30, seed=0, device="cpu", preview_every=10, snapshot_every=10, es_window=10,
                   precision="fp32", seeds=1))
    kw.update(overrides)
    return get_config(task=task, **kw)
