"""engine.metrics: PSNR (plain, Y channel, shave) and SSIM against scikit-image."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from engine.metrics import psnr, rgb_to_y, ssim

ROOT = Path(__file__).resolve().parents[1]


def _img(h: int = 32, w: int = 40, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, size=(h, w, c)).astype(np.float32)


def test_psnr_constant_offset_is_20db():
    a = _img()
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-4)
    assert psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-4)
    assert psnr(a, a + 0.01) == pytest.approx(40.0, abs=1e-3)


def test_psnr_identical_is_inf():
    a = _img()
    assert psnr(a, a.copy()) == math.inf


def test_psnr_data_range_and_layouts():
    a = _img(c=1) * 255
    assert psnr(a, a + 25.5, data_range=255) == pytest.approx(20.0, abs=1e-4)
    # H x W and H x W x 1 are the same image
    assert psnr(a[:, :, 0], a + 25.5, data_range=255) == pytest.approx(20.0, abs=1e-4)


def test_psnr_matches_the_definition():
    a, b = _img(seed=1), _img(seed=2)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / mse), rel=1e-9)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        psnr(_img(), _img(h=31))
    with pytest.raises(ValueError):
        psnr(_img(c=3), _img(c=1))


def test_rgb_to_y_known_values():
    rgb = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], np.float64)
    y = rgb_to_y(rgb)
    assert y.shape == (1, 5)
    expect = np.array([16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966]) / 255
    assert np.allclose(y[0], expect, atol=1e-12)
    assert rgb_to_y(rgb.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4, 1)))


def test_psnr_y_channel():
    a = _img()
    # an equal offset on R, G and B moves Y by 0.1 * 219 / 255
    expect = 20.0 - 20.0 * math.log10(219.0 / 255.0)
    assert psnr(a, a + 0.1, y_channel=True) == pytest.approx(expect, abs=1e-4)
    # Y ignores changes that cancel in luma: a pure chroma shift scores higher than on RGB
    b = a.copy()
    b[:, :, 0] += 0.05
    b[:, :, 1] -= 0.05 * 65.481 / 128.553
    assert psnr(a, b, y_channel=True) > 100  # float32 rounding only
    assert psnr(a, b) < 40
    # a gray image scores like its R = G = B colour copy
    g = a[:, :, :1]
    assert psnr(g, g + 0.1, y_channel=True) == pytest.approx(
        psnr(np.repeat(g, 3, 2), np.repeat(g, 3, 2) + 0.1, y_channel=True), abs=1e-9)


def test_psnr_shave_ignores_the_border():
    a = _img()
    b = a.copy()
    b[:4] = 0.0
    b[:, -4:] = 1.0
    assert psnr(a, b) < 30
    assert psnr(a, b, shave=4) == math.inf
    assert psnr(a, b, shave=3) < 30
    b[10, 10, 0] += 0.1
    mse = 0.1 ** 2 / ((32 - 8) * (40 - 8) * 3)
    assert psnr(a, b, shave=4) == pytest.approx(10 * math.log10(1 / mse), abs=1e-3)
    with pytest.raises(ValueError):
        psnr(a, b, shave=16)


@pytest.mark.parametrize("channels", [3, 1, 0])
def test_ssim_matches_skimage(channels):
    rng = np.random.default_rng(channels)
    yy, xx = np.mgrid[0:48, 0:56] / 20.0
    base = 0.5 + 0.3 * np.sin(xx + 0.5 * yy)
    clean = np.clip(base[:, :, None] + 0.1 * rng.random((48, 56, max(channels, 1))), 0, 1)
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1)
    if channels == 0:  # plain H x W
        clean, noisy = clean[:, :, 0], noisy[:, :, 0]
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    if clean.ndim == 3:
        kw["channel_axis"] = -1
    ref = structural_similarity(clean, noisy, **kw)
    assert ssim(clean, noisy) == pytest.approx(ref, abs=1e-3)
    assert ssim(clean.astype(np.float32), noisy.astype(np.float32)) == pytest.approx(ref, abs=1e-3)
    assert 0.0 < ssim(clean, noisy) < 0.95


def test_ssim_identical_and_data_range():
    a = _img()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = np.clip(a + np.random.default_rng(5).normal(0, 0.05, a.shape), 0, 1)
    assert ssim(a * 255, b * 255, data_range=255) == pytest.approx(ssim(a, b), abs=1e-9)


def test_ssim_needs_eleven_pixels():
    with pytest.raises(ValueError, match="11"):
        ssim(_img(h=10), _img(h=10))
    with pytest.raises(ValueError):
        ssim(_img(), _img(w=39))


def test_quality_modules_do_not_import_skimage_or_scipy():
    code = (
        "import sys, engine.metrics, engine.imageio, engine.degrade\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in ('skimage', 'scipy'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
