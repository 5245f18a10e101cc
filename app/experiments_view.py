"""The window's side of the paper's experiments: the live curve of a pre-image or
activation-maximisation run, the TV-prior comparison (a run like any other, so it joins the
Runs list), and Help > "Why early stopping works" (impedance_dialog.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

import resources
from engine.config import CLASSIFIER_TASKS
from engine.errors import ConfigError, DIPError
from engine.experiments import tv_config
from engine.imageio import load_image

from .impedance_dialog import ImpedanceDialog

if TYPE_CHECKING:
    from .main_window import MainWindow


class ExperimentsView(QObject):
    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.w = window
        self.fields = window.panel.classifier_fields
        self._live = False
        self.dialog: ImpedanceDialog | None = None
        window.controller.ready.connect(self._on_ready)
        window.controller.losses.connect(self._on_losses)
        self.fields.tvRequested.connect(self.run_tv)

    def _on_ready(self, _info) -> None:
        cfg = self.w.run_view.cfg
        self._live = cfg is not None and cfg.task in CLASSIFIER_TASKS
        if self._live:
            self.fields.curve.reset(cfg.task, cfg.prior)

    def _on_losses(self, steps, losses) -> None:
        if self._live:
            self.fields.curve.append(steps, losses)

    def run_tv(self) -> bool:
        """Run the TV-prior comparison of the settings shown (same classifier, layer, unit)."""
        try:
            self.fields.check(self.w.panel.task())
            cfg = tv_config(self.w.panel.config())
        except ConfigError as e:
            self.w.error("TV comparison", str(e))
            return False
        return self.w.run_view.start(cfg)

    def show_impedance(self, start: bool = False) -> ImpedanceDialog | None:
        doc = self.w.doc
        if doc.image is not None:
            image, source = doc.image, "the open image"
        else:
            try:
                clean = resources.path(resources.SAMPLE_CLEAN)
                image, source = load_image(str(clean)).array, "the sample photo"
            except DIPError as e:
                self.w.error("Why early stopping works", str(e))
                return None
        if self.dialog is not None:
            self.dialog.stop()
            self.dialog.deleteLater()
        self.dialog = ImpedanceDialog(image, source, self.w)
        self.dialog.show()
        if start:
            self.dialog.start()
        return self.dialog
