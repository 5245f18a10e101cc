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
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from engine.config import TASKS
from engine.errors import DIPError
from engine.imageio import Loaded, atomic_write, load_image, load_mask, save_mask

from .document import Document
from .files import FileHandling
from .run_view import RunView
from .settings_store import data_directory
from .settings_panel import SettingsPanel
from .ui_port import UiPort

log = logging.getLogger(__name__)

SESSION = "session.json"
MASK = "mask.png"
RESULT = "result.npy"
IMAGE = "image.npy"
AUTOSAVE_MS = 1000       # written this long after the last change


def default_directory() -> Path:
    """``autosave/`` in the folder of the app's QSettings file."""
    return data_directory() / "autosave"


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


class AutosaveKeeper(QObject):
    """The window's side of the autosave: writes the document a second after each change,
    offers the last session's work at start and puts it back."""

    def __init__(self, doc: Document, port: UiPort, files: FileHandling, run_view: RunView,
                 panel: SettingsPanel, store: Autosave | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.doc = doc
        self.ui = port
        self.files = files
        self.run_view = run_view
        self.panel = panel
        self.store = store or Autosave()
        self._written_image: np.ndarray | None = None   # the work image already in image.npy
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.write_now)

    def schedule(self, *_args) -> None:
        if self.doc.image is not None:
            self.timer.start()

    def write_now(self) -> bool:
        """Write the painted mask and the unsaved result beside the settings."""
        self.timer.stop()
        doc = self.doc
        if doc.image is None or doc.full is None:
            return False
        known = doc.known_mask()
        result = doc.result.array if doc.unsaved else None
        # no file holds this image (simulated, downscaled): keep the pixels themselves
        needs_image = not doc.has_file
        keep = needs_image and self._written_image is doc.full
        image = doc.full if needs_image and not keep else None
        session = dict(doc.session(), task=self.panel.task())
        ok = self.store.write(session, known, result, image, keep_image=keep)
        if ok and needs_image and (known is not None or result is not None):
            self._written_image = doc.full
        elif known is None and result is None:
            self._written_image = None
        return ok

    def clear(self) -> None:
        self.timer.stop()
        self.store.clear()

    def offer_restore(self) -> bool:
        """At start: when the last session ended without a clean close and left a painted
        mask or an unsaved result, ask whether to restore them. True when restored."""
        info = self.store.load()
        if info is None:
            self.store.clear()
            return False
        name = Path(info.get("image_path") or "the simulated image").name
        what = " and ".join(w for w in ("the mask you painted" if info["known"] is not None else "",
                                        "the unsaved result" if info["result"] is not None else "") if w)
        ans = self.ui.ask("Restore your work?",
                         f"DIP Studio did not close normally last time. Restore {what} for {name}?",
                         QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if ans != QMessageBox.Yes:
            self.store.clear()
            return False
        return self.restore(info)

    def restore(self, info: dict) -> bool:
        doc, files = self.doc, self.files
        path = info.get("image_path") or ""
        name = Path(path).name or "the image"
        full_shape = tuple(int(v) for v in info.get("full_shape", ()))
        if info.get("image") is not None:
            a = info["image"]
            loaded = Loaded(array=a, mode="RGB" if a.shape[2] == 3 else "L", bit_depth=8, alpha=None,
                            path=path or str(Path(files.last_dir()) / "restored.png"), format=None)
            files.set_loaded(loaded, None, note=info.get("note") or "restored")
        else:
            try:
                loaded = load_image(path)
            except DIPError as e:
                self.ui.error("Cannot restore", f"{name} cannot be opened any more: {e}")
                self.store.clear()
                return False
            if tuple(loaded.array.shape) != full_shape:
                self.ui.error("Cannot restore", f"{name} has changed since the mask was painted "
                                                f"(it is {loaded.array.shape[1]}x{loaded.array.shape[0]} now)")
                self.store.clear()
                return False
            files.set_loaded(loaded)
            files.recent.add(path)
        region = info.get("region")
        if region and len(region) == 4:
            files.set_region(*(int(v) for v in region))
        task = info.get("task")
        if task in TASKS:
            self.panel.set_task(task)
        if info.get("known") is not None and info["known"].shape == doc.image.shape[:2]:
            doc.mask.set_from_known(info["known"])
            doc.mask.clear_history()
        if info.get("result") is not None:
            res = info["result"]
            what = info.get("result_what") or "the result"
            doc.set_result(res, info.get("result_step"), f"{what} (restored)")
            self.run_view.show_restored(res)
        self.ui.status(f"Restored your work on {name}", 8000)
        self.write_now()
        return True
