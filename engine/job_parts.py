"""A tiled job's finished units kept on disk as each ends, so that Ctrl-C, a crash or a
reboot loses none of them: the same job run again blends them back in and runs only the rest
(a 12 MP photo is hours of units). The CLI keeps them beside its output
(``<output>.parts/``, engine/cli_tiled.py), a folder's batch beside each photo's result
(engine/batch.py), the app in ``tile-parts/`` beside its settings.

The folder holds ``job.json`` (what the units belong to: a digest of the input's pixels, mask
and guide, of the settings that make them and of the plan's units) and, per finished unit,
``unit-0007.npy`` (its result: float32, the output pixels of its box, as blended) and
``unit-0007.json`` (its record for the report). Each file is written atomically and the
record after the pixels, so a unit counts only once both are whole. A folder whose digest
differs (another photo, other settings, another plan) is emptied and started again; a folder
that is not one this module wrote is refused, never emptied. The folder goes once the
result is written.

Units are seeded by their place (engine/tiling.unit_seed), so a unit run after a restart
gives the pixels it would have given without one (on a CPU, with the same threads)."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .config import RunConfig
from .errors import DIPError
from .tiling import Plan

FORMAT = 1
# what only watches a run (its previews, its snapshots for scrubbing and their memory): the app
# gives each run the memory the runs it keeps leave, which must not make a unit another job's
WATCHING = ("preview_every", "snapshot_every", "memory_budget_mb")
_OWN = re.compile(r"job\.json|unit-\d{4,}\.(npy|json)|\.(job\.json|unit-\d{4,}\.(npy|json))\.\w{8}\.tmp\.\w+")


def parts_folder(output: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(output)}.parts")


def job_digest(cfg: RunConfig, plan: Plan, image: np.ndarray, mask: np.ndarray | None = None,
               guide: np.ndarray | None = None, runs: int = 1) -> str:
    """What a unit's pixels depend on. The reference is left out: it only scores."""
    h = hashlib.sha256(f"dip-parts {FORMAT}\n".encode())
    for name, arr in (("image", image), ("mask", mask), ("guide", guide)):
        if arr is None:
            h.update(f"{name} none\n".encode())
            continue
        a = np.ascontiguousarray(arr)
        h.update(f"{name} {a.dtype.str} {a.shape}\n".encode())
        h.update(memoryview(a).cast("B"))
    settings = {k: v for k, v in cfg.to_dict().items() if k not in WATCHING}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    units = [[u.index, [u.box.top, u.box.left, u.box.height, u.box.width], u.seed, list(u.ramps), u.crop, u.quick]
             for u in plan.units]
    h.update(json.dumps({"mode": plan.mode, "factor": plan.factor, "image_hw": list(plan.image_hw),
                         "runs": int(runs), "units": units}).encode())
    return h.hexdigest()


class JobParts:
    """The parts folder of one job (``digest``: :func:`job_digest`)."""

    def __init__(self, folder: str | os.PathLike, digest: str, units: int):
        self.folder = Path(folder)
        self.digest = digest
        self.units = int(units)
        self.started_over = False     # a folder of another job was emptied (the CLI says so)
        self.refused: Exception | None = None    # the disk refused a unit: no more are tried

    @classmethod
    def of_job(cls, folder: str | os.PathLike, cfg: RunConfig, plan: Plan, image: np.ndarray,
               mask: np.ndarray | None = None, guide: np.ndarray | None = None, runs: int = 1) -> JobParts:
        """The job's parts in ``folder`` (the CLI's: :func:`parts_folder` of its output)."""
        return cls(folder, job_digest(cfg, plan, image, mask, guide, runs), len(plan.units))

    def _check_ours(self) -> dict | None:
        """The folder's job.json (None: no folder, or an empty one); refuses a foreign folder."""
        f = self.folder
        if not f.exists():
            return None
        if not f.is_dir():
            raise DIPError(f"{f} is in the way: a file where this job keeps its finished tiles; move it away")
        names = [p.name for p in f.iterdir()]
        if not names:
            return None
        if any(not _OWN.fullmatch(n) for n in names):
            raise DIPError(f"{f} holds files this program did not write; move them away or give another --output")
        try:
            meta = json.loads((f / "job.json").read_text())
        except (OSError, ValueError):
            meta = None
        # a damaged or missing job.json (only this module's files are there): another job's
        return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else {}

    def load(self) -> list[tuple[int, np.ndarray, dict]]:
        """The units a previous run of the same job finished: (index, result, record). Empties
        the folder first where it belongs to another job."""
        meta = self._check_ours()
        if meta is None:
            return []
        if meta.get("digest") != self.digest or meta.get("units") != self.units:
            _unlink_own(self.folder)
            self.started_over = True
            return []
        found = []
        for p in sorted(self.folder.glob("unit-*.json")):
            try:
                info = json.loads(p.read_text())
                index = int(info["index"])
                result = np.load(p.with_suffix(".npy"), allow_pickle=False)
            except (OSError, ValueError, KeyError, TypeError):
                continue          # half of a unit (a kill between its two files): it runs again
            if 0 <= index < self.units and result.dtype == np.float32 and np.isfinite(result).all():
                found.append((index, result, info))
        return found

    def save(self, index: int, result: np.ndarray, info: dict) -> None:
        """Keep a finished unit (called as the job blends it in)."""
        f = self.folder
        if not (f / "job.json").exists():
            f.mkdir(exist_ok=True)
            meta = json.dumps({"format": FORMAT, "digest": self.digest, "units": self.units})
            atomic_write(f / "job.json", lambda tmp: Path(tmp).write_text(meta))
        name = f / f"unit-{index:04d}"
        atomic_write(name.with_suffix(".npy"), lambda tmp: _save_npy(tmp, result))
        # the box is the plan's (put back on load); NumPy scalars as Python numbers
        record = json.dumps({**{k: v for k, v in info.items() if k != "box"}, "index": int(index)},
                            default=_number)
        atomic_write(name.with_suffix(".json"), lambda tmp: Path(tmp).write_text(record))

    def keep(self, index: int, result: np.ndarray, info: dict) -> str | None:
        """:meth:`save`, for a job that goes on whatever the disk says: the first refusal
        comes back as a warning to show (once), and the units after it are not tried."""
        if self.refused is not None:
            return None
        try:
            self.save(index, result, info)
        except (DIPError, OSError, TypeError, ValueError) as e:
            self.refused = e
            return f"finished units cannot be kept in {self.folder} ({e}); the job goes on, but Ctrl-C would lose them"
        return None

    def count(self) -> int:
        try:
            return sum(1 for _ in self.folder.glob("unit-*.json"))
        except OSError:
            return 0

    def remove(self) -> None:
        """The result is written: the parts are no longer needed."""
        remove_parts(self.folder)


def remove_parts(folder: str | os.PathLike) -> None:
    """Remove a parts folder, whatever job it was for: only this module's files go, and the
    folder only once nothing else is in it."""
    f = Path(folder)
    if not f.is_dir():
        return
    _unlink_own(f)
    try:
        f.rmdir()
    except OSError:
        pass


def _unlink_own(folder: Path) -> None:
    for p in folder.iterdir():       # what a killed write left too (_OWN names it)
        if _OWN.fullmatch(p.name) and p.is_file():
            p.unlink(missing_ok=True)


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as fh:      # np.save on a path would add ".npy" to the temporary's name
        np.save(fh, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)


def _number(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON")
