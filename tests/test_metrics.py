"""engine.metrics: PSNR (plain, Y channel, shave), SSIM against scikit-image, and the one
scoring protocol (task_psnr) that the run, the CLI and the benchmarks must all use."""
from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from engine.cli import main as cli_main
from engine.config import TASKS
from engine.imageio import load_image
from engine.metrics import SR_SHAVE, psnr, psnr_protocol, rgb_to_y, ssim, task_psnr
from engine.run import Restoration
from tests.helpers import TINY_QT, smooth_image, tiny_config

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


# ---- task_psnr: the protocol of the paper's tables ---------------------------------------

def test_task_psnr_scores_all_channels_except_superres():
    a, b = _img(seed=1), _img(seed=2)
    for task in TASKS:
        if task != "superres":
            assert task_psnr(task, a, b) == psnr(a, b)
            assert psnr_protocol(task) == "all channels, range 1"
    sr = task_psnr("superres", a, b, scale=4)
    assert sr == psnr(a, b, y_channel=True, shave=4) and SR_SHAVE == 4
    assert abs(sr - psnr(a, b)) > 0.5 and abs(sr - psnr(a, b, y_channel=True)) > 0.01
    assert psnr_protocol("superres") == "Y channel (BT.601), 4 px shaved"


def test_task_psnr_scores_a_gray_image_like_its_rgb_copy():
    g, h = _img(c=1, seed=3), _img(c=1, seed=4)
    rgb = task_psnr("superres", np.repeat(g, 3, 2), np.repeat(h, 3, 2))
    assert task_psnr("superres", g, h) == pytest.approx(rgb, abs=1e-9)
    assert abs(task_psnr("superres", g, h) - psnr(g, h, shave=4)) > 1.0   # not the plain gray PSNR


def test_task_psnr_shaves_less_on_images_too_small_for_the_border():
    a = _img(h=8, w=12)
    b = a.copy()
    b[:3] = 0.0                    # inside the 3 px border an 8 px side leaves
    b[4, 5, 0] += 0.1              # the scored centre
    assert task_psnr("superres", a, b) == psnr(a, b, y_channel=True, shave=3) < math.inf
    one = _img(h=1, w=1)
    assert task_psnr("superres", one, one * 0.5) == psnr(one, one * 0.5, y_channel=True)


@pytest.mark.parametrize("bad", [dict(task="deblur"), dict(scale=0), dict(scale=2.0), dict(scale=True)])
def test_task_psnr_refuses_unknown_tasks_and_bad_factors(bad):
    kw = dict(task="superres", scale=2) | bad
    with pytest.raises(ValueError):
        task_psnr(kw.pop("task"), _img(), _img(seed=1), **kw)


# ---- every caller scores with task_psnr --------------------------------------------------

def _hand_made_psnr(source: str, name: str) -> list[str]:
    """Imports of the bare psnr, calls of it, and calls with its y_channel/shave keywords."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("metrics"):
            found += [f"{name}:{node.lineno}: imports psnr" for a in node.names if a.name == "psnr"]
        if isinstance(node, ast.Call):
            called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if called == "psnr" or {k.arg for k in node.keywords} & {"y_channel", "shave"}:
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)[:60]}")
    return found


def test_the_guard_sees_hand_made_protocols():
    drifted = ("from .metrics import psnr\n"
               "a = psnr(x, ref)\n"
               "b = metrics.psnr(x, ref)\n"
               "c = score(x, ref, y_channel=sr, shave=4)\n")
    assert len(_hand_made_psnr(drifted, "drifted.py")) == 4
    assert _hand_made_psnr("from engine.metrics import task_psnr\np = task_psnr(t, x, ref, scale=2)\n"
                           "self.psnr.emit(1, p)\n", "fine.py") == []


def test_no_caller_computes_psnr_by_itself():
    """Outside engine/metrics.py, PSNR goes through task_psnr: a bare psnr(...) (or its
    y_channel/shave keywords) is a second protocol waiting to drift from the first."""
    found = []
    for folder in ("engine", "app", "benchmarks", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != ROOT / "engine" / "metrics.py":
                found += _hand_made_psnr(path.read_text(), str(path.relative_to(ROOT)))
    found += _hand_made_psnr((ROOT / "main.py").read_text(), "main.py")
    assert found == []


@pytest.mark.parametrize("channels", [3, 1])
def test_live_psnr_of_a_superres_run_is_task_psnr(channels):
    hr = smooth_image(32, 32, channels=channels, seed=5)
    lr = hr[::2, ::2]
    cfg = tiny_config("superres", **dict(TINY_QT, scale=2, iterations=4, preview_every=2, snapshot_every=2))
    run = Restoration(cfg, lr, reference=hr)
    recs = [r for r in run.steps() if r.psnr]
    assert recs
    ref = run.reference
    for r in recs:
        assert r.psnr["output"] == task_psnr("superres", r.preview, ref, scale=2)
        assert r.psnr["ema"] == task_psnr("superres", r.preview_ema, ref, scale=2)
    assert recs[0].psnr["input"] == task_psnr("superres", run.degraded(), ref, scale=2)
    run.close()


@pytest.mark.parametrize("channels", [1, 3])
def test_cli_metrics_psnr_is_task_psnr_of_the_written_image(tmp_path, channels):
    hr = smooth_image(32, 32, channels=channels, seed=6)
    mode = "L" if channels == 1 else "RGB"
    clean = tmp_path / "clean.png"
    Image.fromarray((hr.squeeze() * 255 + 0.5).astype(np.uint8), mode).save(clean)
    lr, out, metrics = tmp_path / "lr.png", tmp_path / "out.png", tmp_path / "m.json"
    assert cli_main(["degrade", "--task", "superres", "--input", str(clean), "--output", str(lr),
                     "--scale", "2"]) == 0
    assert cli_main(["restore", "--task", "superres", "--scale", "2", "--input", str(lr), "--output", str(out),
                     "--reference", str(clean), "--iterations", "6", "--device", "cpu", "--quiet",
                     "--metrics", str(metrics), "--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]",
                     "--set", "channels_skip=[2,2]", "--set", "input_channels=8"]) == 0
    m = json.loads(metrics.read_text())
    written, ref = load_image(out).array, load_image(clean).array
    assert written.shape == ref.shape == (32, 32, channels)
    expected = task_psnr("superres", written, ref, scale=2)
    # the PNG holds 8 bits: the report scored the float result, within a hair of this
    assert m["psnr"]["written"] == pytest.approx(expected, abs=0.05)
    assert m["psnr_protocol"] == psnr_protocol("superres")
    # ...and that hair is far finer than what a drifted protocol would change
    for other in (psnr(written, ref, shave=4), psnr(written, ref, y_channel=True)):
        assert abs(other - expected) > 0.2
