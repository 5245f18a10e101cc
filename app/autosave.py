"""Autosave of the user's work that the app cannot get back otherwise: the painted mask and
the chosen (unsaved) result, written beside the app's settings so that a killed app loses
neither; the next start offers to restore them.

Layout of the folder (``autosave/`` next to the QSettings file):
  session.json   what the files belong to: the image path, its size, the region, the task,
                 the result's step and description, when it was written
  mask.png       the known-pixel mask (white = known), only while something is painted
  result.npy     the chosen result, float32 exactly as it would be saved, only while unsaved
  image.npy      the work image itself when it has no file to reopen (simulated, downscaled)

Every file is written atomically (``engine.imageio.atomic_write``), so a kill while writing
leaves the previous autosave intact. A clean close removes the folder.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings

from engine.errors import DIPError
from engine.imageio import atomic_write, load_mask, save_mask

log = logging.getLogger(__name__)

SESSION = "session.json"
MASK = "mask.png"
RESULT = "result.npy"
IMAGE = "image.npy"


def default_directory() -> Path:
    """``autosave/`` in the folder of the app's QSettings file."""
    return Path(QSettings().fileName()).resolve().parent / "autosave"


def _write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write(path, write)


class Autosave:
    """Writes and reads the autosave folder; every method swallows I/O errors (an autosave
    that cannot be written must never disturb the user's work) and logs them."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_directory()

    # ---- writing ---------------------------------------------------------------------
    def write(self, session: dict, known: np.ndarray | None, result: np.ndarray | None,
              image: np.ndarray | None = None, keep_image: bool = False) -> bool:
        """Replace the autosave: ``known`` (bool HxW, True = known) when something is painted,
        ``result`` when an unsaved result exists, ``image`` when the work image has no file
        (``keep_image``: the one written before still is). With neither a mask nor a result,
        the autosave is removed. True when written."""
        if known is None and result is None:
            self.clear()
            return True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            d = self.directory
            keep_image = keep_image and image is None and (d / IMAGE).is_file()
            for name, present in ((MASK, known is not None), (RESULT, result is not None),
                                  (IMAGE, image is not None or keep_image)):
                if not present:
                    (d / name).unlink(missing_ok=True)
            if known is not None:
                save_mask(d / MASK, known)
            if result is not None:
                _write_npy(d / RESULT, np.asarray(result, dtype=np.float32))
            if image is not None:
                _write_npy(d / IMAGE, np.asarray(image, dtype=np.float32))
            info = dict(session, saved_at=time.time(), mask=known is not None,
                        result=result is not None, image_saved=image is not None or keep_image)
            text = json.dumps(info, indent=1)

            def write_json(tmp: str) -> None:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
            atomic_write(d / SESSION, write_json)   # last: it names what the files are
            return True
        except (OSError, DIPError, ValueError) as e:
            log.warning("autosave failed: %s", e)
            return False

    def clear(self) -> None:
        if self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)

    # ---- reading ---------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.directory / SESSION).is_file()

    def load(self) -> dict | None:
        """The session dict with ``known`` (bool HxW or None), ``result`` and ``image``
        (float32 arrays or None) filled in; None when there is nothing usable."""
        d = self.directory
        try:
            info = json.loads((d / SESSION).read_text(encoding="utf-8"))
            if not isinstance(info, dict):
                return None
            shape = tuple(int(v) for v in info.get("work_shape", ())[:2])
            info["known"] = load_mask(d / MASK, shape) if info.get("mask") and len(shape) == 2 else None
            info["result"] = np.load(d / RESULT, allow_pickle=False).astype(np.float32) \
                if info.get("result") else None
            info["image"] = np.load(d / IMAGE, allow_pickle=False).astype(np.float32) \
                if info.get("image_saved") else None
        except (OSError, DIPError, ValueError, TypeError, KeyError) as e:
            if (d / SESSION).exists():
                log.warning("autosave not readable: %s", e)
            return None
        if info["known"] is None and info["result"] is None:
            return None
        return info
