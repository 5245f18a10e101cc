"""A folder's tiled photo keeps its finished units beside its result (engine/job_parts.py):
Ctrl-C mid-photo, and the same batch run again runs only the rest of that photo and writes
what an uninterrupted batch writes."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from engine.batch import Batch, BatchOptions
from engine.executors import LocalExecutor
from tests.helpers import TINY_QT, tiny_config
from tests.test_batch_lanes import _folder


@pytest.fixture
def two_threads(restore_torch_threads):
    torch.set_num_threads(2)


def _run(src, out, on_event=None):
    cfg = tiny_config("denoise", iterations=40, stop="never", **TINY_QT)
    b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(out), tile=64, quiet=True), LocalExecutor(),
              on_event=on_event, stream=io.StringIO())
    return b.run(), b


def test_ctrl_c_mid_photo_keeps_its_finished_units_and_the_next_run_goes_on_from_them(tmp_path, two_threads):
    src = _folder(tmp_path / "in", [(96, 120), (32, 32)])
    assert _run(src, tmp_path / "whole")[0] == 0

    done: list[int] = []

    def ctrl_c(ev):
        if ev["kind"] == "progress" and ev["job"] == 0 and ev["state"] == "done":
            done.append(ev["unit"])
            if len(done) == 2:
                raise KeyboardInterrupt
    out = tmp_path / "out"
    rc, b = _run(src, out, ctrl_c)
    assert rc == 130 and b.entries[0].status == "interrupted" and b.entries[0].units >= 4
    kept = sorted(int(p.stem[5:]) for p in (out / "p0.png.parts").glob("unit-*.json"))
    assert len(kept) >= 2 and set(done) <= set(kept) and not (out / "p0.png").exists()

    ran: set[int] = set()

    def watch(ev):
        if ev["kind"] == "progress" and ev["job"] == 0 and ev["state"] == "running":
            ran.add(ev["unit"])
    rc, b = _run(src, out, watch)
    assert rc == 0 and [e.status for e in b.entries] == ["done", "done"]
    assert ran and not ran & set(kept)                                 # the kept units did not run again
    assert not (out / "p0.png.parts").exists()
    for name in ("p0.png", "p1.png"):
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(tmp_path / "whole" / name)))


def test_the_batch_eta_counts_down_while_a_unit_runs(tmp_path, monkeypatch):
    """The ETA is the plan less what the running units have spent: it moves during a unit,
    not only when one ends."""
    import engine.units
    monkeypatch.setattr(engine.units, "PROGRESS_EVERY_S", 0.02)     # a report every few steps
    src = _folder(tmp_path / "in", [(48, 48)])
    etas: list[float] = []
    box = {}

    def watch(ev):
        if ev["kind"] == "progress" and ev["state"] == "running":
            etas.append(box["b"].eta())
    cfg = tiny_config("denoise", iterations=120, stop="never", preview_every=10, **TINY_QT)
    b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "out"), quiet=True), LocalExecutor(),
              on_event=watch, stream=io.StringIO())
    box["b"] = b
    assert b.run() == 0
    plan_s = sum(b._unit_walls(b.entries[0]))
    assert len(etas) >= 3 and etas[-1] < etas[0] <= plan_s
    assert all(later <= earlier for earlier, later in zip(etas, etas[1:]))


def test_a_skipped_photo_s_leftover_parts_go_and_nothing_else(tmp_path, two_threads):
    """A kill between writing a photo and removing its parts leaves them: the next batch skips
    the photo (its result is complete) and removes what the parts module wrote, nothing else."""
    src = _folder(tmp_path / "in", [(32, 32), (32, 40)])
    out = tmp_path / "out"
    assert _run(src, out)[0] == 0
    stale, foreign = out / "p0.png.parts", out / "p1.png.parts"
    for d in (stale, foreign):
        d.mkdir()
        (d / "job.json").write_text('{"format": 1, "digest": "x", "units": 4}')
        np.save(d / "unit-0002.npy", np.zeros((4, 4, 3), np.float32))
    (foreign / "notes.txt").write_text("mine")
    rc, b = _run(src, out)
    assert rc == 0 and [e.status for e in b.entries] == ["skipped", "skipped"]
    assert not stale.exists()
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
