"""The runs of the current work image, as plain data (no Qt: tests/test_import_contract.py).

Every finished run leaves a :class:`RunRecord`: its settings, the iterate it picked (the
result, at the result's own geometry), how and when it stopped, its curve and, when a
reference is known, its PSNR. A :class:`RunList` keeps them within a byte budget: when the
picked images outgrow it, the oldest runs' images are dropped (their settings, numbers and
curves stay, so the list still tells what was tried). Averaging runs is the paper's way to
its best denoising; :func:`average_results` is that mean and :func:`average_record` the
record that carries it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .events import Emitter


@dataclass
class RunRecord:
    """One run of the current work image. ``result`` is float32 HxWxC in [0, 1] at the
    result's geometry (super-resolution: the high resolution), or None once dropped."""

    id: int                                   # 1, 2, ... within the document
    config: dict[str, Any]                    # RunConfig.to_dict() as the run used it
    result: np.ndarray | None = None
    result_step: int | None = None
    result_kind: str = ""                     # "ema" | "output" | "average"
    result_what: str = ""                     # words for the status line ("the best iterate at step 412")
    steps: int = 0                            # steps the run took
    stop_how: str = ""                        # "rule" | "limit" | "request" | "average"
    stop_reason: str = ""
    stop_where: str = ""                      # a tiled job: "tile 3/6 at step 109", "all 6 tiles done"
    seconds: float = 0.0
    psnr: float | None = None                 # of the result against the reference, dB
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    curve_loss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    # with a reference: the PSNR curves, "output" / "ema" -> (steps, dB); {} without one
    curve_psnr: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    sources: list[int] = field(default_factory=list)   # an average: the ids it was made from

    @property
    def seed(self) -> int | None:
        s = self.config.get("seed")
        # bool is an int to Python, and "seed True" is no seed
        return int(s) if isinstance(s, int) and not isinstance(s, bool) else None

    @property
    def nbytes(self) -> int:
        return 0 if self.result is None else int(self.result.nbytes)

    @property
    def label(self) -> str:
        """A short name for lists and titles: 'Run 3 (seed 7)' / 'Average of 1, 2'."""
        if self.sources:
            return f"Average of {', '.join(str(i) for i in self.sources)}"
        seed = self.seed
        return f"Run {self.id}" + (f" (seed {seed})" if seed is not None else "")


def averaging_problem(records: list[RunRecord]) -> str | None:
    """Why ``records`` cannot be averaged, in words for the user, or None when they can.
    Cheap (no pixel is read), so a view can ask on every selection change."""
    if len(records) < 2:
        return "averaging needs at least two runs"
    dropped = [r for r in records if r.result is None]
    if dropped:
        names = ", ".join(r.label for r in dropped)
        return f"the image of {names} was dropped to stay within the memory budget"
    # sorted: a set's order would make the message differ from one call to the next
    shapes = sorted({r.result.shape for r in records})
    if len(shapes) != 1:
        return f"the runs' results differ in size ({', '.join(str(s) for s in shapes)})"
    return None


def average_results(records: list[RunRecord]) -> np.ndarray:
    """The pixel mean of the records' results (all present and of one shape)."""
    problem = averaging_problem(records)
    if problem is not None:
        raise ValueError(problem)
    arrays = [r.result for r in records]
    out = np.zeros(arrays[0].shape, np.float64)
    for a in arrays:
        out += a
    return (out / len(arrays)).astype(np.float32)


def average_record(run_list: RunList, ids: list[int]) -> RunRecord:
    """A new record whose result is the pixel mean of the runs ``ids`` of ``run_list``, not
    added to it (``RunList.add`` gives it its id). ``psnr`` stays None: only the caller
    knows the reference. ValueError, with words for the user, when the runs cannot be
    averaged (unknown or repeated id, fewer than two, a dropped image, sizes differ)."""
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError("a run is listed twice")
    records = []
    for i in ids:
        r = run_list.get(i)
        if r is None:
            raise ValueError(f"there is no run {i}")
        records.append(r)
    result = average_results(records)
    first = records[0]
    return RunRecord(
        id=0,
        # a copy: editing the average's settings must not edit the first run's
        config=copy.deepcopy(first.config),
        result=result,
        result_kind="average",
        result_what=f"the average of runs {', '.join(str(i) for i in ids)}",
        stop_how="average",
        sources=ids,
    )


def settings_summary(config: dict[str, Any]) -> str:
    """One line of the settings that tell runs apart: 'skip 128 ch, bilinear, lr 0.01,
    seed 7' (resnet: 'resnet 8x64 ch, ...'). Missing keys are left out, not guessed."""
    net = config.get("net") if isinstance(config.get("net"), dict) else {}
    parts: list[str] = []
    if config.get("task") in ("preimage", "actmax"):   # the classifier's layer (and unit) tell them apart
        layer = config.get("layer") or "output"
        parts.append(f"unit {config.get('unit')} of {layer}" if config.get("task") == "actmax" else f"layer {layer}")
    arch = net.get("arch")
    if config.get("prior") == "tv":
        parts.append("TV prior (pixels)")
    elif arch == "resnet":
        blocks, ch = net.get("resnet_blocks"), net.get("resnet_channels")
        parts.append(f"resnet {blocks}x{ch} ch" if blocks and ch else "resnet")
    elif arch:
        down = net.get("channels_down")
        # the first level's width: presets and the panel make every level that wide
        parts.append(f"{arch} {down[0]} ch" if isinstance(down, list) and down else str(arch))
        up = net.get("upsample")
        if isinstance(up, list):
            up = up[0] if len(set(map(str, up))) == 1 else "/".join(map(str, up))
        if up:
            parts.append(str(up))
    lr = config.get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        parts.append(f"lr {lr:g}")
    seed = config.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        parts.append(f"seed {seed}")
    return ", ".join(parts)


def stop_summary(record: RunRecord) -> str:
    """How the run ended and at which step: 'stopped itself at 412', 'limit 3000',
    'you stopped it at 250', 'average of 3 runs'; a tiled job says where in its units
    (its steps are every unit's together: no one step to stop at)."""
    if record.stop_where:
        if record.stop_how == "request":
            return f"you stopped it in {record.stop_where}"
        return f"{record.stop_where} ({record.steps} steps in all)"
    if record.stop_how == "rule":
        return f"stopped itself at {record.steps}"
    if record.stop_how == "limit":
        return f"limit {record.steps}"
    if record.stop_how == "request":
        return f"you stopped it at {record.steps}"
    if record.stop_how == "average":
        return f"average of {len(record.sources)} runs"
    return f"{record.steps} steps" if record.steps else (record.stop_reason or "")


class RunList:
    """The runs of one work image, oldest first, within ``budget_bytes`` of result images.

    ``changed`` (an app.events.Emitter: plain callables, no Qt) is emitted after every change,
    so a widget can mirror the list the way napari's widgets follow their layer list.
    """

    def __init__(self, budget_bytes: int = 256 * 1024 * 1024):
        self.budget_bytes = int(budget_bytes)
        self._records: list[RunRecord] = []
        self._next_id = 1
        self.changed = Emitter()

    # ---- listening -------------------------------------------------------------
    def _changed(self) -> None:
        self.changed.emit()

    def notify(self) -> None:
        """Tell the listeners that a record was edited in place (its PSNR filled in later)."""
        self._changed()

    # ---- reading ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self):
        return iter(list(self._records))

    @property
    def records(self) -> list[RunRecord]:
        return list(self._records)

    def get(self, run_id: int) -> RunRecord | None:
        for r in self._records:
            if r.id == run_id:
                return r
        return None

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self._records)

    def next_id(self) -> int:
        return self._next_id

    # ---- changing --------------------------------------------------------------
    def add(self, record: RunRecord) -> RunRecord:
        """Append ``record`` (its id is set to the next free one) and keep the budget."""
        record.id = self._next_id
        self._next_id += 1
        self._records.append(record)
        self._fit_budget(keep=(record,))
        self._changed()
        return record

    def restore(self, records: list[RunRecord]) -> None:
        """Replace the list by ``records`` as they are (a reopened project): ids kept."""
        self._records = list(records)
        self._next_id = max((r.id for r in self._records), default=0) + 1
        # the newest run keeps its image here too, as after add()
        self._fit_budget(keep=tuple(self._records[-1:]))
        self._changed()

    def replace(self, record: RunRecord) -> None:
        """Put ``record`` in the place of the run with its id (a continued run, or a run
        whose picked iterate the user changed) and keep the budget. KeyError when no run
        has that id: adding is :meth:`add`'s job, which gives out ids."""
        for i, r in enumerate(self._records):
            if r.id == record.id:
                self._records[i] = record
                break
        else:
            raise KeyError(f"there is no run {record.id} to replace")
        # the replaced run's image is the one just made; the newest keeps its image as ever
        self._fit_budget(keep=(record, *self._records[-1:]))
        self._changed()

    def remove(self, run_id: int) -> bool:
        r = self.get(run_id)
        if r is None:
            return False
        self._records.remove(r)
        self._changed()
        return True

    def clear(self) -> None:
        if self._records:
            self._records.clear()
            self._changed()
        self._next_id = 1

    def fit_budget(self) -> None:
        """Apply a changed ``budget_bytes`` now (the newest run keeps its image)."""
        before = self.nbytes
        self._fit_budget(keep=tuple(self._records[-1:]))
        if self.nbytes != before:
            self._changed()

    def _fit_budget(self, keep: tuple[RunRecord, ...]) -> None:
        """Drop images, oldest first, until the budget holds; never those of ``keep``."""
        for r in self._records:
            if self.nbytes <= self.budget_bytes:
                return
            if r.result is not None and not any(r is k for k in keep):
                r.result = None
