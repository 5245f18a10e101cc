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


def tiny_config(task: str, **overrides):
    kw = dict(TINY_NET)
    # float32 everywhere: the tests behave alike on CPUs with and without native bf16
    # (precision 'auto'); tests/test_noisefree.py covers bf16 itself; one seed (tests/test_seeds.py
    # covers several)
    kw.update(dict(iterations=30, seed=0, device="cpu", preview_every=10, snapshot_every=10, es_window=10,
                   precision="fp32", seeds=1))
    kw.update(overrides)
    return get_config(task=task, **kw)
