"""The app keeps a tiled run's finished tiles on disk as each ends (app.settings_store
.tile_parts_directory, engine/job_parts.py): after a crash, the same photo run again with the
same settings goes on from them and says so; a finished job and a clean close leave nothing
behind."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from app.settings_store import tile_parts_directory
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)
from tests.test_app_tiles import _cfg, _open_tiled, _spy_paint

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def _kept_on_disk() -> list[int]:
    return sorted(int(p.stem[5:]) for p in tile_parts_directory().glob("unit-*.json"))


def test_a_run_again_after_a_crash_goes_on_from_the_tiles_kept_on_disk(qtbot, window, tmp_path):
    w = window
    _open_tiled(qtbot, w, tmp_path, _cfg(iterations=60, preview_every=5))
    photo = w.doc.image.copy()
    plan = w.panel.plan()
    assert w.start_run()
    qtbot.waitUntil(lambda: w.controller.run is not None and w.controller.run.done_units >= 2, timeout=120_000)
    with qtbot.waitSignal(w.controller.finished, timeout=60_000):
        w.stop_run()
    done = [i for i, s in enumerate(w.controller.run.states) if s == "done"]
    assert _kept_on_disk() == done                   # each on disk as it ended
    # a crash now loses the window and its job, not the tiles: the same photo and settings
    # run again (not Continue: a new job) go on from them
    w.controller.discard(10_000)
    seen: set[int] = set()
    w.controller.unit.connect(lambda info: seen.add(info["index"]))
    statuses: list[str] = []
    real_status = w.ui.status
    w.ui.status = lambda text, *a: (statuses.append(text), real_status(text, *a))
    painted = _spy_paint(w)
    with qtbot.waitSignal(w.controller.finished, timeout=180_000) as blocker:
        assert w.start_run()
    assert blocker.args == ["done"]
    for i in done:                                    # the kept tiles are shown filled in at once
        b = plan.units[i].box
        assert (b.left, b.top, b.width, b.height) in painted
    job = w.controller.run
    assert job.kept_units == len(done) and job.states == ["done"] * 6
    assert not seen & set(done)                       # the kept tiles did not run again
    assert any(f"{len(done)} of 6 tiles" in s for s in statuses)
    for u in plan.units:                              # every tile restored
        ys, xs = u.box.slices()
        assert np.abs(w.result[ys, xs] - photo[ys, xs]).mean() > 1e-3
    assert not tile_parts_directory().exists() or not _kept_on_disk()   # finished: nothing kept


def test_a_clean_close_leaves_no_tiles_behind(qtbot, window, answers, tmp_path):
    w = window
    _open_tiled(qtbot, w, tmp_path, _cfg(iterations=40, preview_every=5))
    assert w.start_run()
    qtbot.waitUntil(lambda: w.controller.run is not None and w.controller.run.done_units >= 1, timeout=120_000)
    with qtbot.waitSignal(w.controller.finished, timeout=60_000):
        w.stop_run()
    assert _kept_on_disk()
    answers.answer = QMessageBox.Discard           # the unsaved result: let it go
    assert w.close()
    assert not tile_parts_directory().exists()
