"""Many photos in one command (engine/batch.py) on the local executor: units run by the pure
run_unit and blended on the driver give the in-process job's pixels; folders, patterns and
lists; masks beside the photos or in a parallel folder; names kept; JSON Lines metrics;
resume; one bad file does not stop the others; Ctrl-C; Ray missing says how to install it."""
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine.batch import Batch, BatchOptions, collect_inputs, find_mask, is_batch_input
from engine.executors import LocalExecutor, Task
from engine.imageio import load_image
from engine.job import UNIT_MEMORY_MB, TiledRestoration
from engine.tiling import plan_job
from engine.units import WorkUnit, run_unit
from tests.helpers import TINY_QT, smooth_image, tiny_config

TINY_SET = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
            "--set", "input_channels=8"]


def _save(path: Path, a: np.ndarray) -> None:
    Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8).squeeze()).save(path)


def _noisy(h, w, seed):
    rng = np.random.default_rng(seed)
    return np.clip(smooth_image(h, w, seed=seed) + rng.normal(0, 0.08, (h, w, 3)), 0, 1).astype(np.float32)


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        _save(d / f"p{i}.png", _noisy(32, 40, i))
    return d


def _cli(args, capsys=None):
    code = cli.main(["restore", "--task", "denoise", "--iterations", "12", "--threads", "1", *TINY_SET, *args])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def test_run_unit_gives_the_in_process_jobs_pixels(restore_torch_threads):
    """A tiled photo: every unit run by run_unit (any executor's function) and blended on the
    driver with add_result equals TiledRestoration run in one process, bit for bit."""
    torch.set_num_threads(1)
    img = _noisy(80, 96, 5)
    cfg = tiny_config("denoise", iterations=10, stop="never")
    plan = plan_job(cfg, img.shape[:2], 3, tile=64, device="cpu")
    assert len(plan.units) == 4
    job = TiledRestoration(cfg, plan, img)
    list(job.steps())
    job.close()
    acc = TiledRestoration(cfg, plan, img)
    events, results = [], {}
    for u in reversed(plan.units):            # any order: units are seeded by their place
        wu = WorkUnit(job=0, name="x.png", unit=u, count=4, threads=1, unit_budget_mb=UNIT_MEMORY_MB)
        result, info = run_unit(cfg.to_dict(), wu, img, progress=events.append)
        assert info["steps"] == 10 and info["threads"] == 1
        results[u.index] = (result, info)
    for i in range(4):                        # blended in unit order (engine/batch.py does)
        acc.add_result(i, *results[i])
    assert acc.finished and acc.failed_units == []
    np.testing.assert_array_equal(acc.result(), job.result())
    assert {e["unit"] for e in events} == {0, 1, 2, 3} and all(e["count"] == 4 for e in events)
    assert torch.get_num_threads() == 1       # the unit's threads were its own and put back


def test_a_unit_carries_its_threads(restore_torch_threads):
    """The unit runs with its own thread count and puts the caller's back."""
    torch.set_num_threads(2)
    img = _noisy(32, 32, 1)
    cfg = tiny_config("denoise", iterations=3, stop="never")
    plan = plan_job(cfg, img.shape[:2], 3, device="cpu")
    during = []
    wu = WorkUnit(job=0, name="x", unit=plan.units[0], count=1, threads=1)
    run_unit(cfg, wu, img, progress=lambda ev: during.append(torch.get_num_threads()))
    assert during and set(during) == {1} and torch.get_num_threads() == 2


def test_a_folder_keeps_names_writes_json_lines_and_reports_a_bad_file(photos, tmp_path, capsys):
    (photos / "broken.png").write_bytes(b"not an image")
    _save(photos / "p1_mask.png", np.ones((32, 40, 1)))   # a mask beside a photo is not a photo
    out, metrics = tmp_path / "out", tmp_path / "m.jsonl"
    code, err = _cli(["--input", str(photos), "--output", str(out), "--metrics", str(metrics)], capsys)
    assert code == 1                                         # something failed
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png"]
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [Path(x["input"]).name for x in lines] == ["broken.png", "p0.png", "p1.png", "p2.png"]
    assert lines[0]["status"] == "failed" and "not an image" in lines[0]["reason"]
    assert all(x["status"] == "done" and x["steps"] == 12 and x["threads_per_unit"] == 1 for x in lines[1:])
    # the summary table: one row per photo, the reason on the failed one's row
    table = err[err.index("\nimage ") + 1:]
    assert "broken.png  failed" in table and "not an image file" in table.splitlines()[1]
    assert "4 photos: 3 done, 0 skipped, 1 failed" in table
    # the written photo is the restoration, not the input
    assert not np.array_equal(load_image(out / "p0.png").array, load_image(photos / "p0.png").array)


def test_a_rerun_skips_complete_outputs_and_redoes_a_damaged_one(photos, tmp_path, capsys):
    out, metrics = tmp_path / "out", tmp_path / "m.jsonl"
    assert _cli(["--input", str(photos), "--output", str(out), "--metrics", str(metrics)], capsys)[0] == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    before = metrics.read_text().splitlines()
    # a damaged output (as a copy tool or a full disk would leave it) is not trusted
    (out / "p1.png").write_bytes(first["p1.png"][:100])
    code, err = _cli(["--input", str(photos), "--output", str(out), "--metrics", str(metrics)], capsys)
    assert code == 0
    assert "skipped p0.png" in err and "skipped p2.png" in err and "wrote" in err and "p1.png" in err
    assert (out / "p1.png").read_bytes() == first["p1.png"]          # redone: the same pixels
    after = metrics.read_text().splitlines()
    assert len(after) == 3 and after[0] == before[0] and after[2] == before[2]
    assert "2 skipped" in err


def test_patterns_and_lists_and_a_parallel_mask_folder(tmp_path, capsys):
    a, b, masks = tmp_path / "a", tmp_path / "b", tmp_path / "masks"
    for d in (a, b, masks):
        d.mkdir()
    _save(a / "one.png", _noisy(32, 32, 1))
    _save(b / "two.bmp", _noisy(32, 32, 2))
    _save(b / "one.png", _noisy(32, 32, 3))        # same name as a/one.png
    hole = np.ones((32, 32, 1))
    hole[8:16, 8:16] = 0
    _save(masks / "one.png", hole)
    _save(b / "two_mask.png", hole)                 # beside its photo
    assert is_batch_input(str(tmp_path / "a" / "*.png")) and is_batch_input(str(a))
    assert not is_batch_input(str(a / "one.png"))
    assert [p.name for p in collect_inputs(str(tmp_path / "*" / "*.bmp"))] == ["two.bmp"]
    assert find_mask(a / "one.png", masks) == masks / "one.png"
    assert find_mask(b / "two.bmp", None) == b / "two_mask.png"
    lst = tmp_path / "list.txt"
    lst.write_text("# photos\na/one.png\n\nb/two.bmp\nb/one.png\nmissing.png\n")
    out = tmp_path / "out"
    code = cli.main(["restore", "--task", "inpaint", "--iterations", "8", "--threads", "1", *TINY_SET,
                     "--input", str(lst), "--output", str(out), "--mask", str(masks)])
    err = capsys.readouterr().err
    assert code == 1
    # one.png from a/ (its mask in masks/); two.bmp has no mask in masks/ -> failed with the reason;
    # b/one.png would overwrite a/one.png's result -> failed; missing.png -> failed
    assert sorted(p.name for p in out.iterdir()) == ["one.png"]
    assert "failed two.bmp: no mask for two.bmp" in err
    assert "same output name as" in err and "failed missing.png" in err
    res, src = load_image(out / "one.png").array, load_image(a / "one.png").array
    assert res.shape == src.shape and not np.array_equal(res[8:16, 8:16], src[8:16, 8:16])
    # without --mask, masks beside the photos; names kept, a .bmp stays .bmp
    code = cli.main(["restore", "--task", "inpaint", "--iterations", "8", "--threads", "1", *TINY_SET,
                     "--input", str(b / "*.bmp"), "--output", str(out)])
    assert code == 0 and (out / "two.bmp").is_file()


def test_refusals_are_one_line_before_any_work(photos, tmp_path, capsys, monkeypatch):
    code, err = _cli(["--input", str(photos), "--output", str(photos)], capsys)
    assert code == 2 and "is the --input folder" in err and len(err.strip().splitlines()) == 1
    code, err = _cli(["--input", str(tmp_path / "nothing*.png"), "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and "no photos in the pattern" in err
    code, err = _cli(["--input", str(photos), "--output", str(tmp_path / "o"), "--reference", "x.png"], capsys)
    assert code == 2 and "--reference works with one photo" in err
    # without Ray installed, --ray says how to install it, in one line
    monkeypatch.setitem(sys.modules, "ray", None)
    code, err = _cli(["--input", str(photos), "--output", str(tmp_path / "o"), "--ray"], capsys)
    assert code == 2 and 'pip install "dip-studio[cluster]"' in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_writes_nothing_half_done_and_the_rerun_resumes(photos, tmp_path):
    out = tmp_path / "out"
    cfg = tiny_config("denoise", iterations=40, stop="never", **{k: v for k, v in TINY_QT.items()})
    opts = BatchOptions(cfg=cfg, inputs=str(photos), output=str(out), threads=1)

    def interrupt(ev):
        if ev["kind"] == "progress" and ev["job"] == 1 and ev["step"] > 1:
            raise KeyboardInterrupt
    stream = io.StringIO()
    assert Batch(opts, LocalExecutor(), on_event=interrupt, stream=stream).run() == 130
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["p0.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporary file left
    assert "interrupted" in stream.getvalue() and "run the same command again" in stream.getvalue()
    events = []
    assert Batch(opts, LocalExecutor(), on_event=events.append, stream=io.StringIO()).run() == 0
    status = {e["name"]: e["status"] for e in events if e["kind"] == "image"}
    assert status == {"p0.png": "skipped", "p1.png": "done", "p2.png": "done"}


def test_a_stop_request_ends_the_batch_as_interrupted(photos, tmp_path):
    ex = LocalExecutor()
    cfg = tiny_config("denoise", iterations=400, stop="never", **TINY_QT)
    opts = BatchOptions(cfg=cfg, inputs=str(photos), output=str(tmp_path / "o"), threads=1, quiet=True)

    def stop_soon(ev):
        if ev["kind"] == "progress" and ev["step"] > 1:
            ex.stop.set()
    b = Batch(opts, ex, on_event=stop_soon, stream=io.StringIO())
    assert b.run() == 130
    assert b.counts()["interrupted"] == 3 and not list((tmp_path / "o").glob("*.png"))


def test_a_failing_unit_fails_its_photo_only(photos, tmp_path, monkeypatch):
    import engine.executors as ex_mod

    real = ex_mod.unit_steps

    def flaky(cfg, wu, *a, **k):
        if wu.name == "p1.png":
            raise RuntimeError("device lost")
        return real(cfg, wu, *a, **k)
    monkeypatch.setattr(ex_mod, "unit_steps", flaky)
    cfg = tiny_config("denoise", iterations=5, stop="never", **TINY_QT)
    b = Batch(BatchOptions(cfg=cfg, inputs=str(photos), output=str(tmp_path / "o"), threads=1, quiet=True),
              LocalExecutor(), stream=io.StringIO())
    assert b.run() == 1
    assert [e.status for e in b.entries] == ["done", "failed", "done"]
    assert b.entries[1].reason == "RuntimeError: device lost"


def test_local_executor_streams_progress_then_the_result():
    img = _noisy(32, 32, 4)
    cfg = tiny_config("denoise", iterations=6, stop="never", **TINY_QT)
    plan = plan_job(cfg, img.shape[:2], 3, device="cpu")
    wu = WorkUnit(job=0, name="x", unit=plan.units[0], count=1, threads=1)
    events = list(LocalExecutor().execute([Task(wu, cfg.to_dict(), 0, (img, None, None, None))]))
    kinds = [e[0] for e in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"}
    assert events[-1][2].shape == img.shape and events[-2][1]["step"] == 6


@pytest.fixture
def float64():
    """Grouped and separate runs agree to ~1e-14 in float64 (tests/test_grouped.py says why)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_same_size_units_go_as_one_grouped_network_where_asked(photos, tmp_path, monkeypatch, float64):
    """On a GPU the local executor groups same-size units (engine/group.py); here forced on the
    CPU: one group of the three photos' units, the same results as one after the other."""
    import engine.group as group_mod

    sizes = []

    class Spy(group_mod.GroupRun):
        def __init__(self, cfgs, *a, **k):
            sizes.append(len(cfgs))
            super().__init__(cfgs, *a, **k)
    monkeypatch.setattr(group_mod, "GroupRun", Spy)
    cfg = tiny_config("denoise", iterations=10, stop="never", **TINY_QT)
    results = {}
    for key, group in (("grouped", 4), ("alone", 1)):
        events = []
        opts = BatchOptions(cfg=cfg, inputs=str(photos), output=str(tmp_path / key), threads=1, quiet=True)
        assert Batch(opts, LocalExecutor(group=group), on_event=events.append, stream=io.StringIO()).run() == 0
        assert {e["job"] for e in events if e["kind"] == "progress" and e["step"] == 10} == {0, 1, 2}
        results[key] = [load_image(tmp_path / key / f"p{i}.png").array for i in range(3)]
    assert sizes == [3]
    for a, b in zip(results["grouped"], results["alone"]):
        np.testing.assert_allclose(a, b, atol=1.01 / 255)


def test_small_photos_average_the_presets_seeds_per_photo(tmp_path, restore_torch_threads):
    """seeds 'auto' is decided per photo from its size: a small photo's unit runs AUTO_SEEDS
    seeds (side by side, with the unit's threads shared out), a larger one runs one."""
    from engine.seeds import AUTO_SEEDS, AUTO_SEEDS_MAX_PIXELS
    d = tmp_path / "in"
    d.mkdir()
    side = int(AUTO_SEEDS_MAX_PIXELS ** 0.5)
    _save(d / "small.png", _noisy(32, 40, 0))
    _save(d / "large.png", _noisy(side + 8, side + 8, 1))
    cfg = tiny_config("denoise", iterations=4, stop="never", seeds="auto", **TINY_QT)
    events = []
    opts = BatchOptions(cfg=cfg, inputs=str(d), output=str(tmp_path / "out"), threads=2, quiet=True)
    assert Batch(opts, LocalExecutor(), on_event=events.append, stream=io.StringIO()).run() == 0
    seeds = {}
    for e in events:
        if e["kind"] == "progress" and e["state"] == "running":
            seeds.setdefault(e["name"], set()).add(e["seed_index"])
    assert seeds == {"small.png": set(range(AUTO_SEEDS)), "large.png": {0}}
