"""engine.degrade: the paper's degradations, deterministic given the seed."""
from __future__ import annotations

import numpy as np
import pytest

from engine.degrade import add_noise, crop_to_multiple, downscale, drop_pixels, jpeg
from engine.errors import ImageError
from engine.metrics import psnr


def _smooth(h: int = 48, w: int = 64, c: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [0.5 + 0.3 * np.sin(xx / (6 + k) + yy / (9 - k)) for k in range(c)]
    return np.stack(chans, axis=2).astype(np.float32)


def test_noise_std_matches_sigma_on_mid_grey():
    grey = np.full((64, 64, 3), 0.5, np.float32)
    noisy = add_noise(grey, 25, seed=0)
    assert noisy.dtype == np.float32 and noisy.shape == grey.shape
    assert abs(noisy.std() - 25 / 255) < 0.05 * 25 / 255
    assert abs(noisy.mean() - 0.5) < 0.005


def test_noise_is_clipped_and_seeded():
    img = _smooth()
    a, b, c = add_noise(img, 50, seed=3), add_noise(img, 50, seed=3), add_noise(img, 50, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0 and (a == 0).any() and (a == 1).any()
    assert np.array_equal(add_noise(img, 0), img)
    assert add_noise(img[:, :, 0], 10).shape == img.shape[:2]
    with pytest.raises(ValueError):
        add_noise(img, -1)


def test_drop_pixels_fraction_and_mask():
    img = _smooth(64, 64) + 0.1
    out, mask = drop_pixels(img, 0.5, seed=1)
    assert mask.dtype == np.bool_ and mask.shape == (64, 64)
    assert abs((~mask).mean() - 0.5) < 0.03
    # all channels together: a dropped pixel is 0 everywhere, a kept one is untouched
    assert np.array_equal(out[~mask], np.zeros(((~mask).sum(), 3), np.float32))
    assert np.array_equal(out[mask], img[mask])
    out2, mask2 = drop_pixels(img, 0.5, seed=1)
    assert np.array_equal(mask, mask2) and np.array_equal(out, out2)
    assert not np.array_equal(mask, drop_pixels(img, 0.5, seed=2)[1])
    assert abs((~drop_pixels(img, 0.9, seed=0)[1]).mean() - 0.9) < 0.03
    assert drop_pixels(img, 0.0)[1].all() and not drop_pixels(img, 1.0)[1].any()
    with pytest.raises(ValueError):
        drop_pixels(img, 1.5)


def test_downscale_sizes_and_crop():
    img = _smooth(50, 67)
    hr = crop_to_multiple(img, 4)
    assert hr.shape == (48, 64, 3) and np.array_equal(hr, img[:48, :64])
    lr = downscale(img, 4)
    assert lr.shape == (12, 16, 3) and lr.dtype == np.float32
    assert downscale(img, 8).shape == (6, 8, 3)
    assert downscale(img[:, :, 0], 2).shape == (25, 33)
    with pytest.raises(ImageError):
        crop_to_multiple(img, 64)
    with pytest.raises(ValueError):
        downscale(img, 0)


def test_downscale_keeps_constants_and_is_not_quantised():
    const = np.full((32, 48, 3), 0.3, np.float32)
    assert np.allclose(downscale(const, 4), 0.3, atol=1e-5)
    # a value between two 8-bit levels survives (no uint8 round trip)
    fine = np.full((16, 16, 1), 100.4 / 255, np.float32)
    assert np.allclose(downscale(fine, 2), 100.4 / 255, atol=1e-6)


def test_downscale_is_a_low_pass_of_the_image():
    img = _smooth(64, 64)
    lr = downscale(img, 2)
    box = img.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert psnr(lr, box) > 30
    assert lr.min() >= 0.0 and lr.max() <= 1.0


def test_jpeg_same_shape_and_lossy():
    img = _smooth()
    out = jpeg(img, quality=10)
    assert out.shape == img.shape and out.dtype == np.float32
    assert not np.array_equal(out, img)
    assert 20 < psnr(out, img) < psnr(jpeg(img, quality=90), img)
    assert np.array_equal(out, jpeg(img, quality=10))
    gray = jpeg(img[:, :, :1], quality=10)
    assert gray.shape == (48, 64, 1)
    assert jpeg(img[:, :, 0]).shape == (48, 64)
    with pytest.raises(ValueError):
        jpeg(img, quality=0)


# ---- hostile parameters (issue 7): one-line errors that are still ValueErrors --------------

@pytest.mark.parametrize("call", [
    lambda img: add_noise(img, float("inf")),
    lambda img: add_noise(img, float("nan")),
    lambda img: add_noise(img, -10),
    lambda img: add_noise(img, 25, seed=-1),
    lambda img: add_noise(img, 25, seed=2**64),
    lambda img: drop_pixels(img, 1.5),
    lambda img: drop_pixels(img, float("nan")),
    lambda img: drop_pixels(img, 0.5, seed=-1),
    lambda img: downscale(img, 0),
    lambda img: downscale(img, float("inf")),
    lambda img: jpeg(img, quality=0),
    lambda img: jpeg(img, quality=101),
    lambda img: jpeg(img, quality=50.5),
])
def test_bad_parameters_raise_a_one_line_dip_error(call):
    from engine.degrade import DegradeError
    from engine.errors import DIPError

    img = np.full((16, 16, 3), 0.5, np.float32)
    with pytest.raises(DegradeError) as e:
        call(img)
    assert isinstance(e.value, ValueError) and isinstance(e.value, DIPError)
    assert "\n" not in str(e.value)


def test_largest_seed_is_accepted():
    img = np.full((8, 8, 3), 0.5, np.float32)
    assert add_noise(img, 25, seed=2**63 - 1).shape == img.shape
    assert drop_pixels(img, 0.5, seed=2**63 - 1)[1].shape == (8, 8)
