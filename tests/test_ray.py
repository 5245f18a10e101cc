"""The Ray executor for real, on one local Ray (ray.init(num_cpus=2)) shared by the module:
the same files as the local executor, progress streamed from the workers, a worker killed
mid-unit is retried and the batch completes, Ctrl-C cancels what is still out and keeps
what has ended, and a GPU
is asked for only where the cluster has one. CI installs Ray (the cluster extra), so these
run there; without Ray this module fails to import rather than being skipped."""
import io
import json
import os
import signal
import time

import numpy as np
import pytest
import ray
from PIL import Image

from engine import cli
from engine.batch import Batch, BatchOptions
from engine.errors import DIPError
from engine.executors import LocalExecutor, RayExecutor
from engine.imageio import load_image
from engine.units import WorkUnit
from tests.helpers import TINY_QT, smooth_image, tiny_config


@pytest.fixture(scope="module")
def local_ray():
    # "local": a Ray of its own, never a cluster another process started on this machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _photos(d, sizes):
    d.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        a = np.clip(smooth_image(h, w, seed=i) + rng.normal(0, 0.08, (h, w, 3)), 0, 1)
        Image.fromarray((a * 255).round().astype(np.uint8)).save(d / f"p{i}.png")
    return d


def _batch(executor, cfg, src, out, events=None, **kw):
    opts = BatchOptions(cfg=cfg, inputs=str(src), output=str(out), threads=1, quiet=True, **kw)
    return Batch(opts, executor, on_event=(events.append if events is not None else None), stream=io.StringIO())


def test_ray_writes_the_local_executors_files_and_streams_progress(local_ray, tmp_path, capsys):
    src = _photos(tmp_path / "in", [(32, 40), (80, 96), (40, 32)])      # the second in 4 tiles
    cfg = tiny_config("denoise", iterations=20, stop="never", **TINY_QT)
    local_events, ray_events = [], []
    assert _batch(LocalExecutor(), cfg, src, tmp_path / "local", local_events, tile=64).run() == 0
    ex = RayExecutor()
    b = _batch(ex, cfg, src, tmp_path / "ray", ray_events, tile=64, metrics=str(tmp_path / "m.jsonl"))
    assert b.run() == 0
    for name in ("p0.png", "p1.png", "p2.png"):
        np.testing.assert_array_equal(load_image(tmp_path / "ray" / name).array,
                                      load_image(tmp_path / "local" / name).array)
    assert [e.units for e in b.entries] == [1, 4, 1]
    # progress came back from the worker processes, as the same events the local run gives
    ray_progress = [e for e in ray_events if e["kind"] == "progress" and e["pid"] is not None]
    assert ray_progress and all(e["pid"] != os.getpid() for e in ray_progress)
    local_progress = [e for e in local_events if e["kind"] == "progress"]
    assert set(ray_progress[0]) == set(local_progress[0])
    assert {(e["job"], e["unit"]) for e in ray_progress if e["step"] == 20} == \
        {(0, 0), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)}
    assert "Ray: 1 node, 2 CPUs" in (tmp_path / "m.jsonl").read_text()
    # the command line: --ray joins the Ray this process runs; a rerun skips everything
    code = cli.main(["restore", "--task", "denoise", "--input", str(src), "--output", str(tmp_path / "ray"),
                     "--ray", "--threads", "1", "--tile", "64", "--iterations", "20", "--stop", "never",
                     *[f"--set={k}={v}" for k, v in TINY_QT.items()]])
    err = capsys.readouterr().err
    assert code == 0 and "3 photos: 0 done, 3 skipped, 0 failed" in err


def test_a_worker_killed_mid_unit_is_retried_and_the_batch_completes(local_ray, tmp_path):
    src = _photos(tmp_path / "in", [(32, 32)])
    # long enough that the unit cannot end before its first progress event reaches us and the
    # kill lands (at 600 steps it did, twice in a day: then nothing was retried)
    steps = 2000
    cfg = tiny_config("denoise", iterations=steps, stop="never", **TINY_QT)
    killed: list[int] = []
    events: list[dict] = []

    def kill_once(ev):
        events.append(ev)
        if ev["kind"] == "progress" and ev["pid"] and not killed:
            killed.append(ev["pid"])
            os.kill(ev["pid"], signal.SIGKILL)       # the worker dies in the middle of the unit
    opts = BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "ray"), threads=1, quiet=True)
    b = Batch(opts, RayExecutor(), on_event=kill_once, stream=io.StringIO())
    assert b.run() == 0 and b.entries[0].status == "done"
    pids = {e["pid"] for e in events if e["kind"] == "progress" and e["pid"]}
    assert killed and len(pids) >= 2                     # the unit ran again in another worker
    restarted = [e for e in events if e["kind"] == "progress" and e["pid"] not in (None, killed[0])]
    assert restarted[0]["step"] == 1 and max(e["step"] for e in restarted) == steps
    # nothing lost: the retried unit gives what the unit gives anywhere
    assert _batch(LocalExecutor(), cfg, src, tmp_path / "local").run() == 0
    np.testing.assert_array_equal(load_image(tmp_path / "ray" / "p0.png").array,
                                  load_image(tmp_path / "local" / "p0.png").array)


def test_ctrl_c_cancels_the_units_still_out_and_writes_nothing(local_ray, tmp_path):
    src = _photos(tmp_path / "in", [(32, 32)] * 4)
    cfg = tiny_config("denoise", iterations=100_000, stop="never", **TINY_QT)

    def interrupt(ev):
        if ev["kind"] == "progress" and ev["pid"]:
            raise KeyboardInterrupt
    t0 = time.monotonic()
    b = _batch(RayExecutor(), cfg, src, tmp_path / "out", yes=True)      # hours of steps: asked to run anyway
    b.on_event = interrupt
    assert b.run() == 130
    assert not list((tmp_path / "out").iterdir())
    assert all(e.status == "interrupted" for e in b.entries)
    # the cancelled units no longer hold the CPUs (they would for many minutes otherwise)
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2


def test_a_unit_that_ended_as_ctrl_c_came_is_kept(local_ray, tmp_path):
    """Ctrl-C between a unit's last step and the driver collecting its result: the photo is
    written (cancelling every unit still out used to drop it with them)."""
    src = _photos(tmp_path / "in", [(32, 32), (384, 384)])       # the second is still stepping
    steps = 80
    cfg = tiny_config("denoise", iterations=steps, stop="never", **TINY_QT)

    def interrupt(ev):
        if ev["kind"] == "progress" and ev["pid"] and ev["job"] == 0 and ev["step"] == steps:
            time.sleep(1.0)         # its last step is reported: the worker hands the result back
            raise KeyboardInterrupt
    b = _batch(RayExecutor(), cfg, src, tmp_path / "out")
    b.on_event = interrupt
    assert b.run() == 130
    assert [e.status for e in b.entries] == ["done", "interrupted"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p0.png"]


def test_a_gpu_is_asked_for_only_where_the_cluster_has_one(local_ray):
    ex = RayExecutor()
    assert ex.cluster_gpus == 0 and ex.unit_device("auto") == "cpu" and ex.slots(1) == 2
    wu = WorkUnit(job=0, name="x", unit=None, count=1, threads=2, device="cpu")
    assert ex._options(wu) == {"num_cpus": 2, "num_gpus": 0, "max_retries": 3, "retry_exceptions": False}
    with pytest.raises(DIPError, match="no GPU"):
        ex.unit_device("cuda")
    # a cluster with GPUs: a share of one per unit, one CPU to feed it
    ex.cluster_gpus, ex.gpus_per_unit = 2.0, 0.5
    assert ex.unit_device("auto") == "cuda" and ex.slots(1) == 4
    gpu = WorkUnit(job=0, name="x", unit=None, count=1, threads=2, device="cuda")
    assert ex._options(gpu)["num_gpus"] == 0.5 and ex._options(gpu)["num_cpus"] == 1
    ex.close()                                   # it joined the module's Ray: that one stays up
    assert ray.is_initialized()


def test_one_photo_with_ray_writes_the_local_commands_file(local_ray, tmp_path, restore_torch_threads):
    """The single-photo command (tiles run in this process) and the same photo's tiles as Ray
    tasks: with --threads 1 both, the same file."""
    src = _photos(tmp_path / "in", [(80, 96)])
    cmd = ["restore", "--task", "denoise", "--input", str(src / "p0.png"), "--iterations", "15", "--stop", "never",
           "--threads", "1", "--tile", "64", *[f"--set={k}={v}" for k, v in TINY_QT.items()]]
    assert cli.main(cmd + ["--output", str(tmp_path / "local.png")]) == 0
    assert cli.main(cmd + ["--output", str(tmp_path / "ray.png"), "--ray", "--metrics", str(tmp_path / "m.json")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "ray.png").array, load_image(tmp_path / "local.png").array)
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["plan"]["units"] == 4 and report["executor"].startswith("Ray")


def test_a_request_no_node_can_hold_is_refused_before_anything_is_submitted(local_ray, tmp_path):
    """Issue 22: --threads 4 on a Ray of 2 CPUs printed the plan and waited forever."""
    src = _photos(tmp_path / "in", [(32, 32)])
    cfg = tiny_config("denoise", iterations=5, stop="never", **TINY_QT)
    opts = BatchOptions(cfg=cfg, inputs=str(src), output=str(tmp_path / "out"), threads=4, quiet=True)
    events = []
    t0 = time.monotonic()
    with pytest.raises(DIPError, match=r"--threads 4: .* no node .* the most on one node: 2\): use --threads 2"):
        Batch(opts, RayExecutor(), on_event=events.append, stream=io.StringIO()).run()
    assert time.monotonic() - t0 < 30 and not [e for e in events if e["kind"] == "progress"]

