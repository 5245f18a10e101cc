"""The user's work as a plain model: the image, the part of it a run works on, the mask,
the reference and the flash photo, the current result and the list of runs.

No Qt here (an import contract checks it): widgets subscribe to :class:`Document` events
and call its methods; the rules about geometry (a region crops the mask, the guide and the
reference; a super-resolution result is k times the work image; a region's result is
pasted back into the whole image) live here once, with unit tests that need no window.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import RunConfig
from engine.degrade import resize
from engine.errors import ConfigError, DIPError, MaskError
from engine.imageio import Loaded
from engine.metrics import task_psnr

from .events import Emitter as Emitter   # importable from here as before
from .mask_model import MaskModel
from .run_cost import RunCost
from .runs import RunList

MIN_REGION = 8            # a region smaller than this cannot go through the network's levels
MB = 1024 * 1024
RUNS_SHARE = 4            # the kept runs may hold up to 1/4 of a run's memory budget


def reference_factor(image_shape: tuple[int, ...], ref_shape: tuple[int, ...]) -> int | None:
    """k when the reference is the image's size times k (k >= 1), else None."""
    fh, fw = image_shape[:2]
    rh, rw = ref_shape[:2]
    if rh % fh or rw % fw or rh // fh != rw // fw:
        return None
    return rh // fh


@dataclass
class Result:
    """What Save writes: an array at the result's geometry and where it came from."""

    array: np.ndarray
    step: int | None
    what: str                 # "the best iterate (moving average) at step 412"
    run_id: int | None = None # the run it belongs to (None: not yet recorded, or restored)
    user_pick: bool = False   # chosen by the user ("Use this iterate"): wins over the rule


class Document:
    """Events: ``image_changed()`` (a new work image: everything derived is gone),
    ``result_changed()``, ``reference_changed()``, ``guide_changed()``, ``mask_changed()``
    (an edit of the mask is complete; the model tells it, whoever edited it),
    ``settings_changed()``."""

    def __init__(self) -> None:
        self.loaded: Loaded | None = None        # the file as loaded (for save like=)
        self.full: np.ndarray | None = None      # the whole image the user works on
        self.region: tuple[int, int, int, int] | None = None   # x, y, w, h within full
        self.image: np.ndarray | None = None     # what a run sees: full or the region of it
        self.mask: MaskModel | None = None       # at the work image's geometry
        self.full_reference: np.ndarray | None = None
        self.guide: np.ndarray | None = None     # at the work image's geometry
        self.guide_name: str | None = None
        self.note = ""                           # "downscaled from ..." for the title bar
        self.result: Result | None = None
        self.dirty = False                       # the result has not been saved
        self.runs = RunList(RunConfig().memory_budget_mb * MB // RUNS_SHARE)
        # the run settings as the settings panel shows them; None while they are invalid
        self.settings: RunConfig | None = None
        self.settings_error = "no settings yet"
        # what the settings cost here and the plan of a run (tiles, crops around the mask); the
        # settings panel shows it and sets its size and the Tiles choice
        self.cost = RunCost()
        self.cost.plans.mask_source = self.known_mask
        self.image_changed = Emitter()
        self.result_changed = Emitter()
        self.reference_changed = Emitter()
        self.guide_changed = Emitter()
        self.mask_changed = Emitter()
        self.settings_changed = Emitter()

    # ------------------------------------------------------------------ reading
    @property
    def has_image(self) -> bool:
        return self.image is not None

    @property
    def name(self) -> str:
        return Path(self.loaded.path).name if self.loaded is not None else ""

    @property
    def stem(self) -> str:
        return Path(self.loaded.path).stem if self.loaded is not None else "result"

    @property
    def has_file(self) -> bool:
        """A file on disk holds exactly these pixels (not simulated, downscaled or restored)."""
        p = self.loaded.path if self.loaded is not None else ""
        return bool(p) and not self.note and os.path.isfile(p)

    @property
    def unsaved(self) -> bool:
        return self.result is not None and self.dirty

    def result_in_runs(self) -> bool:
        """The current result is also the picked image of an entry in the run list, so a
        new run does not lose it (opening another image still would)."""
        r = self.result
        rec = self.runs.get(r.run_id) if r is not None and r.run_id is not None else None
        return rec is not None and rec.result is r.array

    def _on_mask_edited(self) -> None:
        self.cost.plans.mask_changed()   # an inpainting plan's crops follow the mask
        self.mask_changed.emit()

    def set_settings(self, cfg: RunConfig | None, error: str = "") -> None:
        """The settings as shown (validated), or None with why they cannot run."""
        self.settings = cfg
        self.settings_error = "" if cfg is not None else (error or "invalid settings")
        self.settings_changed.emit()

    def config(self) -> RunConfig:
        """A copy of the settings to run or save; raises ConfigError while they are invalid."""
        if self.settings is None:
            raise ConfigError(self.settings_error)
        return copy.deepcopy(self.settings)

    def plan(self, cfg: RunConfig | None = None):
        """The plan of a run of ``cfg`` (default: the settings) on the work image (an
        engine.tiling.Plan; cached), or None without an image; raises ConfigError."""
        return self.cost.plan(cfg if cfg is not None else self.config())

    def known_mask(self) -> np.ndarray | None:
        """The mask (True = known) when anything is painted, else None."""
        m = self.mask
        if m is None or m.is_empty or self.image is None or m.shape != self.image.shape[:2]:
            return None
        return m.known

    def reference(self) -> np.ndarray | None:
        """The reference cropped to the region, at whatever factor it has over the image."""
        ref = self.full_reference
        if ref is None or self.full is None:
            return None
        k = reference_factor(self.full.shape, ref.shape)
        if k is None:
            return None
        if self.region is not None:
            x, y, w, h = self.region
            ref = ref[y * k:(y + h) * k, x * k:(x + w) * k]
        return ref

    def reference_for(self, task: str, scale: int = 1) -> np.ndarray | None:
        """The reference in the geometry a run of ``task`` produces, or None if it does not fit."""
        ref = self.reference()
        if ref is None or self.image is None:
            return None
        h, w = self.image.shape[:2]
        k = scale if task == "superres" else 1
        return ref if ref.shape[:2] == (h * k, w * k) else None

    def psnr_of(self, array: np.ndarray | None, config: dict) -> float | None:
        """PSNR of a result of a run with ``config`` (RunConfig.to_dict()), when a reference
        of its geometry is known."""
        task, scale = config.get("task", "denoise"), int(config.get("scale") or 1)
        ref = self.reference_for(task, scale)
        if array is None or ref is None or ref.shape != array.shape:
            return None
        return float(task_psnr(task, array, ref, scale=scale))

    def fit_runs(self, memory_budget_mb: int) -> int:
        """The kept runs live in the memory budget the snapshots use: they may hold up to
        1/RUNS_SHARE of it (the oldest runs' images go first). Returns the whole MB they
        hold, which the next run's snapshots do without."""
        self.runs.budget_bytes = memory_budget_mb * MB // RUNS_SHARE
        self.runs.fit_budget()
        return -(-self.runs.nbytes // MB)

    def full_result(self) -> np.ndarray:
        """The result at the size the user expects: a region's result pasted back into the
        whole image (the rest upscaled bicubically for a super-resolved region)."""
        if self.result is None:
            raise DIPError("there is no result yet")
        res = self.result.array
        if self.region is None:
            return res
        x, y, w, h = self.region
        k = res.shape[0] // h
        full = self.full
        full = resize(full, full.shape[1] * k, full.shape[0] * k) if k != 1 else full.copy()
        if full.shape[2] != res.shape[2]:
            res = np.repeat(res[:, :, :1], 3, axis=2) if full.shape[2] == 3 else res.mean(axis=2, keepdims=True)
        full[y * k:(y + h) * k, x * k:(x + w) * k] = res
        return full

    def session(self) -> dict:
        """Where the work is (for the autosave): plain JSON-able values."""
        r = self.result
        return {"image_path": self.loaded.path if self.loaded is not None else "",
                "full_shape": list(self.full.shape) if self.full is not None else [],
                "work_shape": list(self.image.shape[:2]) if self.image is not None else [],
                "region": list(self.region) if self.region else None, "note": self.note,
                "result_step": r.step if r is not None else None,
                "result_what": r.what if r is not None else ""}

    # ------------------------------------------------------------------ changing the image
    def open(self, loaded: Loaded, reference: np.ndarray | None = None, note: str = "") -> None:
        """A new image (and its reference): region, guide, mask, result and runs start over."""
        self.loaded = loaded
        self.full = loaded.array
        self.full_reference = reference
        self.region = None
        self.note = note
        self._drop_guide()
        self._set_work(self.full)
        self.reference_changed.emit()

    def _set_work(self, image: np.ndarray, paint: np.ndarray | None = None) -> None:
        self.image = image
        self.cost.set_image_size(*image.shape)   # a new image comes with a new mask: plans again
        self.mask = MaskModel(*image.shape[:2])
        if paint is not None and paint.any():
            self.mask.set_paint(paint)
            self.mask.clear_history()
        # after the carried-over paint: a new work image is image_changed, not an edit
        self.mask.edited.connect(self._on_mask_edited)
        self.result = None
        self.dirty = False
        self.runs.clear()
        self.image_changed.emit()
        self.result_changed.emit()

    def clamp_region(self, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int] | None:
        """The rectangle clipped to the image, or None when under MIN_REGION on a side."""
        if self.full is None:
            return None
        fh, fw = self.full.shape[:2]
        x0, y0 = max(0, min(x, fw)), max(0, min(y, fh))
        x1, y1 = max(0, min(x + w, fw)), max(0, min(y + h, fh))
        if x1 - x0 < MIN_REGION or y1 - y0 < MIN_REGION:
            return None
        return x0, y0, x1 - x0, y1 - y0

    def set_region(self, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
        """Work on a part of the whole image; the paint and the guide under it come along.
        Raises ValueError when the rectangle is too small."""
        rect = self.clamp_region(x, y, w, h)
        if rect is None:
            raise ValueError(f"the region is too small (at least {MIN_REGION} x {MIN_REGION} pixels)")
        x0, y0, rw, rh = rect
        fh, fw = self.full.shape[:2]
        paint = None
        if self.region is None and self.mask is not None and self.mask.shape == (fh, fw):
            paint = self.mask.paint[y0:y0 + rh, x0:x0 + rw].copy()
        if self.guide is not None and self.guide.shape[:2] == (fh, fw):
            self.guide = self.guide[y0:y0 + rh, x0:x0 + rw]
            self.guide_changed.emit()
        elif self.guide is not None:
            self._drop_guide()
        self.region = rect
        self._set_work(self.full[y0:y0 + rh, x0:x0 + rw], paint)
        return rect

    def clear_region(self) -> None:
        if self.region is None:
            return
        self.region = None
        self._drop_guide()
        self._set_work(self.full)

    def downscaled(self, scale: float) -> tuple[Loaded, np.ndarray | None, str]:
        """The whole image (and a same-size reference) scaled by ``scale`` < 1, for open()."""
        h, w = self.full.shape[:2]
        nh, nw = max(MIN_REGION, int(round(h * scale))), max(MIN_REGION, int(round(w * scale)))
        ref = None
        if self.full_reference is not None and self.full_reference.shape[:2] == (h, w):
            ref = resize(self.full_reference, nw, nh)
        lo = self.loaded
        loaded = Loaded(array=resize(self.full, nw, nh), mode=lo.mode, bit_depth=lo.bit_depth,
                        alpha=None, path=lo.path, format=lo.format, icc_profile=lo.icc_profile)
        return loaded, ref, f"downscaled from {w} x {h}"

    # ------------------------------------------------------------------ companions
    def set_reference(self, ref: np.ndarray) -> None:
        """A clean image to measure against: the image's size or k times it."""
        if self.full is None:
            raise DIPError("open an image first")
        if reference_factor(self.full.shape, ref.shape) is None:
            fh, fw = self.full.shape[:2]
            rh, rw = ref.shape[:2]
            raise DIPError(f"the reference is {rw}x{rh} but the image is {fw}x{fh}: it must be the "
                           "same size (or, for super-resolution, the size times the factor)")
        self.full_reference = ref
        self.reference_changed.emit()

    def set_guide(self, guide: np.ndarray, name: str) -> None:
        """The flash photo, at the whole image's size (cropped to the region) or the region's."""
        if self.image is None:
            raise DIPError("open an image first")
        if self.region is not None and guide.shape[:2] == self.full.shape[:2]:
            x, y, w, h = self.region
            guide = guide[y:y + h, x:x + w]
        if guide.shape[:2] != self.image.shape[:2]:
            gh, gw = guide.shape[:2]
            h, w = self.image.shape[:2]
            raise DIPError(f"the flash photo is {gw}x{gh} but the no-flash photo is {w}x{h} (W x H)")
        self.guide = guide
        self.guide_name = name
        self.guide_changed.emit()

    def _drop_guide(self) -> None:
        if self.guide is not None or self.guide_name is not None:
            self.guide = None
            self.guide_name = None
            self.guide_changed.emit()

    def mask_from_file(self, known: np.ndarray) -> np.ndarray:
        """A known-mask for the work image from one at the whole image's size (cropped to the
        region) or at the work image's size. Raises MaskError otherwise."""
        if self.image is None:
            raise MaskError("open an image first")
        if self.region is not None and known.shape == self.full.shape[:2]:
            x, y, w, h = self.region
            known = known[y:y + h, x:x + w]
        if known.shape != self.image.shape[:2]:
            h, w = self.image.shape[:2]
            raise MaskError(f"the mask is {known.shape[1]}x{known.shape[0]} but the image is {w}x{h}")
        return known

    # ------------------------------------------------------------------ the result
    def set_result(self, array: np.ndarray, step: int | None, what: str, *, run_id: int | None = None,
                   user_pick: bool = False, dirty: bool = True) -> None:
        self.result = Result(array, step, what, run_id, user_pick)
        self.dirty = dirty
        self.result_changed.emit()

    def clear_result(self) -> None:
        if self.result is not None or self.dirty:
            self.result = None
            self.dirty = False
            self.result_changed.emit()

    def mark_saved(self) -> None:
        self.dirty = False
        self.result_changed.emit()
