"""The run's loops feed a sink (app/feed.py): the throttled feed, the controls passed on to the
runs they drive, and the tiled and seeds loops driven with a plain recorder and controls, no
RunWorker and no thread."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from types import SimpleNamespace

import numpy as np
import pytest

from app.feed import WorkerControls, Throttle
from app.seed_worker import FINAL, average_seeds, other_seeds
from app.tile_worker import TILED_STEP, iterate_tiled
from app.worker import FORWARDED_SIGNALS
from engine.control import Controls
from engine.job import TiledRestoration
from engine.run import Restoration
from engine.tiling import plan_job
from tests.helpers import TINY_QT, smooth_image, tiny_config

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


class _Line:
    def __init__(self, calls: list, name: str):
        self.calls, self.name = calls, name

    def emit(self, *args) -> None:
        self.calls.append((self.name, args))


class Recorder:
    """A sink without Qt: every signal a list of what was emitted, in order."""

    def __init__(self, show_ema: bool = False):
        self.calls: list[tuple[str, tuple]] = []
        self.show_ema = show_ema
        for name in FORWARDED_SIGNALS:
            setattr(self, name, _Line(self.calls, name))

    def of(self, name: str) -> list[tuple]:
        return [a for n, a in self.calls if n == name]


def _rec(step, loss=1.0, suggested=None, psnr=None, elapsed=None):
    return SimpleNamespace(step=step, loss=loss, suggested=suggested, psnr=psnr,
                           elapsed=step * 0.01 if elapsed is None else elapsed)


def test_the_feed_batches_and_sends_each_suggestion_once():
    from app.feed import Feed

    sink = Recorder()
    feed = Feed(sink, fresh=True)
    kinds = iter(["output", "output", "ema"])
    for s in range(1, 6):
        sug = (3, 0.5) if s >= 3 else None
        feed.record(_rec(s, loss=-float(s), suggested=sug, psnr={"output": 20.0 + s} if s == 2 else None),
                    lambda: next(kinds))
    feed.snapshot_at(5)
    assert sink.calls == []                      # nothing goes out per step
    feed.flush()
    (steps, losses), = sink.of("losses")
    assert steps.tolist() == [1, 2, 3, 4, 5] and losses.tolist() == [-1, -2, -3, -4, -5]
    assert sink.of("psnr") == [(2, {"output": 22.0})]
    # steps 3 and 4 suggest the same iterate of the same image: one signal; step 5's is the EMA
    assert sink.of("suggested") == [(3, 0.5, "ema")] and feed.best == 3
    assert sink.of("snapshot") == [(5,)]
    feed.flush()
    assert len(sink.of("losses")) == 1           # an empty batch is not sent
    assert feed.measure(_rec(10, elapsed=2.0)) == pytest.approx(5.0)   # fresh: steps / elapsed
    assert feed.measure(_rec(20, elapsed=3.0)) == pytest.approx(0.6 * 5 + 0.4 * 10)


def test_the_newest_preview_wins_and_only_the_shown_one_is_converted():
    from app.feed import Feed

    sink = Recorder(show_ema=True)
    feed = Feed(sink)
    out, ema = np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32)
    feed.hold((1, out, None))
    feed.hold((2, out, ema))
    assert feed.due_preview(feed.previews.last + 0.01) is None       # not due yet: still held
    item = feed.due_preview(feed.previews.last + 1.0)
    assert item[0] == 2 and feed.take_preview() is None
    feed.send_preview(*item)
    (step, shown), = sink.of("display")
    assert step == 2 and list(shown) == ["ema"] and shown["ema"].width() == 4
    sink.show_ema = False
    feed.send_preview(3, out, ema)
    assert list(sink.of("display")[-1][1]) == ["output"]


def test_throttle():
    t = Throttle(0.5)
    t0 = t.last
    assert not t.due(t0 + 0.1) and t.due(t0 + 0.6) and not t.due(t0 + 0.7)
    assert t.due(t0 + 0.7, force=True) and t.last == t0 + 0.7


class Child(Controls):
    def __init__(self):
        self._init_controls()


def test_controls_reach_the_runs_attached_and_a_paused_one_starts_paused():
    c = WorkerControls()
    first = Child()
    c.attach(first)
    c.pause()
    assert first.paused
    late = Child()
    c.attach(late)                                # built while paused
    assert late.paused
    c.resume()
    assert not first.paused and not late.paused
    c.detach(late)
    c.pause()
    assert first.paused and not late.paused
    c.request_stop()                              # releases the pause, reaches the runs
    assert c.stop_requested and first._stop.is_set() and not first.paused and not c.paused
    c.rearm()
    assert not c.stop_requested


def _tiled_job():
    cfg = tiny_config("denoise", **dict(TINY_QT, iterations=6, preview_every=2, snapshot_every=6, es_window=5,
                                         seed=1, stop="never", pick="last"))
    img = smooth_image(96, 128)
    return TiledRestoration(cfg, plan_job(cfg, (96, 128), 3, device="cpu", tile=64), img)


def test_the_tiled_loop_feeds_a_plain_sink_and_obeys_the_controls(qtbot):
    job = _tiled_job()
    n = len(job.plan.units)
    assert n > 1
    sink, stop = Recorder(), WorkerControls()
    stop.attach(job)
    tiles = sink.tile_image

    def emit(box, image, kind):
        tiles.emit(box, image, kind)
        if kind == "done" and [a[2] for a in sink.of("tile_image")].count("done") == 1:
            stop.request_stop()                   # right after the first tile's last record

    sink.tile_image = SimpleNamespace(emit=emit)
    iterate_tiled(sink, stop, job)
    # (the tile in the other lane, two side by side on a CPU, may have ended in that step too)
    assert sink.of("finished") == [("stopped",)] and 1 <= job.states.count("done") < n
    assert not stop.stop_requested                # re-armed for a Continue
    (step, result), = sink.of("result")
    assert step == TILED_STEP and result.shape == (96, 128, 3)
    losses = sink.of("losses")
    assert losses and all(np.all(np.diff(s) > 0) for s, _ in losses)   # a batch never mixes two tiles
    assert sink.of("summary")[0][0]["how"] == "request"
    iterate_tiled(sink, stop, job)                # Continue: the rest of the tiles
    assert sink.of("finished")[-1] == ("done",) and job.states == ["done"] * n
    job.close()


def test_in_lanes_each_watched_tile_is_followed_from_its_first_step(qtbot, restore_torch_threads, monkeypatch):
    """When the watched tile ends while a tile is still to start, the next one watched is the
    tile its lane starts next, from its first step, not the other lane's tile halfway through
    its run (its curve would start mid-run)."""
    import time as _time

    import torch

    torch.set_num_threads(2)
    job = _tiled_job()
    n = len(job.plan.units)
    assert job.lanes == 2 and n >= 4
    unit_run = TiledRestoration._unit_run

    def staged(self, i):
        if i == 2:
            _time.sleep(0.3)                      # the freed lane's next tile takes a while to start
        run = unit_run(self, i)
        if i == 1:                                # the other lane lags: tile 0 is watched and ends first
            steps = run.steps

            def lagging():
                _time.sleep(0.02)
                for rec in steps():
                    yield rec
                    _time.sleep(0.03)
            run.steps = lagging
        return run

    monkeypatch.setattr(TiledRestoration, "_unit_run", staged)
    sink, stop = Recorder(), WorkerControls()
    stop.attach(job)
    iterate_tiled(sink, stop, job)
    assert sink.of("finished")[-1] == ("done",) and job.states == ["done"] * n
    shown, starts = None, []
    for (info,) in sink.of("unit"):
        if info["index"] != shown:
            shown = info["index"]
            starts.append((shown, info["step"], "queued" in info["states"]))
    assert starts[0][:2] == (0, 1)
    assert len(starts) >= 3 and all(step == 1 for _, step, queued in starts if queued), starts
    job.close()


def test_the_seeds_loop_feeds_a_plain_sink_and_a_stop_keeps_the_first_pick(qtbot):
    cfg = tiny_config("denoise", **dict(TINY_QT, iterations=4, preview_every=2, es_window=5, seed=1,
                                         stop="never", pick="last", seeds=3))
    img = smooth_image(32, 32)
    make = other_seeds(cfg, img)
    assert make is not None and other_seeds(cfg.replace(seeds=1), img) is None
    first = Restoration(cfg, img)
    for _ in first.steps():
        pass
    pick = first.result("last")
    sink, stop = Recorder(), WorkerControls()
    mean, count = average_seeds(sink, stop, pick, make, "last")
    assert count == 3 and sink.of("seeds")[0] == (1, 3, 0) and sink.of("seeds")[-1] == (3, 3, FINAL)
    assert not np.array_equal(mean, pick)
    stop.request_stop()
    sink2 = Recorder()
    kept, count = average_seeds(sink2, stop, pick, make, "last")
    assert count == 1 and kept is pick and sink2.of("seeds")[-1] == (1, 1, FINAL)
    first.close()
