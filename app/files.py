"""Everything that reads or writes the user's files from the window: images (with a mask
lying beside them), masks, the reference, the flash photo, results, curves, projects,
simulated degradations, regions and downscaling.

Each entry point asks what it must (a run going, an unsaved result), reports a failure in
one dialog and leaves the document as it was. Pixels meet files only through
``engine.imageio`` and ``app.project``.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.config import RunConfig
from engine.device import device_memory_bytes, pick_device
from engine.errors import DIPError, MaskError
from engine.estimate import estimate_cost
from engine.imageio import OPEN_EXTENSIONS, Loaded, atomic_write, load_image, load_mask, save_image, save_mask
from engine.imageio import MASK_EXTENSIONS, MASK_SUFFIXES, sibling_mask  # noqa: F401 - the batch finds masks alike
from engine.presets import get_config

from . import settings_store as keys
from .document import Document
from .project import EXTENSION as PROJECT_SUFFIX
from .project import Project, ProjectError, load_project, save_project
from .recent import RecentFiles
from .region_picker import RegionPicker
from .run_view import RunView
from .run_cost import LONG_RUN_SECONDS
from .settings_panel import SettingsPanel
from .simulate_dialog import SimulateDialog
from .ui_port import UiPort
from .controller import RunController

log = logging.getLogger(__name__)

SAVE_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;TIFF image (*.tif *.tiff)"
PROJECT_FILTER = f"DIP Studio project (*{PROJECT_SUFFIX})"


class FileHandling(QObject):
    def __init__(self, doc: Document, port: UiPort, panel: SettingsPanel, run_view: RunView,
                 controller: RunController, recent: RecentFiles, region_picker: RegionPicker,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.doc = doc
        self.ui = port
        self.panel = panel
        self.run_view = run_view
        self.controller = controller
        self.recent = recent
        self.region_picker = region_picker
        self.too_large_seen: set[str] = set()

    def set_loaded(self, loaded: Loaded, reference: np.ndarray | None = None, note: str = "") -> None:
        """A new work image in the document (its events put it on screen)."""
        self.too_large_seen.clear()
        self.doc.open(loaded, reference, note)

    # ------------------------------------------------------------------ folders and dialogs
    def last_dir(self) -> str:
        d = keys.value(keys.LAST_DIR, "", str)
        return d if d and os.path.isdir(d) else str(Path.home())

    def remember_dir(self, path: str) -> None:
        keys.settings().setValue(keys.LAST_DIR, str(Path(path).resolve().parent))

    def ask_image_path(self, title: str, projects: bool = False) -> str:
        """A file picked in an open dialog starting in the last folder ('' = cancelled)."""
        exts = " ".join(f"*{e}" for e in OPEN_EXTENSIONS)
        filters = f"Images ({exts});;All files (*)"
        if projects:
            filters = f"Images and projects ({exts} *{PROJECT_SUFFIX});;{PROJECT_FILTER};;{filters}"
        path, _ = QFileDialog.getOpenFileName(self.ui.parent, title, self.last_dir(), filters)
        return path

    def _status(self, text: str, ms: int = 8000) -> None:
        self.ui.status(text, ms)

    # ------------------------------------------------------------------ images
    def open_dialog(self) -> None:
        path = self.ask_image_path("Open image or project", projects=True)
        if path:
            self.open_path(path)

    def open_path(self, path: str, reference: str | None = None) -> bool:
        """Open an image (and optionally its clean reference) or a project. False: nothing changed."""
        if Path(path).suffix.lower() == PROJECT_SUFFIX:
            return self.open_project(path)
        if not self.run_view.confirm_stop("open another image", lambda: self.open_path(path, reference)) \
                or not self.ui.confirm_discard_result("opening another image"):
            return False
        try:
            loaded = load_image(path)
        except DIPError as e:
            self.ui.error("Cannot open image", str(e))
            return False
        ref = None
        if reference:
            try:
                ref = load_image(reference).array
            except DIPError as e:
                self._status(f"reference not loaded: {e}")
        self.set_loaded(loaded, ref)
        self.recent.add(path)
        self.remember_dir(path)
        h, wd, c = loaded.array.shape
        msg = f"Opened {Path(path).name}: {wd} x {h}, {'grayscale' if c == 1 else 'colour'}"
        mask_path = sibling_mask(path)
        if mask_path is not None and self.open_mask(str(mask_path), quiet=True):
            msg += f"; its mask {mask_path.name} is loaded: ready to inpaint"
        self._status(msg)
        self._warn_if_slow()
        return True

    def _warn_if_slow(self) -> None:
        """Opening an image never leaves the user on a preset that takes half an hour unsaid."""
        secs = self.panel.expected_seconds()
        words = self.panel.time_sentence()
        if secs is not None and secs > LONG_RUN_SECONDS and words:
            # the panel's own estimate in the panel's own words: never a second figure
            self._status(f"These settings may take long: {words}; see the faster choices under the preset", 15000)

    def use_sample_settings(self) -> None:
        """The bundled sample is noisy: start on the narrow denoising preset, which shows a
        clean result within a couple of minutes on a laptop CPU."""
        panel = self.panel
        try:
            device = self.doc.config().device
        except Exception:  # noqa: BLE001 - an invalid saved field must not block the sample
            device = "auto"
        stop = "auto" if panel.auto_stop_check.isChecked() else "never"
        panel.set_config(get_config("denoise-fast", device=device, stop=stop))

    def open_recent(self, path: str) -> None:
        if not os.path.exists(path):
            self.recent.remove(path)
            self.ui.error("Cannot open", f"{path} no longer exists; removed it from the list")
            return
        self.open_path(path)

    # ------------------------------------------------------------------ mask
    def open_mask_dialog(self) -> None:
        if self.doc.image is None:
            return
        path, _ = QFileDialog.getOpenFileName(self.ui.parent, "Open mask", self.last_dir(),
                                              "Masks (*.png *.tif *.tiff *.bmp);;All files (*)")
        if path:
            self.open_mask(path)

    def open_mask(self, path: str, quiet: bool = False) -> bool:
        """Load a known-mask (white = known) for the work image; a whole-image mask is cropped
        to the region. ``quiet``: a mask found beside the image that does not fit is skipped."""
        doc = self.doc
        if doc.image is None:
            return False
        try:
            shape = doc.full.shape[:2] if doc.region is not None else doc.image.shape[:2]
            try:
                known = load_mask(path, shape)
            except MaskError:
                if doc.region is None:
                    raise
                known = load_mask(path, doc.image.shape[:2])
            known = doc.mask_from_file(known)
            if known.all():
                raise MaskError(f"{Path(path).name} marks no pixel to fill (it is all white)")
            if self.panel.task() != "inpaint":
                self.panel.set_task("inpaint")
            doc.mask.set_from_known(known)
        except DIPError as e:
            if quiet:
                log.info("mask beside the image not used: %s", e)
                return False
            self.ui.error("Cannot use mask", str(e))
            return False
        if not quiet:
            self.remember_dir(path)
            self._status(f"Mask {Path(path).name}: {int((~known).sum())} pixels to fill")
        return True

    def save_mask_dialog(self) -> None:
        doc = self.doc
        if doc.image is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.ui.parent, "Save mask",
                                              str(Path(self.last_dir()) / f"{doc.stem}_mask.png"),
                                              "PNG (*.png);;TIFF (*.tif *.tiff)")
        if path:
            try:
                save_mask(path, doc.mask.known)
            except DIPError as e:
                self.ui.error("Cannot save mask", str(e))
                return
            self.remember_dir(path)
            self._status(f"Saved mask {path}", 5000)

    # ------------------------------------------------------------------ reference, guide
    def open_reference_dialog(self) -> None:
        if self.doc.full is None:
            return
        path = self.ask_image_path("Open clean reference")
        if path:
            self.open_reference(path)

    def open_reference(self, path: str) -> bool:
        try:
            self.doc.set_reference(load_image(path).array)
        except DIPError as e:
            self.ui.error("Cannot use reference", str(e))
            return False
        self._status(f"Reference {Path(path).name}: PSNR is shown during the next run")
        return True

    def open_guide_dialog(self) -> None:
        if self.doc.image is None:
            return
        path = self.ask_image_path("Open flash photo")
        if path:
            self.open_guide(path)

    def open_guide(self, path: str) -> bool:
        try:
            self.doc.set_guide(load_image(path).array, Path(path).name)
        except DIPError as e:
            self.ui.error("Cannot use flash photo", str(e))
            return False
        return True

    # ------------------------------------------------------------------ saving
    def save_result(self, path: str | None = None) -> bool:
        """Write the result (exactly the chosen array) to ``path`` or a chosen file."""
        doc = self.doc
        if doc.result is None:
            self._status("Nothing to save yet: run a restoration first", 5000)
            return False
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.ui.parent, "Save result",
                                                  str(Path(self.last_dir()) / f"{doc.stem}_restored.png"),
                                                  SAVE_FILTERS)
            if not path:
                return False
            if not Path(path).suffix:
                path += ".png"
        try:
            save_image(path, doc.full_result(), like=doc.loaded)
        except DIPError as e:
            self.ui.error("Cannot save", str(e))
            return False
        self.remember_dir(path)
        what = doc.result.what
        doc.mark_saved()
        self._status(f"Saved {what} to {path}")
        return True

    def export_csv(self, path: str | None = None) -> bool:
        """The curves the Progress plots show, raw (a negative loss stays negative)."""
        curves = self.run_view.curves_shown()
        steps = curves.loss.x
        if len(steps) == 0:
            self._status("No loss curve to export yet", 5000)
            return False
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.ui.parent, "Export loss CSV",
                                                  str(Path(self.last_dir()) / f"{self.doc.stem}_loss.csv"),
                                                  "CSV (*.csv)")
            if not path:
                return False
        text = curves.csv_text()

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(text)

        try:
            atomic_write(path, write)
        except DIPError as e:
            self.ui.error("Cannot export", str(e))
            return False
        self._status(f"Wrote {len(steps)} steps to {path}", 5000)
        return True

    # ------------------------------------------------------------------ projects
    def save_project_dialog(self) -> bool:
        if self.doc.image is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self.ui.parent, "Save project",
                                              str(Path(self.last_dir()) / f"{self.doc.stem}{PROJECT_SUFFIX}"),
                                              PROJECT_FILTER)
        if not path:
            return False
        if Path(path).suffix.lower() != PROJECT_SUFFIX:
            path += PROJECT_SUFFIX
        return self.save_project(path)

    def current_project(self) -> Project:
        doc = self.doc
        try:
            settings = doc.config().to_dict()
        except DIPError:
            settings = {}
        res = doc.result
        in_runs = doc.result_in_runs()
        return Project(image=doc.full, image_name=doc.name or "image.png",
                       image_path=doc.loaded.path if doc.loaded is not None else None, note=doc.note,
                       region=doc.region, mask_known=None if doc.mask is None or doc.mask.is_empty else doc.mask.known,
                       reference=doc.full_reference, guide=doc.guide, guide_name=doc.guide_name,
                       settings=settings, runs=doc.runs.records,
                       current_run=res.run_id if in_runs else None,
                       result=None if res is None or in_runs else res.array,
                       result_what=res.what if res is not None else "")

    def save_project(self, path: str) -> bool:
        if self.doc.image is None:
            return False
        try:
            save_project(path, self.current_project())
        except DIPError as e:
            self.ui.error("Cannot save project", str(e))
            return False
        self.recent.add(path)
        self.remember_dir(path)
        self.doc.mark_saved()   # the result is in the project now
        self._status(f"Saved project {path}")
        return True

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.ui.parent, "Open project", self.last_dir(),
                                              f"{PROJECT_FILTER};;All files (*)")
        if path:
            self.open_project(path)

    def open_project(self, path: str) -> bool:
        if not self.run_view.confirm_stop("open a project", lambda: self.open_project(path)) \
                or not self.ui.confirm_discard_result("opening a project"):
            return False
        try:
            proj = load_project(path)
        except ProjectError as e:
            self.ui.error("Cannot open project", str(e))
            return False
        doc = self.doc
        a = proj.image
        loaded = Loaded(array=a, mode="RGB" if a.shape[2] == 3 else "L", bit_depth=8, alpha=None,
                        path=proj.image_path or str(Path(path).with_name(proj.image_name)), format=None)
        self.set_loaded(loaded, proj.reference, note=proj.note)
        if proj.settings:
            try:
                self.panel.set_config(RunConfig.from_dict(proj.settings))
            except DIPError as e:
                self._status(f"the project's settings were not applied: {e}")
        if proj.region is not None:
            doc.set_region(*proj.region)
        if proj.guide is not None:
            doc.set_guide(proj.guide, proj.guide_name or "flash photo")
        if proj.mask_known is not None:
            doc.mask.set_from_known(proj.mask_known)
            doc.mask.clear_history()
        doc.runs.restore(proj.runs)
        if proj.current_run is not None and self.run_view.show_run(proj.current_run):
            doc.mark_saved()   # it is in the project file
        elif proj.result is not None:
            doc.set_result(proj.result, None, proj.result_what or "the result", dirty=False)
            self.run_view.show_restored(proj.result)
        self.recent.add(path)
        self.remember_dir(path)
        for warning in getattr(proj, "warnings", []) or []:
            self._status(warning, 10000)
        self.ui.refresh()
        why = self.run_view.why_no_continue()
        self._status(f"Opened project {Path(path).name}: {len(proj.runs)} run(s)" + (f". {why}" if why else ""))
        return True

    # ------------------------------------------------------------------ simulate, region, downscale
    def simulate_dialog(self) -> None:
        doc = self.doc
        if doc.image is None or not self.run_view.confirm_stop("simulate", self.simulate_dialog) or \
                not self.ui.confirm_discard_result("simulating"):
            return
        dlg = SimulateDialog(doc.image, self.ui.parent)
        if dlg.exec() != SimulateDialog.Accepted:
            return
        sim = dlg.result_data()
        if sim is not None:
            self.apply_simulated(sim)

    def apply_simulated(self, sim) -> None:
        """Replace the work image by a simulated degradation with its known answer."""
        name = self.doc.name or "image"
        deg = np.asarray(sim.degraded, dtype=np.float32)
        loaded = Loaded(array=deg, mode="RGB" if deg.shape[2] == 3 else "L", bit_depth=8, alpha=None,
                        path=str(Path(self.last_dir()) / f"simulated_{name}"), format=None)
        self.set_loaded(loaded, np.asarray(sim.reference, dtype=np.float32),
                        note=getattr(sim, "description", "") or "simulated")
        self.panel.set_task(sim.task)
        if sim.task == "superres" and sim.scale:
            try:
                self.panel.set_config(self.doc.config().replace(scale=int(sim.scale)))
            except DIPError as e:
                self._status(f"set the factor x{sim.scale} by hand: {e}")
        if sim.mask is not None:
            self.doc.mask.set_from_known(sim.mask)

    def pick_region(self) -> None:
        if self.doc.full is None or self.controller.active:
            return
        if self.doc.region is not None:
            self.clear_region()
        self.ui.status("Drag a rectangle over the part to restore (Esc cancels)")
        self.region_picker.start()

    def set_region(self, x: int, y: int, w_: int, h: int) -> bool:
        """Work on ``full[y:y+h, x:x+w]``; the result is pasted back when saving."""
        doc = self.doc
        if doc.full is None or self.controller.active:
            return False
        if doc.clamp_region(x, y, w_, h) is None:
            self._status("The region is too small (at least 8 x 8 pixels)", 5000)
            return False
        if not self.ui.confirm_discard_result("working on a region"):
            return False
        x0, y0, rw, rh = doc.set_region(x, y, w_, h)
        self._status(f"Working on a {rw} x {rh} region; saving pastes the result back into the whole image")
        return True

    def clear_region(self) -> None:
        if self.doc.region is None or self.controller.active:
            return
        if not self.ui.confirm_discard_result("going back to the whole image"):
            return
        self.doc.clear_region()

    def fit_scale(self) -> float | None:
        """The downscale factor (< 1) at which the estimate fits the device, or None."""
        try:
            cfg = self.doc.config()
            dev = pick_device(cfg.device).type
            budget = 0.8 * device_memory_bytes(dev)
            h, w = self.doc.image.shape[:2]
            k = cfg.scale if cfg.task == "superres" else 1
            s = 1.0
            for _ in range(20):
                s *= 0.8
                if estimate_cost(cfg, max(8, int(h * s)) * k, max(8, int(w * s)) * k, dev).bytes <= budget:
                    return s
        except (DIPError, ValueError, RuntimeError) as e:
            log.warning("no downscale estimate: %s", e)
        return None

    def downscale_to_fit(self, scale: float | None = None) -> bool:
        doc = self.doc
        if doc.full is None or self.controller.active:
            return False
        scale = scale or self.fit_scale()
        if scale is None:
            self.ui.error("Cannot downscale", "no size found at which the estimate fits; try fewer channels")
            return False
        if not self.ui.confirm_discard_result("downscaling"):
            return False
        h, w = doc.full.shape[:2]
        loaded, ref, note = doc.downscaled(scale)
        self.set_loaded(loaded, ref, note=note)
        nh, nw = loaded.array.shape[:2]
        self._status(f"Downscaled to {nw} x {nh} (from {w} x {h})")
        return True

    def downscale_for_time(self) -> bool:
        """The one-click 'Downscale' of the slow-settings offer: the size at which the
        expected time is about the offer's threshold (time goes with the pixel count)."""
        secs = self.panel.expected_seconds()
        if not secs:
            return False
        scale = min(0.9, 0.95 * math.sqrt(LONG_RUN_SECONDS / secs))
        return self.downscale_to_fit(scale)

    def on_too_large(self, message: str) -> None:
        if self.doc.image is None or self.controller.active or message in self.too_large_seen:
            return
        self.too_large_seen.add(message)
        box = QMessageBox(QMessageBox.Warning, "Image too large for the device", message, parent=self.ui.parent)
        down = box.addButton("Downscale to fit", QMessageBox.AcceptRole)
        region = box.addButton("Work on a region...", QMessageBox.ActionRole)
        box.addButton("Keep as is", QMessageBox.RejectRole)
        box.exec()
        if box.clickedButton() is down:
            self.downscale_to_fit()
        elif box.clickedButton() is region:
            self.pick_region()

    def drop(self, path: str) -> None:
        # after the drop returns: a modal question inside a drop handler upsets some platforms
        QTimer.singleShot(0, lambda: self.open_path(path))
