"""A photo restored in tiles in the real window (issue 12, item 5), made tiny: a 96x128
image with tiles forced to 64 px (6 tiles) and the smallest net. The window shows the plan
before Run, asks before a run of over an hour, refuses what cannot run, fills the tiles in
place, keeps the finished tiles on stop (Save writes the whole photo, the input elsewhere),
continues with the rest, and keeps the tiled run in the run list and the project file."""
from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from app import job_plan
from app.main_window import MainWindow
from engine.imageio import load_image
from engine.tiling import LONG_PLAN_S
from tests.helpers import TINY_QT as TINY, smooth_image, tiny_config
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)
from tests.test_nets import kernels_on_this_thread

pytestmark = pytest.mark.usefixtures("restore_torch_threads")

H, W, TILE = 96, 128, 64


def _png(path: Path, h=H, w=W) -> Path:
    img = smooth_image(h, w)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.08, img.shape), 0, 1)
    Image.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _cfg(task="denoise", **kw):
    base = dict(TINY, iterations=12, preview_every=3, snapshot_every=6, es_window=5, seed=1, stop="never",
                pick="last")
    base.update(kw)
    return tiny_config(task, **base)


def _open_tiled(qtbot, w, tmp_path, cfg=None, tile=TILE, h=H, wd=W) -> None:
    assert w.open_path(str(_png(tmp_path / "photo.png", h, wd)))
    w.panel.set_config(cfg or _cfg())
    w.panel.set_tile(tile)
    qtbot.waitUntil(lambda: "tiles of" in w.panel.wall_time_label.text()
                    or "crop" in w.panel.wall_time_label.text(), timeout=5_000)


def _boxes(plan) -> list[tuple[int, int, int, int]]:
    return [(u.box.left, u.box.top, u.box.width, u.box.height) for u in plan.units]


def _spy_paint(w) -> list[tuple[int, int, int, int]]:
    painted = []
    original = w.canvas.paint_into_display

    def spy(left, top, image):
        painted.append((left, top, image.width(), image.height()))
        original(left, top, image)

    w.canvas.paint_into_display = spy
    return painted


def test_the_plan_is_shown_before_run_and_worked_out_once(qtbot, window, tmp_path):
    w = window
    _open_tiled(qtbot, w, tmp_path)
    plan = w.panel.plan()
    assert plan.mode == "tiles" and len(plan.units) == 6 and plan.tile == TILE
    text = w.panel.wall_time_label.text()
    assert text.startswith("Denoise 128x96: 6 tiles of 64 px") and text == plan.describe()[0].upper() + \
        plan.describe()[1:] + "."
    assert "per 64x64 tile" in w.panel.estimate_label.text()
    # cached: the same settings, size and mask do not plan again
    computed = w.panel.plans.computed
    w.panel._update_cost()
    w.panel._update_cost()
    assert w.panel.plans.computed == computed
    # off: one run of the whole image, the usual sentence
    w.panel.set_tile("off")
    qtbot.waitUntil(lambda: "tiles" not in w.panel.wall_time_label.text(), timeout=5_000)
    assert not w.panel.plan().tiled


@pytest.fixture
def one_lane():
    """One torch thread: the plan runs the tiles one after the other (on two threads two run
    side by side, engine/lanes.py), so which tile the plots follow last is fixed."""
    import torch

    torch.set_num_threads(1)


def test_a_tiled_run_fills_every_tile_in_place(qtbot, one_lane, window, tmp_path):
    w = window
    _open_tiled(qtbot, w, tmp_path)
    plan = w.panel.plan()
    painted = _spy_paint(w)
    live_sizes = []
    show_live = w.run_view.tiles.overlay.show_live

    def spy_live(box, image):
        live_sizes.append((box, image.width(), image.height()))
        show_live(box, image)

    w.run_view.tiles.overlay.show_live = spy_live
    with kernels_on_this_thread() as ops:
        with qtbot.waitSignal(w.controller.finished, timeout=120_000) as blocker:
            assert w.start_run()
        qtbot.wait(50)
    assert ops == []                        # the GUI thread ran no torch kernel
    assert blocker.args == ["done"]
    job = w.controller.run
    assert job.states == ["done"] * 6
    # every finished tile was painted in place, at its box; the previews were tile-sized
    assert sorted(painted) == sorted(_boxes(plan))
    assert live_sizes and all((wd, ht) == (bw, bh) for (_, _, bw, bh), wd, ht in live_sizes)
    assert w.run_view.tiles.overlay.grid.states == ["done"] * 6
    assert w.run_view.tiles.overlay.visible and not w.run_view.tiles.overlay.live.isVisible()
    # the result is the whole photo, every tile restored
    photo = w.doc.image
    res = w.result
    assert res.shape == (H, W, 3)
    np.testing.assert_array_equal(res, job.result())
    for u in plan.units:
        ys, xs = u.box.slices()
        assert np.abs(res[ys, xs] - photo[ys, xs]).mean() > 1e-3
    assert w.progress_bar.text().startswith("done: 6 tiles")
    assert w.plots.title.startswith("tile 6/6")
    assert len(w.plots.loss_data()[0]) == 12          # the last tile's curve, reset per tile
    assert not w.timeline.slider.isEnabled()          # no snapshots to scrub: none offered
    assert not w.show_snapshot(6) and not w.use_iterate(6)
    assert not w.act_continue.isEnabled()             # nothing left to continue
    # the run list keeps it like any other, and so does a project
    (rec,) = w.doc.runs.records
    assert rec.result is w.result and rec.result_kind == "tiles" and rec.steps == 6 * 12
    assert rec.stop_how == "limit" and "all 6 units done" in rec.stop_reason
    proj = tmp_path / "tiles.dipproj"
    assert w.save_project(str(proj))
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert w2.open_path(str(proj))
    (back,) = w2.doc.runs.records
    assert back.result_kind == "tiles" and np.abs(back.result - rec.result).max() <= 1 / 65535 + 1e-7
    assert w2.result is not None and len(w2.plots.loss_data()[0]) == 12
    w2.close()


def test_stop_keeps_finished_tiles_save_writes_them_and_continue_finishes(qtbot, window, tmp_path):
    w = window
    _open_tiled(qtbot, w, tmp_path, _cfg(iterations=60, preview_every=5))
    plan = w.panel.plan()
    photo = w.doc.image.copy()
    assert w.start_run()
    qtbot.waitUntil(lambda: w.run_view.tiles.last is not None, timeout=120_000)
    # pause holds the running tile; the progress says so
    w.toggle_pause()
    job = w.controller.run
    qtbot.wait(300)
    held = (job.done_units, job.run.step if job.run is not None else None)
    qtbot.wait(400)
    assert (job.done_units, job.run.step if job.run is not None else None) == held
    assert w.progress_bar.text().endswith("paused") and w.controller.state == "paused"
    w.toggle_pause()
    qtbot.waitUntil(lambda: w.controller.run is not None and w.controller.run.done_units >= 2, timeout=120_000)
    with qtbot.waitSignal(w.controller.finished, timeout=60_000) as blocker:
        w.stop_run()
    assert blocker.args == ["stopped"]
    job = w.controller.run
    done = [i for i, s in enumerate(job.states) if s == "done"]
    assert 2 <= len(done) < 6
    assert w.controller.last_summary["how"] == "request"
    running = [i for i, s in enumerate(job.states) if s == "running"]
    # each interrupted tile (two on a CPU's lanes) is kept as far as it got
    kept = "".join(f", tile {u.index + 1} kept at step {step}" for u, _, step in job.partial())
    assert [u.index for u, _, _ in job.partial()] == running
    assert w.progress_bar.text() == f"stopped: {len(done)} of 6 tiles done{kept}"
    # the half-done photo: finished tiles (and the interrupted one's best so far) in, the
    # input exactly elsewhere
    res = w.result
    finished = np.zeros((H, W), bool)
    for i in done + running:
        finished[plan.units[i].box.slices()] = True
    np.testing.assert_array_equal(res[~finished], photo[~finished])
    assert np.abs(res[finished] - photo[finished]).mean() > 1e-3
    out = tmp_path / "half.png"
    assert w.save_result(str(out))
    saved = load_image(str(out)).array
    assert saved.shape == (H, W, 3)
    np.testing.assert_array_equal(saved[~finished], photo[~finished])   # 8-bit in, 8-bit out
    (rec,) = w.doc.runs.records
    assert rec.stop_how == "request" and rec.result is res
    # continue: the interrupted tile, then the rest
    assert w.act_continue.isEnabled()
    with qtbot.waitSignal(w.controller.finished, timeout=180_000) as blocker:
        assert w.continue_run()
    assert blocker.args == ["done"]
    assert w.controller.run is job and job.states == ["done"] * 6
    for u in plan.units:
        ys, xs = u.box.slices()
        assert np.abs(w.result[ys, xs] - photo[ys, xs]).mean() > 1e-3
    (rec,) = w.doc.runs.records                       # the same entry, now whole
    assert rec.result is w.result and rec.stop_how == "limit" and rec.steps == 6 * 60


def _long(plan):
    return dataclasses.replace(plan, unit_seconds=tuple(LONG_PLAN_S for _ in plan.units))


def test_a_plan_over_an_hour_asks_first(qtbot, window, tmp_path, answers, monkeypatch):
    real = job_plan.plan_job
    monkeypatch.setattr(job_plan, "plan_job", lambda *a, **k: _long(real(*a, **k)))
    w = window
    _open_tiled(qtbot, w, tmp_path)
    assert "about 6 h" in w.panel.wall_time_label.text()
    answers.answer = QMessageBox.No
    assert not w.start_run()
    assert answers.questions and "6 tiles of 64 px" in answers.questions[-1]
    assert w.controller.state == "idle"
    answers.answer = QMessageBox.Yes
    with qtbot.waitSignal(w.controller.finished, timeout=120_000):
        assert w.start_run()
        w.stop_run()
    assert len(answers.questions) == 2


def test_a_plan_that_cannot_run_says_why_and_refuses(qtbot, window, tmp_path, answers, monkeypatch):
    real = job_plan.plan_job
    why = "even one 64 px tile needs more memory than this cpu has (1 GB): use a smaller tile"
    monkeypatch.setattr(job_plan, "plan_job", lambda *a, **k: dataclasses.replace(real(*a, **k), problem=why))
    w = window
    assert w.open_path(str(_png(tmp_path / "photo.png")))
    w.panel.set_config(_cfg())
    w.panel.set_tile(TILE)
    qtbot.waitUntil(lambda: "Cannot run" in w.panel.wall_time_label.text(), timeout=5_000)
    assert why in w.panel.wall_time_label.text()
    assert not w.start_run()
    assert answers.warnings and why in answers.warnings[-1]
    assert w.controller.state == "idle"


def test_inpainting_a_wide_photo_runs_crops_around_the_mask(qtbot, window, tmp_path):
    """Past 800 px an inpainting job works in crops around the mask, shown as outlines;
    every known pixel of the photo comes back bit for bit."""
    w = window
    assert w.open_path(str(_png(tmp_path / "wide.png", 96, 832)))
    w.panel.set_config(_cfg("inpaint", iterations=9))
    known = np.ones((96, 832), bool)
    known[40:56, 400:420] = False
    w.doc.mask.set_from_known(known)
    w.panel.set_tile(TILE)
    qtbot.waitUntil(lambda: "crop" in w.panel.wall_time_label.text(), timeout=5_000)
    plan = w.panel.plan()
    assert plan.mode == "crops" and len(plan.crops) == 1 and 1 <= len(plan.units) < 12
    photo = w.doc.image.copy()
    with qtbot.waitSignal(w.controller.finished, timeout=120_000):
        assert w.start_run()
    grid = w.run_view.tiles.overlay.grid
    c = plan.crops[0]
    assert grid.crops == [(c.left, c.top, c.width, c.height)]
    assert grid.states == ["done"] * len(plan.units)
    np.testing.assert_array_equal(w.result[known], photo[known])
    assert np.abs(w.result[~known] - photo[~known]).mean() > 1e-3


def test_a_stop_right_after_a_tile_ends_still_continues_with_the_rest(qtbot):
    """The worker's loop, run here: a stop that lands just as a tile finishes ends the job
    after that tile's bookkeeping, so a Continue runs the remaining tiles (closing the job
    right there used to leave it unable to continue)."""
    from app.worker import RunWorker
    from engine.job import TiledRestoration
    from engine.tiling import plan_job

    cfg = _cfg()
    img = smooth_image(H, W)
    job = TiledRestoration(cfg, plan_job(cfg, (H, W), 3, device="cpu", tile=TILE), img)
    worker = RunWorker(job)
    ends, kinds = [], []
    worker.finished.connect(ends.append)

    def on_tile(_box, _image, kind):
        kinds.append(kind)
        if kind == "done" and kinds.count("done") == 1:
            worker.request_stop()       # in the loop's thread, right after the tile's last record

    worker.tile_image.connect(on_tile)
    worker.start()
    # the tile in the other lane (a CPU runs two side by side) may have ended in that step too
    assert ends == ["stopped"] and 1 <= job.states.count("done") < 6
    worker.start()                      # Continue
    assert ends == ["stopped", "done"] and job.states == ["done"] * 6
    job.close()


def test_super_resolution_in_tiles_is_shown_at_the_result_size(qtbot, window, tmp_path):
    """Units of a super-resolution job are low-resolution tiles; the canvas shows the
    upscaled input at the result's size first and paints each tile at its place there."""
    w = window
    _open_tiled(qtbot, w, tmp_path, _cfg("superres", scale=2, iterations=6))
    plan = w.panel.plan()
    assert plan.factor == 2 and len(plan.units) == 6
    painted = _spy_paint(w)
    with qtbot.waitSignal(w.controller.finished, timeout=180_000):
        assert w.start_run()
    assert w.result.shape == (2 * H, 2 * W, 3)
    assert w.canvas.display_scale == 2 and w.canvas.image_size == (2 * W, 2 * H)
    assert sorted(painted) == sorted((2 * x, 2 * y, 2 * bw, 2 * bh) for x, y, bw, bh in _boxes(plan))


def test_tiles_stepped_side_by_side_as_one_group_fill_in_too(qtbot, window, tmp_path, monkeypatch):
    """On a GPU a job steps same-size tiles as one grouped network, their records side by
    side: the window follows one tile's curve at a time and paints every tile as it ends."""
    from app import controller as controller_module
    from engine.job import TiledRestoration

    groups = []

    class Grouped(TiledRestoration):
        def __init__(self, *a, **k):
            super().__init__(*a, group=3, **k)

        def _start_group(self, batch):
            groups.append(list(batch))
            super()._start_group(batch)

    monkeypatch.setattr(controller_module, "TiledRestoration", Grouped)
    monkeypatch.setattr("engine.group.fits_group", lambda *a, **k: 3)
    w = window
    _open_tiled(qtbot, w, tmp_path)
    plan = w.panel.plan()
    painted = _spy_paint(w)
    resets = []
    reset = w.plots.reset
    monkeypatch.setattr(w.plots, "reset", lambda *a, **k: (resets.append(1), reset(*a, **k)))
    with qtbot.waitSignal(w.controller.finished, timeout=120_000):
        assert w.start_run()
    job = w.controller.run
    assert isinstance(job, Grouped) and job.states == ["done"] * 6
    assert groups == [[0, 1, 2], [3, 4, 5]]  # two groups of three, stepped side by side
    assert sorted(painted) == sorted(_boxes(plan))
    assert len(resets) <= 6                 # one curve per watched tile, not one per record
    steps = w.plots.loss_data()[0]
    assert len(steps) and np.all(np.diff(steps) > 0)   # one tile's steps, in order
    np.testing.assert_array_equal(w.result, job.result())


def test_stop_keeps_a_crops_best_so_far_and_save_writes_it(qtbot, window, tmp_path):
    """Issue 22: one crop around a scratch, stopped mid-way, used to say "0 of 1 crop tiles
    done" and Save wrote the input. The crop's best so far is the result; Continue goes on."""
    w = window
    assert w.open_path(str(_png(tmp_path / "wide.png", 64, 832)))
    w.panel.set_config(_cfg("inpaint", iterations=400, preview_every=5))
    known = np.ones((64, 832), bool)
    known[24:36, 400:420] = False
    w.doc.mask.set_from_known(known)
    qtbot.waitUntil(lambda: "crop" in w.panel.wall_time_label.text(), timeout=5_000)
    plan = w.panel.plan()
    assert plan.mode == "crops" and len(plan.units) == 1
    photo = w.doc.image.copy()
    assert w.start_run()
    qtbot.waitUntil(lambda: w.controller.run is not None and w.controller.run.run is not None
                    and w.controller.run.run.step >= 30, timeout=120_000)
    with qtbot.waitSignal(w.controller.finished, timeout=60_000):
        w.stop_run()
    job = w.controller.run
    step = job.run.step
    assert w.progress_bar.text() == f"stopped: 0 of 1 crop tiles done, crop tile 1 kept at step {step}"
    assert "best so far" in w.statusBar().currentMessage()
    np.testing.assert_array_equal(w.result[known], photo[known])
    assert np.abs(w.result[~known] - photo[~known]).mean() > 1e-2
    out = tmp_path / "stopped.png"
    assert w.save_result(str(out))
    assert not np.array_equal(load_image(str(out)).array, load_image(str(tmp_path / "wide.png")).array)
    assert w.act_continue.isEnabled()
    with qtbot.waitSignal(w.controller.finished, timeout=120_000) as blocker:
        assert w.continue_run()
        qtbot.waitUntil(lambda: job.run is not None and job.run.step > step, timeout=60_000)
        w.stop_run()
    assert blocker.args == ["stopped"] and job.run.step > step     # went on from the same run
