"""The run worker and its controller: signals, pause/resume, stop, failures, continue."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMetaMethod, QObject, QThread

from app.controller import RunController
from app.worker import FORWARDED_SIGNALS, RunWorker
from engine import degrade
from engine.config import NetConfig
from engine.estimate import estimate_cost
from engine.nets import count_parameters
from engine.run import Restoration
from tests.helpers import TINY_QT as TINY, smooth_image, tiny_config
from tests.test_nets import kernels_on_this_thread



pytestmark = pytest.mark.usefixtures("restore_torch_threads")


def _cfg(task="denoise", **kw):
    base = dict(TINY, iterations=30, preview_every=5, snapshot_every=5, es_window=5, seed=1)
    base.update(kw)
    return tiny_config(task, **base)


class Recorder:
    """Collects everything a controller emits (in the GUI thread)."""

    def __init__(self, ctl: RunController):
        self.steps: list[np.ndarray] = []
        self.losses: list[np.ndarray] = []
        self.previews: list[tuple[int, np.ndarray, object]] = []
        self.progress: list[tuple[int, int, float]] = []
        self.psnr: list[tuple[int, dict]] = []
        self.snapshots: list[int] = []
        self.results: list[tuple[int, np.ndarray]] = []
        self.finished: list[str] = []
        self.failed: list[str] = []
        ctl.losses.connect(lambda s, v: (self.steps.append(s), self.losses.append(v)))
        ctl.preview.connect(lambda s, o, e: self.previews.append((s, o, e)))
        ctl.progress.connect(lambda *a: self.progress.append(a))
        ctl.psnr.connect(lambda s, d: self.psnr.append((s, d)))
        ctl.snapshot.connect(self.snapshots.append)
        ctl.result.connect(lambda s, a: self.results.append((s, a)))
        ctl.finished.connect(self.finished.append)
        ctl.failed.connect(self.failed.append)

    @property
    def all_steps(self) -> np.ndarray:
        return np.concatenate(self.steps) if self.steps else np.zeros(0, dtype=np.int64)


@pytest.fixture
def controller(qtbot):
    ctl = RunController()
    yield ctl
    assert ctl.shutdown(10_000)
    ctl.discard()


def test_short_run_emits_losses_previews_and_done(qtbot, controller):
    rec = Recorder(controller)
    img = smooth_image(32, 32)
    ref = np.clip(img + 0.01, 0, 1)
    with qtbot.waitSignal(controller.finished, timeout=60_000) as blocker:
        controller.start(_cfg(pick="ema"), img, reference=ref)
    assert blocker.args == ["done"]
    assert controller.state == "done" and controller.can_continue
    # every step reached the GUI exactly once, in order, as numpy arrays
    steps = rec.all_steps
    assert steps.tolist() == list(range(1, 31))
    losses = np.concatenate(rec.losses)
    assert losses.dtype == np.float64 and np.isfinite(losses).all()
    assert losses[-5:].mean() < losses[:5].mean()
    # previews are throttled but the final state always arrives
    assert rec.previews and rec.previews[-1][0] == 30
    step, out, ema = rec.previews[-1]
    assert isinstance(out, np.ndarray) and out.shape == (32, 32, 3) and out.dtype == np.float32
    assert isinstance(ema, np.ndarray)
    assert rec.progress[-1][:2] == (30, 30) and rec.progress[-1][2] > 0
    assert rec.psnr and set(rec.psnr[-1][1]) >= {"output", "ema", "input"}
    assert rec.snapshots and rec.snapshots[-1] == 30
    assert controller.history.steps[-1] == 30
    # the config's pick (here the EMA) comes back as the result
    assert rec.results and rec.results[-1][0] == 30
    np.testing.assert_allclose(rec.results[-1][1], ema, atol=1e-6)


def test_worker_builds_the_run_off_the_gui_thread(qtbot, controller):
    built_in: list[QThread] = []
    gui = QThread.currentThread()

    def factory():
        built_in.append(QThread.currentThread())
        return Restoration(_cfg(iterations=3), smooth_image(32, 32))

    with qtbot.waitSignal(controller.finished, timeout=60_000):
        controller.start_with(factory)
    assert built_in and built_in[0] is not gui


def test_pause_then_resume(qtbot, controller):
    rec = Recorder(controller)
    cfg = _cfg(iterations=2000)
    with qtbot.waitSignal(controller.ready, timeout=60_000):
        controller.start(cfg, smooth_image(32, 32))
    qtbot.waitUntil(lambda: len(rec.all_steps) > 0, timeout=30_000)
    controller.pause()
    assert controller.state == "paused"
    run = controller.run
    assert run.paused
    # the step in flight finishes (a tiny step takes milliseconds), then the loop stays put
    qtbot.wait(200)
    settled = run.step
    qtbot.wait(300)
    assert run.step == settled
    assert run.step < cfg.iterations
    controller.resume()
    assert controller.state == "running"
    qtbot.waitUntil(lambda: run.step > settled + 3, timeout=30_000)
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.stop()
    assert blocker.args == ["stopped"]


def test_stop_mid_run_ends_within_one_step(qtbot, controller):
    rec = Recorder(controller)
    cfg = _cfg(iterations=5000)
    with qtbot.waitSignal(controller.ready, timeout=60_000):
        controller.start(cfg, smooth_image(32, 32))
    run = controller.run
    qtbot.waitUntil(lambda: run.step >= 5, timeout=30_000)
    at_stop = run.step
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.stop()
        assert controller.state == "stopping"
    assert blocker.args == ["stopped"]
    assert controller.state == "stopped"
    assert run.step <= at_stop + 1
    # everything the run did reached the GUI, ending with the stop step
    assert rec.all_steps[-1] == run.step
    assert rec.previews[-1][0] == run.step
    # and the stop step is kept for scrubbing
    assert controller.history.steps[-1] == run.step
    assert rec.snapshots[-1] == run.step


def test_pause_while_building_holds_the_first_step(qtbot, controller):
    controller.start(_cfg(iterations=50), smooth_image(32, 32))
    controller.pause()
    with qtbot.waitSignal(controller.ready, timeout=60_000):
        pass
    run = controller.run
    qtbot.wait(300)
    assert run.step == 0 and controller.state == "paused"
    with qtbot.waitSignal(controller.finished, timeout=60_000) as blocker:
        controller.resume()
    assert blocker.args == ["done"] and run.step == 50


def test_stop_while_paused_releases_the_loop(qtbot, controller):
    with qtbot.waitSignal(controller.ready, timeout=60_000):
        controller.start(_cfg(iterations=5000), smooth_image(32, 32))
    run = controller.run
    qtbot.waitUntil(lambda: run.step >= 2, timeout=30_000)
    controller.pause()
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.stop()
    assert blocker.args == ["stopped"]


def test_continue_extends_the_same_run(qtbot, controller):
    rec = Recorder(controller)
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        controller.start(_cfg(iterations=10), smooth_image(32, 32))
    run = controller.run
    with qtbot.waitSignal(controller.finished, timeout=60_000) as blocker:
        controller.continue_run(7)
    assert blocker.args == ["done"]
    assert controller.run is run and run.step == 17
    assert rec.all_steps.tolist() == list(range(1, 18))


def test_continue_after_an_early_stop_runs_n_more_steps(qtbot, controller):
    with qtbot.waitSignal(controller.ready, timeout=60_000):
        controller.start(_cfg(iterations=100_000), smooth_image(32, 32))
    run = controller.run
    qtbot.waitUntil(lambda: run.step >= 2, timeout=30_000)
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        controller.stop()
    at = run.step
    with qtbot.waitSignal(controller.finished, timeout=60_000) as blocker:
        controller.continue_run(4)
    assert blocker.args == ["done"] and run.step == at + 4


def test_inpaint_without_mask_fails_with_the_engine_message(qtbot, controller):
    rec = Recorder(controller)
    with qtbot.waitSignal(controller.failed, timeout=60_000) as blocker:
        controller.start(_cfg("inpaint"), smooth_image(32, 32), mask=None)
    assert "mask" in blocker.args[0]
    assert not blocker.args[0].startswith("unexpected")
    assert controller.state == "failed" and not controller.can_continue
    assert rec.finished == []


def test_unexpected_errors_are_reported_not_raised(qtbot, caplog):
    def factory():
        raise ValueError("boom")

    worker = RunWorker(factory)
    with qtbot.waitSignal(worker.failed, timeout=5_000) as blocker:
        worker.start()   # direct call: the same code path, in this thread
    assert blocker.args[0].startswith("unexpected error") and "boom" in blocker.args[0]
    assert "Traceback" in caplog.text


def test_shutdown_mid_run_joins_the_thread(qtbot):
    ctl = RunController()
    with qtbot.waitSignal(ctl.ready, timeout=60_000):
        ctl.start(_cfg(iterations=100_000), smooth_image(32, 32))
    qtbot.waitUntil(lambda: ctl.run.step >= 2, timeout=30_000)
    assert ctl.shutdown(10_000)
    assert ctl.thread_finished()
    assert not ctl.active
    ctl.discard()


def test_a_discarded_run_sends_nothing_more(qtbot):
    ctl = RunController()
    rec = Recorder(ctl)
    with qtbot.waitSignal(ctl.ready, timeout=60_000):
        ctl.start(_cfg(iterations=100_000), smooth_image(32, 32))
    run = ctl.run
    qtbot.waitUntil(lambda: run.step >= 3, timeout=30_000)
    ctl.discard()        # joins the thread; its last batch is still queued for us
    assert ctl.state == "idle" and ctl.run is None
    counts = (len(rec.losses), len(rec.previews), len(rec.finished))
    qtbot.wait(200)
    assert (len(rec.losses), len(rec.previews), len(rec.finished)) == counts


def _signals(cls: type[QObject]) -> dict[str, bytes]:
    """name -> signature of the signals ``cls`` declares itself."""
    mo = cls.staticMetaObject
    out = {}
    for i in range(mo.methodOffset(), mo.methodCount()):
        m = mo.method(i)
        if m.methodType() == QMetaMethod.MethodType.Signal:
            out[m.name().data().decode()] = m.methodSignature().data()
    return out


def test_every_worker_signal_is_forwarded_as_the_same_signal():
    worker, controller = _signals(RunWorker), _signals(RunController)
    assert set(FORWARDED_SIGNALS) == set(worker)   # a new worker signal must be forwarded too
    for name in FORWARDED_SIGNALS:
        assert controller[name] == worker[name]


def test_a_replaced_workers_leftovers_do_not_reach_the_new_run(qtbot):
    ctl = RunController()
    with qtbot.waitSignal(ctl.finished, timeout=60_000):
        ctl.start(_cfg(iterations=3), smooth_image(32, 32))
    old = ctl._worker
    with qtbot.waitSignal(ctl.ready, timeout=60_000):
        ctl.start(_cfg(iterations=100_000), smooth_image(32, 32))
    rec = Recorder(ctl)
    summaries: list[object] = []
    ctl.summary.connect(summaries.append)
    # what the old worker could still have queued, delivered now (same thread: direct)
    old.losses.emit(np.array([1]), np.array([0.5]))
    old.psnr.emit(1, {"output": 1.0})
    old.summary.emit({"how": "rule"})
    old.finished.emit("done")
    old.failed.emit("stale failure")
    assert rec.losses == [] and rec.psnr == [] and rec.finished == [] and rec.failed == []
    assert summaries == [] and ctl.last_summary is None
    assert ctl.state == "running"
    # while the current worker's signals go through, with their side effects
    qtbot.waitUntil(lambda: len(rec.losses) > 0, timeout=30_000)
    with qtbot.waitSignal(ctl.finished, timeout=30_000) as blocker:
        ctl.stop()
    assert blocker.args == ["stopped"] and ctl.state == "stopped"
    assert summaries and ctl.last_summary is summaries[-1] and ctl.last_summary["how"] == "request"
    assert ctl.shutdown(10_000)
    ctl.discard()


def test_the_controller_leaves_torch_threads_alone(qtbot):
    torch.set_num_threads(2)   # more than one, so a pin to one would show (the fixture restores it)
    ctl = RunController()
    assert torch.get_num_threads() == 2
    assert ctl.threads == 2


def test_the_gui_thread_runs_no_torch_kernel(qtbot):
    """What the GUI thread does around a run (the controller's side of it, the parameter
    count, the cost estimate, a simulated degradation) runs no torch kernel: a kernel would
    give the GUI thread an OpenMP team of its own beside the worker's."""
    img = smooth_image(32, 32)
    cfg = _cfg(iterations=6)
    with kernels_on_this_thread() as ops:
        ctl = RunController()
        with qtbot.waitSignal(ctl.finished, timeout=60_000):
            ctl.start(cfg, img, reference=img)
        with qtbot.waitSignal(ctl.finished, timeout=60_000):
            ctl.continue_run(3)
        run = ctl.run
        assert ctl.shutdown(10_000)
        ctl.discard()
        count_parameters(NetConfig(), 32, 3)
        estimate_cost(cfg, 256, 256, "cpu")
        degrade.add_noise(img, 25, seed=1)
        degrade.drop_pixels(img, 0.5, seed=1)
        degrade.downscale(img, 2)
        degrade.jpeg(img, 20)
    assert run.step == 9   # the run itself did its kernels, in its own thread
    assert ops == []


def test_only_the_shown_live_image_is_converted_for_the_screen(qtbot, controller):
    keys: list[frozenset] = []
    controller.display.connect(lambda _s, images: keys.append(frozenset(images)))
    controller.set_show_ema(True)
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        controller.start(_cfg(iterations=30, preview_every=5), smooth_image(32, 32))
    live = [k for k in keys if k != {"result"}]
    assert live and all(k in ({"ema"}, {"output"}) for k in live)
    assert {"ema"} in live                              # once the run keeps a moving average
    controller.set_show_ema(False)
    keys.clear()
    with qtbot.waitSignal(controller.finished, timeout=30_000):
        controller.continue_run(10)
    assert [k for k in keys if k != {"result"}] and all(k in ({"output"}, {"result"}) for k in keys)
