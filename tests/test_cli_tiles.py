"""``restore`` at real size: the plan first, --tile/--overlap/--yes, tiled output, and an
inpainted large photo whose known pixels come back bit for bit (8 and 16 bit)."""
import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from tests.helpers import smooth_image

TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "es_window=5", "--set", "preview_every=5", "--device", "cpu"]


def _png(path, arr):
    Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8).squeeze()).save(path)
    return str(path)


@pytest.fixture
def photo(tmp_path):
    return _png(tmp_path / "photo.png", smooth_image(72, 100, seed=4))


def test_tiled_restore_prints_the_plan_writes_the_photo_and_reports_units(tmp_path, photo, capsys):
    out, metrics = tmp_path / "o.png", tmp_path / "m.json"
    rc = main(["restore", "--task", "denoise", "--input", photo, "--output", str(out), "--tile", "64",
               "--overlap", "16", "--iterations", "25", "--reference", photo, "--metrics", str(metrics), *TINY])
    assert rc == 0
    err = capsys.readouterr().err
    assert err.startswith("plan: denoise 100x72: 4 tiles of 64 px (overlap 16)")
    assert "tile 4/4" in err and "ETA" in err
    assert Image.open(out).size == (100, 72)
    m = json.loads(metrics.read_text())
    assert m["plan"]["mode"] == "tiles" and m["plan"]["units"] == 4 and m["plan"]["done"] == 4
    assert len(m["plan"]["per_unit"]) == 4 and all(u["steps"] >= 1 for u in m["plan"]["per_unit"])
    assert 10 < m["psnr"]["written"] < 99     # scored on the whole photo against its reference


def test_a_small_photo_still_runs_whole_and_says_so(tmp_path, photo, capsys):
    assert main(["restore", "--task", "denoise", "--input", photo, "--output", str(tmp_path / "o.png"),
                 "--iterations", "5", *TINY]) == 0
    err = capsys.readouterr().err
    assert "plan: denoise 100x72 as one run" in err and "step 5/5" in err


def test_a_job_over_an_hour_prints_its_plan_and_needs_yes(tmp_path, photo, capsys, monkeypatch):
    import engine.tiling as tiling
    monkeypatch.setattr(tiling, "LONG_PLAN_S", 0.001)
    out = tmp_path / "o.png"
    rc = main(["restore", "--task", "denoise", "--input", photo, "--output", str(out), "--tile", "64",
               "--iterations", "5", "--quiet", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and not out.exists()
    assert err[0].startswith("plan: ") and err[-1].startswith("error: ") and "--yes" in err[-1]
    assert main(["restore", "--task", "denoise", "--input", photo, "--output", str(out), "--tile", "64",
                 "--iterations", "5", "--quiet", "--yes", *TINY]) == 0
    assert out.exists()


@pytest.mark.parametrize("args,message", [
    (["--tile", "huge"], "size in pixels"),
    (["--tile", "16"], "at least 64"),
    (["--tile", "64", "--overlap", "2"], "overlap must be at least"),
])
def test_bad_tile_flags_are_one_line_errors(tmp_path, photo, capsys, args, message):
    rc = main(["restore", "--task", "denoise", "--input", photo, "--output", str(tmp_path / "o.png"),
               "--quiet", *args, *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and message in err[-1]


@pytest.mark.parametrize("bits", [8, 16])
def test_inpainting_a_large_photo_writes_back_every_known_pixel_bit_for_bit(tmp_path, capsys, bits):
    img = smooth_image(96, 860, seed=6)          # longest side over 800: crops around the mask
    path = tmp_path / "photo.png"
    if bits == 8:
        raw = (img * 255 + 0.5).astype(np.uint8)
        Image.fromarray(raw).save(path)
    else:   # one 16-bit channel (Pillow writes 16-bit greyscale PNGs)
        raw = (img[:, :, 0] * 65535 + 0.5).astype(np.uint16)
        Image.fromarray(raw).save(path)
    known = np.ones(img.shape[:2], bool)
    known[30:40, 100:160] = False
    known[50:60, 700:710] = False
    Image.fromarray((known * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    rc = main(["restore", "--task", "inpaint", "--input", str(path), "--mask", str(tmp_path / "mask.png"),
               "--output", str(out), "--iterations", "12", "--crop-margin", "20", *TINY])
    assert rc == 0
    assert "2 crops around the mask" in capsys.readouterr().err
    written = np.asarray(Image.open(out))
    assert written.dtype == raw.dtype and written.shape == raw.shape
    np.testing.assert_array_equal(written[known], raw[known])
    assert (written[~known] != raw[~known]).any()


def test_the_tiles_pace_follows_each_photos_noise(tmp_path, capsys):
    # tile_pace 'auto' (the fast denoiser's): a camera's correlated noise keeps one run's pace,
    # white noise takes the quick one; one photo and a folder alike
    from tests.helpers import blurred_noise, flat_scene
    d = tmp_path / "in"
    d.mkdir()
    clean = flat_scene(96)
    white = _png(d / "white.png", clean + np.random.default_rng(0).normal(0, 8 / 255, clean.shape))
    camera = _png(d / "camera.png", clean + blurred_noise(clean.shape, 8 / 255, 1))
    args = ["--task", "denoise", "--preset", "denoise-fast", "--tile", "64", "--iterations", "3", *TINY]
    for path, words in ((camera, "at one run's pace (the photo's noise is a camera's"), (white, "at the quick pace")):
        assert main(["restore", "--input", path, "--output", str(tmp_path / "o.png"), *args]) == 0
        assert words in capsys.readouterr().err
    metrics = tmp_path / "m.jsonl"
    assert main(["restore", "--input", str(d), "--output", str(tmp_path / "out"), "--metrics", str(metrics),
                 "--threads", "1", *args]) == 0
    plans = {json.loads(x)["input"].rsplit("/", 1)[-1]: json.loads(x)["plan"]["text"]
             for x in metrics.read_text().splitlines()}
    assert "one run's pace" in plans["camera.png"] and "quick pace" in plans["white.png"]
