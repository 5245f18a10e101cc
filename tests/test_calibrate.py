"""A long plan is priced by this machine's own steps (engine/calibrate.py): the factor is
measured / modelled, every estimate follows it, and a short job never pays for it."""
import json

import numpy as np
import pytest
from PIL import Image

import engine.calibrate as calibrate_mod
from engine.calibrate import calibrate, calibrated, forget, probe_side, speed_factor
from engine.cli import main
from engine.estimate import estimate_cost
from engine.presets import get_config
from engine.tiling import plan_job
from tests.helpers import smooth_image

TINY_NET = dict(channels_down=[8, 8], channels_up=[8, 8], channels_skip=[2, 2])


def tiny(**kw):
    return get_config("denoise-fast", device="cpu", precision="fp32", **TINY_NET, **kw)


def test_the_factor_is_measured_over_modelled_and_every_estimate_follows_it():
    cfg = tiny()
    before = estimate_cost(cfg, 200, 300, "cpu").seconds_per_step
    assert speed_factor("cpu", False) == 1.0 and not calibrated(cfg, "cpu")
    factor = calibrate(cfg, "cpu", steps=3, side=32)
    assert calibrated(cfg, "cpu") and speed_factor("cpu", False) == factor
    lo, hi = calibrate_mod.FACTOR_RANGE
    assert lo <= factor <= hi
    assert estimate_cost(cfg, 200, 300, "cpu").seconds_per_step == pytest.approx(before * factor)
    # bf16 is its own machine: untouched by an fp32 reading
    assert speed_factor("cpu", True) == 1.0
    forget()
    assert estimate_cost(cfg, 200, 300, "cpu").seconds_per_step == pytest.approx(before)


def test_a_slower_machine_reads_slower(monkeypatch):
    monkeypatch.setattr(calibrate_mod, "FACTOR_RANGE", (1e-3, 1e3))
    cfg = tiny()
    quick = calibrate(cfg, "cpu", steps=3, side=32)
    forget()
    real = calibrate_mod.clock
    ticks = iter(range(10**6))
    # each reading of the clock 0.2 s later than the one before it: each step "takes" 0.2 s more
    monkeypatch.setattr(calibrate_mod, "clock", lambda: real() + 0.2 * next(ticks))
    modelled = estimate_cost(cfg, 32, 32, "cpu").seconds_per_step
    slow = calibrate(cfg, "cpu", steps=3, side=32)
    assert slow > quick
    # the delay comes on top of the machine's own time per step, which ``quick`` measured a
    # moment ago (on a loaded CPU that alone can be several times the delay)
    assert slow == pytest.approx(0.2 / modelled + quick, rel=0.5)


def _photo(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray((smooth_image(48, 64, seed=2) * 255).astype(np.uint8)).save(path)
    return str(path)


CLI_TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
            "--set", "precision=\"fp32\"", "--device", "cpu", "--iterations", "4", "--runs", "1"]


def test_the_cli_times_the_machine_before_a_long_plan_only(tmp_path, capsys, monkeypatch):
    photo = _photo(tmp_path)
    args = ["restore", "--task", "denoise", "--input", photo, "--output", str(tmp_path / "o.png"), *CLI_TINY]
    assert main(args) == 0
    assert "own steps" not in capsys.readouterr().err and not calibrated(tiny(), "cpu")
    monkeypatch.setattr(calibrate_mod, "CALIBRATE_PAST_S", 0.0)   # this tiny job counts as long
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("plan: ") and "x the step model's" in err.splitlines()[1]
    assert calibrated(tiny(), "cpu")
    # the report says what the plan was priced by
    metrics = tmp_path / "m.json"
    assert main([*args, "--metrics", str(metrics)]) == 0
    plan = json.loads(metrics.read_text())["plan"]
    assert plan["speed_factor"] == speed_factor("cpu", False) != 1.0 and plan["estimate_seconds"] > 0


def test_the_steps_are_timed_at_the_size_the_plan_runs():
    """The model's error differs by size (1.29x at 128 px, 1.05x at 384 on one day), so the
    machine is timed at the plan's typical unit, as drawn, within 64-256 px."""
    def side(task, hw, **kw):
        return probe_side(plan_job(get_config(None, task=task, device="cpu", **kw), hw, 3, device="cpu"))
    assert side("denoise", (3000, 4000)) == 192            # its 192 px tiles
    assert side("superres", (750, 1000), scale=4) == 256   # 64 px tiles, 256 px drawn
    assert side("denoise", (40, 50)) == 64                 # one small run, timed at the floor


def test_a_timing_that_fails_leaves_the_model_s_prices_and_the_job_runs(tmp_path, capsys, monkeypatch):
    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("out of memory (a test)")
    monkeypatch.setattr(calibrate_mod, "Restoration", Broken)
    assert calibrate(tiny(), "cpu") is None and not calibrated(tiny(), "cpu")
    monkeypatch.setattr(calibrate_mod, "CALIBRATE_PAST_S", 0.0)
    out = tmp_path / "o.png"
    assert main(["restore", "--task", "denoise", "--input", _photo(tmp_path), "--output", str(out), *CLI_TINY]) == 0
    assert out.exists() and "own steps" not in capsys.readouterr().err


def test_a_long_folder_is_priced_by_the_machine_too(tmp_path, monkeypatch):
    """A folder's plans are made photo by photo before the machine is timed; once timed, every
    unit's price is the plan's times the factor, and the plan line and the report say so."""
    import io

    from engine.batch import Batch, BatchOptions
    from engine.executors import LocalExecutor

    src = tmp_path / "in"
    src.mkdir()
    for k in range(2):
        Image.fromarray((smooth_image(40, 48, seed=k) * 255).astype(np.uint8)).save(src / f"p{k}.png")
    cfg = tiny(iterations=4, seeds=1)

    def batch(out):
        log = io.StringIO()
        b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / out),
                               metrics=str(tmp_path / f"{out}.jsonl")), LocalExecutor(), stream=log)
        return b, b.run(), log.getvalue()
    b, rc, log = batch("model")
    assert rc == 0 and b.speed_factor is None and "own steps" not in log and not calibrated(cfg, "cpu")
    model_prices = [e.plan.unit_seconds for e in b.entries]
    monkeypatch.setattr(calibrate_mod, "CALIBRATE_PAST_S", 0.0)   # this tiny folder counts as long
    b, rc, log = batch("timed")
    factor = speed_factor("cpu", False)
    assert rc == 0 and b.speed_factor == factor != 1.0 and f"own steps: {factor:.2f}x" in log
    for e, before in zip(b.entries, model_prices):
        assert e.plan.unit_seconds == pytest.approx(tuple(t * factor for t in before))
    lines = [json.loads(line) for line in (tmp_path / "timed.jsonl").read_text().splitlines()]
    assert [line["plan"]["speed_factor"] for line in lines] == [factor, factor]
