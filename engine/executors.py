"""Executors: where a batch's units run.

Both take the units lazily (an iterator of :class:`Task`) and give back one stream of
events, in the order they happen:

- ``("progress", event)``: a running unit's progress (engine/units.py ``progress_event``:
  the same dict whichever executor ran it, so the same progress lines are printed);
- ``("done", task, result, info)``: a unit's result (None: it did not fit) and its record;
- ``("failed", task, reason)``: the unit raised; ``reason`` is one line.

Closing the stream early (Ctrl-C) may catch a unit that has finished and whose result has not
been handed out yet: ``finished_on_close()`` gives such ``("done", ...)`` events once, after the
close, so that its work is kept.

:class:`LocalExecutor` (the default) runs the units in this process: one after the other,
or on a CPU in lanes side by side, one torch thread each (engine/lanes.py), where the
batch marks them so (``Task.lanes``), finishing in any order.
:class:`RayExecutor` runs each unit as a Ray task asking for as many CPUs as the unit has
threads (and a GPU, or a fraction of one, only where the cluster has GPUs); each image's
arrays go into the object store once (``ray.put``) and every unit of it reads them from
there; progress comes back through a small actor; a task whose worker dies is retried
(``max_retries``); closing the stream early (Ctrl-C, a stop) cancels what is still out.
Ray is imported only here, and only when a RayExecutor is made.
"""
from __future__ import annotations

import functools
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .control import Controls
from .errors import DIPError
from .lanes import booked_seconds, side_by_side
from .units import UnitStopped, WorkUnit, run_unit, unit_steps

RAY_MISSING = 'Ray is not installed: pip install "dip-studio[cluster]" (or pip install "ray>=2.9")'
MAX_RETRIES = 3             # a unit whose worker died is run again this many times at most
POLL_S = 0.2                # how often the driver collects progress while units run
REACH_S = 10.0              # a cluster whose address does not answer within this is given up on


@dataclass
class Task:
    """A unit with what it needs: the config (plain dict) and its image's arrays, shared by
    all units of the image (``key`` names them: the image's index in the batch)."""

    wu: WorkUnit
    cfg: dict
    key: int
    arrays: tuple[np.ndarray | None, ...]    # image, mask, guide, reference
    lanes: int = 1      # > 1: runs in one of this many lanes side by side (LocalExecutor), 1: alone


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "failed"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DIPError):
        return _one_line(str(exc))
    if isinstance(exc, MemoryError):
        return "out of memory"
    return _one_line(f"{type(exc).__name__}: {exc}")


class _Either:
    """Set once either event is: what a unit in a lane checks between its steps (the
    executor's stop, or its lanes' own, set when the stream is closed early)."""

    def __init__(self, a: threading.Event, b: threading.Event):
        self.events = (a, b)

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class _KeepsFinished:
    """Where a closed stream's finished units wait for ``finished_on_close()`` (module docstring)."""

    def _keep(self, ev: tuple) -> None:
        self.__dict__.setdefault("_kept", []).append(ev)

    def finished_on_close(self) -> list[tuple]:
        return self.__dict__.pop("_kept", [])


class LocalExecutor(_KeepsFinished):
    """Units in this process, on the config's device, one after the other; where that is
    faster (a GPU: engine/group.py ``group_is_faster``), queued units of the same size are
    stepped together as one grouped network, as many as fit its memory (``group``: at most
    this many; None: GROUP_MAX where faster, 1 elsewhere).

    Units marked for lanes (``Task.lanes`` > 1: one seed, a CPU, one torch thread each; the
    batch marks them, engine/batch.py) run side by side in that many lanes (Python threads,
    engine/lanes.py ``side_by_side``), each lane taking the next unit when its own ends, so
    they finish in any order. The units are still read here, in the caller's thread, one as
    a lane is free: reading one may load a photo and call back into the batch. A unit not
    marked so that comes meanwhile waits for the units in flight to end, then runs alone with
    its threads, and lanes begin again after it. A stop ends the units in flight after
    their step; a unit that raises fails alone, the other lanes go on."""

    name = "local"

    def __init__(self, stop: threading.Event | None = None, group: int | None = None):
        self.stop = stop or threading.Event()
        self.group = group

    def unit_device(self, device: str) -> str | None:
        return None                                   # the config's own

    def slots(self, threads: int) -> int:
        return 1

    def describe(self) -> str:
        return "this process"

    def _group_size(self, t: Task) -> int:
        if t.wu.runs > 1:
            return 1
        if self.group is not None:
            return max(1, int(self.group))
        from .group import group_is_faster
        from .job import GROUP_MAX
        return GROUP_MAX if group_is_faster(t.wu.device or t.cfg.get("device", "auto")) else 1

    @staticmethod
    def _same_shape(a: Task, b: Task) -> bool:
        ua, ub = a.wu.unit.box, b.wu.unit.box
        return (a.cfg == b.cfg and (ua.height, ua.width) == (ub.height, ub.width) and a.wu.factor == b.wu.factor
                and a.wu.threads == b.wu.threads and a.wu.device == b.wu.device and b.wu.runs == 1
                and a.wu.unit_budget_mb == b.wu.unit_budget_mb
                and [None if x is None else x.shape[2:] for x in a.arrays]
                == [None if x is None else x.shape[2:] for x in b.arrays])

    @staticmethod
    def _in_lanes(t: Task) -> bool:
        if t.lanes < 2 or t.wu.runs != 1:
            return False
        from .device import pick_device
        return pick_device(t.wu.device or t.cfg.get("device", "auto")).type == "cpu"

    def execute(self, tasks: Iterable[Task]) -> Iterator[tuple]:
        from collections import deque

        it = iter(tasks)
        ahead: deque[Task] = deque()

        def pull() -> Task | None:
            return ahead.popleft() if ahead else next(it, None)

        while not self.stop.is_set():
            t = pull()
            if t is None:
                return
            if self._in_lanes(t):
                if not (yield from self._run_lanes(t, pull, ahead)):
                    return
                continue
            size = self._group_size(t)
            if size > 1:
                batch, looked = [t], 0
                for cand in list(ahead):
                    if len(batch) < size and self._same_shape(t, cand):
                        ahead.remove(cand)
                        batch.append(cand)
                while len(batch) < size and looked < 2 * size:
                    cand = next(it, None)
                    if cand is None:
                        break
                    looked += 1
                    (batch if self._same_shape(t, cand) else ahead).append(cand)
                if len(batch) > 1:
                    from .config import RunConfig
                    from .group import fits_group
                    b = t.wu.unit.out_box(t.wu.factor)
                    cfg = RunConfig.from_dict(t.cfg)
                    k = fits_group(cfg, b.height, b.width, t.wu.device or cfg.device, len(batch),
                                   out_channels=t.arrays[0].shape[2])
                    for extra in reversed(batch[max(k, 1):]):
                        ahead.appendleft(extra)
                    batch = batch[:max(k, 1)]
                if len(batch) > 1:
                    if not (yield from self._run_group(batch)):
                        return
                    continue
            if not (yield from self._run_one(t)):
                return

    def _run_group(self, batch: list[Task]):
        from .units import group_steps

        done: set[int] = set()
        try:
            for item in group_steps(batch[0].cfg, [t.wu for t in batch], [t.arrays for t in batch], self.stop):
                if item[0] == "progress":
                    yield item
                else:
                    _, j, result, info = item
                    done.add(j)
                    yield ("done", batch[j], result, info)
        except UnitStopped:
            return False
        except Exception as exc:  # noqa: BLE001 - as for one unit: the error fails the units' images
            for j, t in enumerate(batch):
                if j not in done:
                    yield ("failed", t, _reason(exc))
        return True

    def _run_lanes(self, first: Task, pull, ahead):
        """``first`` and the lane units that follow it, in ``first.lanes`` lanes, until the
        units end or one that runs otherwise comes (it waits in ``ahead`` for the lanes in
        flight to end). False: stopped."""
        halt = Controls()
        halt._init_controls()
        stop = _Either(self.stop, halt._stop)
        lanes = first.lanes

        def starts():
            # read in this thread by side_by_side, one each time a lane is free; after a stop
            # no further photo is loaded
            t: Task | None = first
            while True:
                yield functools.partial(self._lane_unit, t, stop, lanes)
                t = None if self.stop.is_set() else pull()
                if t is None:
                    return
                if not (self._in_lanes(t) and t.lanes == lanes):
                    ahead.appendleft(t)
                    return

        def keep(_k: int, ev: tuple) -> None:
            if ev[0] == "done":
                self._keep(ev)

        records = side_by_side(starts(), halt, lanes, on_close=keep)
        try:
            for _, ev in records:
                yield ev
        finally:   # the stream closed early (a Ctrl-C, the batch's error): the lanes end now
            records.close()
        return not self.stop.is_set()

    def _lane_unit(self, t: Task, stop: _Either, lanes: int):
        if stop.is_set():           # taken as the stop came: not begun
            return
        yield from self._run_one(t, stop, lanes)

    def _run_one(self, t: Task, stop: threading.Event | _Either | None = None, lanes: int = 1):
        gen = None
        try:
            gen = unit_steps(t.cfg, t.wu, *t.arrays, stop=self.stop if stop is None else stop)
            while True:
                yield ("progress", next(gen))
        except StopIteration as end:
            result, info = end.value
            if lanes > 1:   # as a job books its lanes (engine/job.py): its share of the wall time, as priced
                info = {**info, **booked_seconds(info["seconds"], lanes)}
            yield ("done", t, result, info)
        except UnitStopped:
            return False
        except Exception as exc:  # noqa: BLE001 - as on Ray: a unit's error fails its image, not the batch
            yield ("failed", t, _reason(exc))
        finally:
            if gen is not None:
                gen.close()
        return True

    def close(self) -> None:
        pass


def import_ray():
    """``ray``, or a one-line DIPError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DIPError(RAY_MISSING) from None
    return ray


class _Inbox:
    """The progress actor: units append events (fire and forget), the driver drains them."""

    def __init__(self):
        self.items: list[dict] = []

    def put(self, item: dict) -> None:
        self.items.append(item)

    def drain(self) -> list[dict]:
        out, self.items = self.items, []
        return out


def _check_reachable(address: str | None) -> None:
    """Give up on a cluster address nothing answers at within ``REACH_S`` (one line), rather
    than let ray.init retry its connection for minutes. "auto" means RAY_ADDRESS when set."""
    said = address
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or None
        said = f"{address} (RAY_ADDRESS)"
    if address in (None, "", "local", "auto"):
        return
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise DIPError(f"--ray {said}: expected HOST:PORT, ray://HOST:PORT, auto, or nothing (a Ray here)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_S):
            pass
    except OSError as exc:
        why = f"no answer in {REACH_S:g} s" if isinstance(exc, socket.timeout) else (exc.strerror or _reason(exc))
        raise DIPError(f"cannot reach the Ray cluster at {said}: {why}; is the address right and the cluster "
                       f"up?") from None


def _ray_unit(cfg: dict, wu: WorkUnit, image, mask, guide, reference, inbox):
    """The Ray task: run_unit with progress sent to the inbox actor."""
    def report(ev: dict) -> None:
        inbox.put.remote(ev)
    return run_unit(cfg, wu, image, mask, guide, reference, progress=report)


class RayExecutor(_KeepsFinished):
    """Units as Ray tasks. ``address``: None or "local" starts a Ray on this machine (or
    uses the one this process already started); "auto" joins the cluster of RAY_ADDRESS
    (or the one running here); "ray://HOST:PORT" a remote one through Ray Client, with the
    engine's code shipped to it."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, gpus_per_unit: float = 1.0,
                 max_retries: int = MAX_RETRIES, stop: threading.Event | None = None):
        ray = import_ray()
        self.ray = ray
        self.stop = stop or threading.Event()
        self.max_retries = int(max_retries)
        self.gpus_per_unit = float(gpus_per_unit)
        if not 0 < self.gpus_per_unit <= 1:
            raise DIPError(f"--gpus-per-unit must be in (0, 1], got {gpus_per_unit:g}")
        self._owns = False
        if not ray.is_initialized():
            _check_reachable(address)
            try:
                if address in (None, "", "local"):
                    # "local": a new Ray of this process, never a cluster someone started here
                    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
                else:
                    # a cluster gets this engine's code with the job: installed, `engine` lives
                    # inside dip_studio/ and a node's own install has it under no top-level name
                    import engine
                    ray.init(address=address, log_to_driver=False,
                             runtime_env={"py_modules": [str(Path(engine.__file__).parent)]})
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise DIPError(f"cannot reach the Ray cluster at {address or 'this machine'}: {_reason(exc)}") \
                    from None
            self._owns = True
        res = ray.cluster_resources()
        self.cluster_cpus = int(res.get("CPU", 0))
        self.cluster_gpus = float(res.get("GPU", 0))
        self.nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        self._remote = ray.remote(_ray_unit)

    def check_fits(self, threads: int, device: str) -> None:
        """A unit's request (``threads`` CPUs, or a share of a GPU) fits on one live node, said
        before anything is submitted: Ray would keep such a task waiting forever."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        if device == "cuda":
            most = max((float(r.get("GPU", 0)) for r in nodes), default=0.0)
            if self.gpus_per_unit > most:
                raise DIPError(f"--gpus-per-unit {self.gpus_per_unit:g}: no node of the Ray cluster has that much "
                               f"GPU ({self.describe()}; the most on one node: {most:g})")
            return
        most = max((int(r.get("CPU", 0)) for r in nodes), default=0)
        if threads > most:
            raise DIPError(f"--threads {threads}: a unit asks for {threads} CPUs on one node, and no node of the "
                           f"Ray cluster has that many ({self.describe()}; the most on one node: {most}): use "
                           f"--threads {max(1, most)} or fewer")

    def describe(self) -> str:
        gpus = f", {self.cluster_gpus:g} GPUs" if self.cluster_gpus else ""
        return f"Ray: {self.nodes} node{'s' if self.nodes != 1 else ''}, {self.cluster_cpus} CPUs{gpus}"

    def unit_device(self, device: str) -> str:
        """Where units run: a GPU where the cluster has them, the CPU otherwise (a task that
        asks for a GPU on a cluster without one would wait forever)."""
        if device in ("auto", "cuda") and self.cluster_gpus > 0:
            return "cuda"
        if device in ("cuda", "mps"):
            raise DIPError(f"--device {device}: the Ray cluster has no GPU ({self.describe()}); "
                           "use --device auto or cpu")
        return "cpu"

    def slots(self, threads: int) -> int:
        """How many units run at once."""
        if self.cluster_gpus > 0:
            return max(1, int(self.cluster_gpus / self.gpus_per_unit))
        return max(1, self.cluster_cpus // max(1, threads))

    def _options(self, wu: WorkUnit) -> dict:
        gpu = wu.device == "cuda"
        return {"num_cpus": 1 if gpu else max(1, wu.threads), "num_gpus": self.gpus_per_unit if gpu else 0,
                "max_retries": self.max_retries, "retry_exceptions": False}

    def execute(self, tasks: Iterable[Task]) -> Iterator[tuple]:
        ray = self.ray
        inbox = ray.remote(num_cpus=0)(_Inbox).remote()
        put: dict[int, list] = {}                  # image key -> its arrays in the object store
        left: dict[int, int] = {}                  # image key -> units of it not yet back
        pending: dict[Any, Task] = {}
        it = iter(tasks)
        more = True
        window = None
        try:
            while True:
                while more and not self.stop.is_set() and (window is None or len(pending) < window):
                    t = next(it, None)
                    if t is None:
                        more = False
                        break
                    if window is None:
                        window = 2 * self.slots(t.wu.threads)
                    if t.key not in put:           # the image goes into the object store once
                        put[t.key] = [None if a is None else ray.put(a) for a in t.arrays]
                    left[t.key] = left.get(t.key, 0) + 1
                    ref = self._remote.options(**self._options(t.wu)).remote(t.cfg, t.wu, *put[t.key], inbox)
                    pending[ref] = t
                if self.stop.is_set():
                    break
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ev in ray.get(inbox.drain.remote()):
                    yield ("progress", ev)
                for ref in ready:
                    t = pending.pop(ref)
                    left[t.key] -= 1
                    ev = self._outcome(ref, t)
                    if ev is not None:
                        yield ev
                    if left[t.key] == 0:
                        del put[t.key], left[t.key]    # its units are all back: the store may free it
        finally:
            # Ctrl-C, a stop, or the consumer closed the stream: what has finished is kept,
            # nothing still out keeps running
            try:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0) if pending else ([], [])
            except Exception:  # noqa: BLE001 - the cluster is going away: nothing to keep
                ready = []
            for ref in ready:
                ev = self._outcome(ref, pending.pop(ref))
                if ev is not None and ev[0] == "done":
                    self._keep(ev)
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            try:
                ray.kill(inbox)
            except Exception:  # noqa: BLE001
                pass

    def _outcome(self, ref, t: Task) -> tuple | None:
        """A finished Ray task's event: done, failed, or None where it was cancelled."""
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        try:
            result, info = self.ray.get(ref)
        except TaskCancelledError:
            return None
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            return ("failed", t, _reason(cause) if cause is not None else _reason(exc))
        except RayError as exc:             # e.g. the worker died more often than retried
            return ("failed", t, _reason(exc))
        return ("done", t, result, info)

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns = False


def make_executor(ray: str | None, gpus_per_unit: float = 1.0, stop: threading.Event | None = None):
    if ray is None:
        return LocalExecutor(stop=stop)
    address = None if ray == "local" else ray
    return RayExecutor(address, gpus_per_unit=gpus_per_unit, stop=stop)
