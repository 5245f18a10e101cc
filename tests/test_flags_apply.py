"""Flags that lied or were ignored (issue 22): the stated minimum tile runs; every tiling and
executor flag is checked whether or not it applies, and refused where it does not apply;
an all-white mask is one rule for one photo and a batch."""
import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.imageio import load_image
from engine.presets import get_config
from engine.tiling import MIN_TILE, plan_job
from tests.helpers import smooth_image

TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "input_channels=8", "--device", "cpu", "--iterations", "2", "--quiet"]


def _png(path, h=32, w=32):
    Image.fromarray((smooth_image(h, w) * 255).round().astype(np.uint8)).save(path)
    return str(path)


def test_the_smallest_tile_runs_with_the_default_net(tmp_path, capsys):
    cfg = get_config(None, task="denoise", device="cpu")          # 5 levels: a 32 px cell
    assert cfg.net.size_multiple() == 32
    plan = plan_job(cfg, (96, 128), 3, device="cpu", tile=MIN_TILE)
    assert plan.mode == "tiles" and plan.tile == MIN_TILE and 2 * plan.overlap < MIN_TILE
    out = tmp_path / "o.png"
    code = main(["restore", "--task", "denoise", "--input", _png(tmp_path / "in.png", 96, 128), "--output", str(out),
                 "--tile", str(MIN_TILE), "--iterations", "2", "--runs", "1", "--device", "cpu", "--quiet"])
    assert code == 0 and load_image(out).array.shape == (96, 128, 3), capsys.readouterr().err


@pytest.mark.parametrize("task, extra, words", [
    ("inpaint", ["--crop-margin", "0"], "--crop-margin: the crop margin must be at least 1 px"),
    ("inpaint", ["--crop-margin", "-1"], "--crop-margin: the crop margin must be at least 1 px"),
    ("denoise", ["--crop-margin", "-7"], "--crop-margin: the crop margin must be at least 1 px"),
    ("denoise", ["--crop-margin", "16"], "only --task inpaint uses it"),
    ("denoise", ["--gpus-per-unit", "nan"], "--gpus-per-unit must be in (0, 1], got nan"),
    ("denoise", ["--gpus-per-unit", "-1"], "--gpus-per-unit must be in (0, 1], got -1"),
    ("denoise", ["--gpus-per-unit", "0.5"], "--gpus-per-unit is used with --ray only"),
    ("denoise", ["--threads", "0"], "--threads must be 1..256, got 0"),
    ("denoise", ["--overlap", "-5", "--tile", "off"], "--overlap: the overlap must be 0 px or more"),
    ("denoise", ["--overlap", "8", "--tile", "off"], "--tile off runs the photo as one"),
])
def test_a_flag_is_checked_whether_or_not_it_applies(tmp_path, capsys, task, extra, words):
    args = ["restore", "--task", task, "--input", _png(tmp_path / "in.png"), "--output", str(tmp_path / "o.png"),
            *TINY, *extra]
    if task == "inpaint":
        known = np.ones((32, 32), np.uint8) * 255
        known[8:16, 8:16] = 0
        Image.fromarray(known).save(tmp_path / "m.png")
        args += ["--mask", str(tmp_path / "m.png")]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("extra, words", [
    (["--ray"], "--ray is not used by --task actmax"),
    (["--threads", "0"], "--threads must be 1..256, got 0"),
])
def test_actmax_refuses_executor_flags_it_cannot_use(tmp_path, capsys, extra, words):
    code = main(["restore", "--task", "actmax", "--classifier", str(tmp_path / "phi.pt"), "--unit", "0",
                 "--size", "32x32", "--output", str(tmp_path / "o.png"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and words in err


def test_an_all_white_mask_is_one_rule_for_one_photo_and_a_batch(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    photo = _png(d / "p.png")
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(d / "p_mask.png")
    code = main(["restore", "--task", "inpaint", "--input", photo, "--mask", str(d / "p_mask.png"),
                 "--output", str(tmp_path / "o.png"), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "marks no pixel to fill (it is all white)" in err and not (tmp_path / "o.png").exists()
    code = main(["restore", "--task", "inpaint", "--input", str(d), "--output", str(tmp_path / "out"), *TINY])
    err = capsys.readouterr().err
    assert code == 1 and "marks no pixel to fill (it is all white)" in err and not list((tmp_path / "out").iterdir())
