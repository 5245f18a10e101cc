"""A folder's units side by side on a CPU (engine/executors.py LocalExecutor in lanes,
engine/lanes.py): without --threads, on 2 torch threads, two units step at once, one torch
thread each, and give the pixels of the same units run one at a time on one thread;
--threads N keeps one unit at a time; a unit of several seeds runs alone; a stop keeps what
finished and leaves no lane running; a unit that raises fails its photo only; the plan and
the ETA price a unit in a lane at its share of the wall time."""
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.executors as ex_mod
from engine.batch import Batch, BatchOptions
from engine.executors import LocalExecutor, Task
from engine.imageio import load_image
from engine.lanes import lane_cost
from engine.tiling import plan_job
from engine.units import WorkUnit, run_unit
from tests.helpers import TINY_QT, smooth_image, tiny_config

MEET_S = 5.0        # how long the first unit waits for a second to be in flight beside it


def _save(path: Path, a: np.ndarray) -> None:
    Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8).squeeze()).save(path)


def _noisy(h, w, seed):
    rng = np.random.default_rng(seed)
    return np.clip(smooth_image(h, w, seed=seed) + rng.normal(0, 0.08, (h, w, 3)), 0, 1).astype(np.float32)


def _folder(d: Path, sizes) -> Path:
    d.mkdir()
    for i, (h, w) in enumerate(sizes):
        _save(d / f"p{i}.png", _noisy(h, w, i))
    return d


@pytest.fixture
def two_threads(restore_torch_threads):
    torch.set_num_threads(2)


@pytest.fixture
def photos(tmp_path):
    return _folder(tmp_path / "in", [(32, 40), (40, 32), (32, 32), (48, 40)])


def _lane_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("lane-")]


class Watch:
    """The executor's unit_steps, watched: which units step at once, with how many threads,
    and what each reported. ``meet``: the first unit waits (at most MEET_S) for a second to
    begin beside it, so that lanes are seen at once however the machine is loaded (one at a
    time, it waits in vain and steps alone). ``fail``: that photo's unit raises after its
    first progress event."""

    def __init__(self, monkeypatch, meet: bool = False, fail: str | None = None):
        self.cond = threading.Condition()
        self.active: set[str] = set()
        self.peak = 0
        self.met = not meet
        self.threads: dict[str, int] = {}
        self.beside: dict[str, set[str]] = {}      # unit -> every unit seen in flight with it
        self.infos: list[dict] = []
        real = ex_mod.unit_steps

        def watched(cfg, wu, *a, **k):
            key = wu.label
            with self.cond:
                self.active.add(key)
                self.peak = max(self.peak, len(self.active))
                self.threads[key] = wu.threads
                for other in self.active:
                    self.beside.setdefault(other, set()).update(self.active)
                self.cond.notify_all()
                if not self.met:
                    self.cond.wait_for(lambda: len(self.active) >= 2, timeout=MEET_S)
                    self.met = True
            try:
                gen = real(cfg, wu, *a, **k)
                if wu.name == fail:
                    yield next(gen)
                    gen.close()
                    raise RuntimeError("device lost")
                out = yield from gen
                self.infos.append(out[1])
                return out
            finally:
                with self.cond:
                    self.active.discard(key)
        monkeypatch.setattr(ex_mod, "unit_steps", watched)


def _batch(src, out, events=None, executor=None, cfg=None, **kw):
    cfg = cfg or tiny_config("denoise", iterations=12, stop="never", **TINY_QT)
    kw.setdefault("quiet", True)
    opts = BatchOptions(cfg=cfg, inputs=str(src), output=str(out), **kw)
    return Batch(opts, executor or LocalExecutor(), on_event=(events.append if events is not None else None),
                 stream=io.StringIO())


def test_a_folder_runs_in_two_lanes_of_one_thread_each(photos, tmp_path, two_threads, monkeypatch):
    watch = Watch(monkeypatch, meet=True)
    events: list[dict] = []
    metrics = tmp_path / "m.jsonl"
    b = _batch(photos, tmp_path / "out", events, metrics=str(metrics))
    assert b.run() == 0
    assert watch.peak == 2                                   # two units in flight at once
    assert len(watch.infos) == 4 and all(i["threads"] == 1 for i in watch.infos)
    assert set(watch.threads.values()) == {1}
    assert [e.status for e in b.entries] == ["done"] * 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}.png" for i in range(4)]
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert all(x["threads_per_unit"] == 1 and x["lanes"] == 2 for x in lines)
    assert all(u["threads"] == 1 and u["lane_seconds"] == pytest.approx(2 * u["seconds"])
               for x in lines for u in x["plan"]["per_unit"])
    plan = next(e for e in events if e["kind"] == "plan")
    assert plan["lanes"] == 2
    assert torch.get_num_threads() == 2 and not _lane_threads()


def test_lanes_give_the_pixels_of_one_unit_at_a_time_on_one_thread(tmp_path, two_threads):
    # the second photo in 4 tiles: its units come back in any order and are blended in order
    src = _folder(tmp_path / "in", [(32, 40), (80, 96), (40, 32)])
    cfg = tiny_config("denoise", iterations=10, stop="never", **TINY_QT)
    lanes = {}
    for key, threads in (("lanes", None), ("one", 1)):
        b = _batch(src, tmp_path / key, cfg=cfg, threads=threads, tile=64)
        assert b.run() == 0
        lanes[key] = [e.lanes for e in b.entries]
    assert lanes == {"lanes": [2, 2, 2], "one": [1, 1, 1]}
    for name in ("p0.png", "p1.png", "p2.png"):
        np.testing.assert_array_equal(load_image(tmp_path / "lanes" / name).array,
                                      load_image(tmp_path / "one" / name).array)
    # and before any rounding: each unit in a lane is the same unit alone through run_unit
    images = [_noisy(32, 40, 7), _noisy(40, 32, 8), _noisy(32, 32, 9)]
    tasks, alone = [], {}
    for k, img in enumerate(images):
        plan = plan_job(cfg, img.shape[:2], 3, device="cpu", lanes=False)
        wu = WorkUnit(job=k, name=f"x{k}", unit=plan.units[0], count=1, threads=1)
        tasks.append(Task(wu, cfg.to_dict(), k, (img, None, None, None), lanes=2))
        alone[k] = run_unit(cfg.to_dict(), wu, img)[0]
    done = [ev for ev in LocalExecutor().execute(tasks) if ev[0] == "done"]
    assert sorted(ev[1].key for ev in done) == [0, 1, 2]
    assert all("lane_seconds" in ev[3] and ev[3]["threads"] == 1 for ev in done)
    for _, t, result, _ in done:
        np.testing.assert_array_equal(result, alone[t.key])
    assert torch.get_num_threads() == 2


def test_explicit_threads_keep_one_unit_at_a_time(tmp_path, two_threads, monkeypatch):
    src = _folder(tmp_path / "in", [(32, 40), (40, 32)])
    watch = Watch(monkeypatch)
    events: list[dict] = []
    cfg = tiny_config("denoise", iterations=6, stop="never", **TINY_QT)
    b = _batch(src, tmp_path / "out", events, cfg=cfg, threads=2, quiet=False)
    assert b.run() == 0
    assert watch.peak == 1 and set(watch.threads.values()) == {2} and len(watch.infos) == 2
    assert all("lane_seconds" not in i and i["threads"] == 2 for i in watch.infos)
    assert b.lanes == 1 and next(e for e in events if e["kind"] == "plan")["lanes"] == 1
    assert "2 threads per unit" in b.stream.getvalue()


def test_a_unit_of_several_seeds_runs_alone_between_the_lanes(tmp_path, two_threads, monkeypatch):
    from engine.seeds import AUTO_SEEDS, AUTO_SEEDS_MAX_PIXELS

    side = int(AUTO_SEEDS_MAX_PIXELS ** 0.5) + 8                 # one seed each
    src = _folder(tmp_path / "in", [(side, side), (side, side), (32, 32), (side, side)])
    watch = Watch(monkeypatch)
    cfg = tiny_config("denoise", iterations=4, stop="never", seeds="auto", **TINY_QT)
    b = _batch(src, tmp_path / "out", cfg=cfg)
    assert b.run() == 0
    assert [e.plan.runs for e in b.entries] == [1, 1, AUTO_SEEDS, 1]
    assert [e.lanes for e in b.entries] == [2, 2, 1, 2]
    seeds = "p2.png unit 1/1"
    assert watch.threads[seeds] == 2 and watch.beside[seeds] == {seeds}     # all the threads, alone
    assert all(v == 1 for k, v in watch.threads.items() if k != seeds)
    assert not _lane_threads()


def test_a_stop_keeps_what_finished_and_leaves_no_lane_running(tmp_path, two_threads):
    # the first photo is the smallest: it ends while the second is still stepping
    src = _folder(tmp_path / "in", [(32, 32), (64, 64), (64, 64), (64, 64)])
    cfg = tiny_config("denoise", iterations=400, stop="never", **TINY_QT)
    ex = LocalExecutor()
    progress: dict[int, int] = {}

    def stop_after_the_first(ev):
        if ev["kind"] == "progress" and ev["state"] == "running":
            progress[ev["job"]] = ev["step"]
        if ev["kind"] == "image" and ev["status"] == "done":
            assert progress.get(1, 0) >= 1                       # the other lane was under way
            ex.stop.set()
    b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "out"), quiet=True), ex,
              on_event=stop_after_the_first, stream=io.StringIO())
    assert b.run() == 130
    assert [e.status for e in b.entries] == ["done", "interrupted", "interrupted", "interrupted"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png"]     # kept, nothing half-written
    assert 2 not in progress and 3 not in progress                                 # never begun
    assert not _lane_threads() and torch.get_num_threads() == 2
    # Ctrl-C (a KeyboardInterrupt in the caller's thread) closes the stream: the lanes end too
    def interrupt(ev):
        if ev["kind"] == "progress" and ev["job"] == 1 and ev["step"] > 1:
            raise KeyboardInterrupt
    b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "out"), quiet=True), LocalExecutor(),
              on_event=interrupt, stream=io.StringIO())
    assert b.run() == 130
    assert [e.status for e in b.entries] == ["skipped", "interrupted", "interrupted", "interrupted"]
    assert not _lane_threads() and torch.get_num_threads() == 2


def test_a_photo_that_ended_as_ctrl_c_came_is_written_not_redone(tmp_path, two_threads, monkeypatch):
    """Ctrl-C while a lane's finished unit waits, unread, behind the record being handled: the
    photo is written (it used to be marked interrupted and redone on the next run)."""
    src = _folder(tmp_path / "in", [(32, 32), (192, 192), (32, 32)])     # the second is still stepping
    cfg = tiny_config("denoise", iterations=300, stop="never", **TINY_QT)
    ended, handing_over = threading.Event(), threading.Event()
    real = ex_mod.unit_steps

    def first_photo_slow_to_hand_over(cfg, wu, *a, **k):
        out = yield from real(cfg, wu, *a, **k)
        if wu.job == 0:
            ended.set()
            time.sleep(1.5)         # the other lane reports meanwhile (every 0.5 s)
            handing_over.set()
        return out
    monkeypatch.setattr(ex_mod, "unit_steps", first_photo_slow_to_hand_over)
    events: list[dict] = []

    def ctrl_c(ev):
        events.append(ev)
        if ev["kind"] == "progress" and ev["job"] == 1 and ended.is_set() and not handing_over.is_set():
            assert handing_over.wait(10)
            time.sleep(0.3)         # photo 0's result is queued now, behind this record
            raise KeyboardInterrupt
    b = Batch(BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "out"), quiet=True), LocalExecutor(),
              on_event=ctrl_c, stream=io.StringIO())
    assert b.run() == 130
    assert any(ev["kind"] == "progress" and ev["job"] == 1 and ev["state"] == "running" for ev in events)
    assert [e.status for e in b.entries] == ["done", "interrupted", "interrupted"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png"]     # kept, not redone
    assert not _lane_threads() and torch.get_num_threads() == 2


def test_closing_the_stream_early_ends_and_joins_the_lanes(two_threads):
    cfg = tiny_config("denoise", iterations=100000, stop="never", **TINY_QT)
    tasks = []
    for k in range(4):
        img = _noisy(32, 32, k)
        plan = plan_job(cfg, img.shape[:2], 3, device="cpu", lanes=False)
        wu = WorkUnit(job=k, name=f"x{k}", unit=plan.units[0], count=1, threads=1)
        tasks.append(Task(wu, cfg.to_dict(), k, (img, None, None, None), lanes=2))
    ex = LocalExecutor()
    stream = ex.execute(tasks)
    seen = set()
    for kind, ev in stream:
        assert kind == "progress"
        seen.add(ev["job"])
        if seen == {0, 1}:
            break
    assert len(_lane_threads()) == 2
    stream.close()
    assert not _lane_threads() and not ex.stop.is_set() and torch.get_num_threads() == 2


def test_a_unit_that_raises_fails_its_photo_only(photos, tmp_path, two_threads, monkeypatch):
    watch = Watch(monkeypatch, meet=True, fail="p1.png")
    b = _batch(photos, tmp_path / "out")
    assert b.run() == 1
    assert watch.peak == 2 and set(watch.threads.values()) == {1}
    assert [e.status for e in b.entries] == ["done", "failed", "done", "done"]
    assert b.entries[1].reason == "RuntimeError: device lost"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p2.png", "p3.png"]
    assert not _lane_threads()


def test_the_plan_and_the_eta_price_a_unit_in_a_lane_at_its_share(photos, tmp_path, two_threads):
    priced = {}
    for key, threads in (("lanes", None), ("alone", 2)):
        ex = LocalExecutor()
        seen: list[dict] = []

        def on_plan(ev, seen=seen, ex=ex):
            if ev["kind"] == "plan":
                seen.append(ev)
                ex.stop.set()                     # priced, not run
        b = _batch(photos, tmp_path / key, executor=ex, threads=threads)
        b.on_event = on_plan
        assert b.run() == 130
        priced[key] = (seen[0], b.eta())          # nothing done: the ETA is the whole plan
    (lanes, lanes_eta), (alone, alone_eta) = priced["lanes"], priced["alone"]
    assert lanes["lanes"] == 2 and alone["lanes"] == 1
    # every unit is small: lane_cost is one factor for all
    assert lanes["seconds"] == pytest.approx(alone["seconds"] * lane_cost(48 * 40), rel=1e-9)
    assert lanes["seconds"] < alone["seconds"]
    assert lanes_eta == pytest.approx(lanes["seconds"]) and alone_eta == pytest.approx(alone["seconds"])
