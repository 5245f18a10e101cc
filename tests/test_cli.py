"""The command line end to end on tiny images, including its error paths."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from tests.helpers import smooth_image

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "es_window=5", "--set", "preview_every=5"]


def _png(path, arr):
    Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8).squeeze()).save(path)
    return str(path)


@pytest.fixture
def clean(tmp_path):
    return _png(tmp_path / "clean.png", smooth_image(32, 32))


def test_no_arguments_print_usage(capsys):
    assert main([]) == 0
    assert "restore" in capsys.readouterr().out


def test_degrade_then_restore_with_metrics(tmp_path, clean, capsys):
    noisy = str(tmp_path / "noisy.png")
    assert main(["degrade", "--task", "denoise", "--input", clean, "--output", noisy, "--sigma", "25"]) == 0
    out, metrics = tmp_path / "out.png", tmp_path / "m.json"
    rc = main(["restore", "--task", "denoise", "--input", noisy, "--output", str(out), "--iterations", "12",
               "--device", "cpu", "--reference", clean, "--metrics", str(metrics), "--pick", "auto", *TINY])
    assert rc == 0
    assert Image.open(out).size == (32, 32)
    m = json.loads(metrics.read_text())
    for key in ("task", "preset", "architecture", "parameters", "device", "steps", "seconds_per_step",
                "best_iterate", "stop", "psnr"):
        assert key in m
    assert m["steps"] == 12 and m["parameters"] > 0
    assert {"input", "last", "ema", "best_iterate", "best_seen_oracle"} <= set(m["psnr"])
    assert "step 12/12" in capsys.readouterr().err


def test_degrade_inpaint_writes_mask_and_restore_uses_it(tmp_path, clean):
    dropped, mask = tmp_path / "d.png", tmp_path / "d_mask.png"
    assert main(["degrade", "--task", "inpaint", "--input", clean, "--output", str(dropped), "--drop", "0.5"]) == 0
    m = np.asarray(Image.open(mask))
    assert 0.4 < (m > 127).mean() < 0.6
    out = tmp_path / "out.png"
    assert main(["restore", "--task", "inpaint", "--input", str(dropped), "--mask", str(mask),
                 "--output", str(out), "--iterations", "3", "--quiet", *TINY]) == 0
    assert out.exists()


def test_superres_cli_output_is_scaled(tmp_path, clean):
    lr = tmp_path / "lr.png"
    assert main(["degrade", "--task", "superres", "--input", clean, "--output", str(lr), "--scale", "4"]) == 0
    assert Image.open(lr).size == (8, 8)
    out = tmp_path / "sr.png"
    assert main(["restore", "--task", "superres", "--scale", "4", "--input", str(lr), "--output", str(out),
                 "--iterations", "2", "--quiet", *TINY]) == 0
    assert Image.open(out).size == (32, 32)


@pytest.mark.parametrize("args, message", [
    (["--task", "denoise", "--input", "missing.png"], "missing.png"),
    (["--task", "inpaint", "--input", "{clean}"], "mask"),
    (["--task", "denoise", "--input", "{clean}", "--preset", "nope"], "unknown preset"),
    (["--task", "denoise", "--input", "{clean}", "--set", "lr=-1"], "learning rate"),
    (["--task", "inpaint", "--input", "{clean}", "--mask", "{small}"], "16x16"),
    (["--task", "denoise", "--input", "{text}"], "text.png"),
])
def test_errors_are_one_line_and_write_nothing(tmp_path, clean, capsys, args, message):
    small = _png(tmp_path / "small.png", smooth_image(16, 16))
    text = tmp_path / "text.png"
    text.write_text("not an image")
    out = tmp_path / "never.png"
    args = [a.format(clean=clean, small=small, text=text) for a in args]
    rc = main(["restore", *args, "--output", str(out), "--iterations", "2", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()


def test_unknown_arch_is_rejected_by_the_parser(clean, tmp_path):
    proc = subprocess.run([sys.executable, "main.py", "restore", "--task", "denoise", "--input", clean,
                           "--output", str(tmp_path / "o.png"), "--arch", "vit"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "invalid choice" in proc.stderr


def test_main_py_runs_the_cli_end_to_end(tmp_path, clean):
    out = tmp_path / "o.png"
    proc = subprocess.run([sys.executable, "main.py", "restore", "--task", "denoise", "--input", clean,
                           "--output", str(out), "--iterations", "2", "--device", "cpu", *TINY],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


def test_restore_stops_by_itself_and_says_why(tmp_path, clean, capsys):
    out, metrics = tmp_path / "out.png", tmp_path / "m.json"
    rc = main(["restore", "--task", "denoise", "--input", clean, "--output", str(out), "--iterations", "3000",
               "--device", "cpu", "--metrics", str(metrics), *TINY, "--set", "stop_patience=10",
               "--set", "stop_patience_ratio=0", "--set", "stop_min_gain_db=5"])
    assert rc == 0 and out.exists()
    m = json.loads(metrics.read_text())
    assert m["stop"]["mode"] == "auto" and m["stop"]["stopped_early"] and m["steps"] < 3000
    assert "no gain" in m["stop"]["reason"] and m["best_iterate"]["kind"] in ("output", "ema")
    err = capsys.readouterr().err
    assert "stopped at step" in err and "best iterate" in err


def test_stop_never_runs_every_step(tmp_path, clean):
    metrics = tmp_path / "m.json"
    assert main(["restore", "--task", "denoise", "--input", clean, "--output", str(tmp_path / "o.png"),
                 "--iterations", "15", "--stop", "never", "--device", "cpu", "--metrics", str(metrics),
                 "--quiet", *TINY, "--set", "stop_patience=1", "--set", "stop_min_gain_db=5"]) == 0
    m = json.loads(metrics.read_text())
    assert m["steps"] == 15 and not m["stop"]["stopped_early"] and "step limit" in m["stop"]["reason"]


def test_runs_average_several_seeds(tmp_path, clean):
    metrics = tmp_path / "m.json"
    assert main(["restore", "--task", "denoise", "--input", clean, "--output", str(tmp_path / "o.png"),
                 "--iterations", "6", "--runs", "2", "--device", "cpu", "--reference", clean,
                 "--metrics", str(metrics), "--quiet", *TINY]) == 0
    m = json.loads(metrics.read_text())
    assert [r["seed"] for r in m["runs"]] == [0, 1]
    assert len(m["psnr"]["each_run"]) == 2


def test_small_denoising_averages_seeds_by_default_and_runs_one_overrides(tmp_path, clean, capsys):
    from engine.seeds import AUTO_SEEDS
    metrics = tmp_path / "m.json"
    args = ["restore", "--task", "denoise", "--input", clean, "--output", str(tmp_path / "o.png"),
            "--iterations", "6", "--stop", "never", "--device", "cpu", "--reference", clean,
            "--metrics", str(metrics), *TINY]
    assert main(args) == 0
    m = json.loads(metrics.read_text())
    assert [r["seed"] for r in m["runs"]] == list(range(AUTO_SEEDS)) and m["seeds_side_by_side"]
    assert all(r["steps"] == 6 for r in m["runs"])
    written = np.asarray(Image.open(tmp_path / "o.png"), dtype=np.float64)
    assert f"{AUTO_SEEDS} seeds averaged side by side" in capsys.readouterr().err
    assert main([*args, "--runs", "1", "--overwrite", "--quiet"]) == 0
    one = json.loads(metrics.read_text())
    assert len(one["runs"]) == 1 and "each_run" not in one["psnr"]
    assert not np.array_equal(written, np.asarray(Image.open(tmp_path / "o.png"), dtype=np.float64))


def test_a_run_that_does_not_fit_writes_nothing(tmp_path, clean, capsys):
    out = tmp_path / "o.png"
    rc = main(["restore", "--task", "denoise", "--input", clean, "--output", str(out), "--iterations", "60",
               "--lr", "10", "--stop", "never", "--device", "cpu", "--quiet", *TINY])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("did not fit" in err[0] or "diverged" in err[0])
