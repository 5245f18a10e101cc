"""The window's side of the paper's experiments: the live curve of a pre-image or
activation-maximisation run, the TV-prior comparison (a run like any other, so it joins the
Runs list), and Help > "Why early stopping works" (impedance_dialog.py)."""
from __future__ import annotations

from PySide6.QtCore import QObject

import resources
from engine.config import CLASSIFIER_TASKS
from engine.errors import ConfigError, DIPError
from engine.experiments import tv_config
from engine.imageio import load_image

from .document import Document
from .impedance_dialog import ImpedanceDialog
from .run_view import RunView
from .session import RunSession
from .settings_panel import SettingsPanel
from .ui_port import UiPort
from .controller import RunController


class ExperimentsView(QObject):
    def __init__(self, doc: Document, session: RunSession, controller: RunController, port: UiPort,
                 panel: SettingsPanel, run_view: RunView, parent: QObject | None = None):
        super().__init__(parent)
        self.doc = doc
        self.s = session
        self.ui = port
        self.panel = panel
        self.run_view = run_view
        self.fields = panel.classifier_fields
        self._live = False
        self.dialog: ImpedanceDialog | None = None
        controller.ready.connect(self._on_ready)
        controller.losses.connect(self._on_losses)
        self.fields.tvRequested.connect(self.run_tv)

    def _on_ready(self, _info) -> None:
        cfg = self.s.cfg
        self._live = cfg is not None and cfg.task in CLASSIFIER_TASKS
        if self._live:
            self.fields.curve.reset(cfg.task, cfg.prior)

    def _on_losses(self, steps, losses) -> None:
        if self._live:
            self.fields.curve.append(steps, losses)

    def run_tv(self) -> bool:
        """Run the TV-prior comparison of the settings shown (same classifier, layer, unit)."""
        try:
            self.fields.check(self.panel.task())
            cfg = tv_config(self.doc.config())
        except ConfigError as e:
            self.ui.error("TV comparison", str(e))
            return False
        return self.run_view.start(cfg)

    def show_impedance(self, start: bool = False) -> ImpedanceDialog | None:
        doc = self.doc
        if doc.image is not None:
            image, source = doc.image, "the open image"
        else:
            try:
                clean = resources.path(resources.SAMPLE_CLEAN)
                image, source = load_image(str(clean)).array, "the sample photo"
            except DIPError as e:
                self.ui.error("Why early stopping works", str(e))
                return None
        if self.dialog is not None:
            self.dialog.stop()
            self.dialog.deleteLater()
        self.dialog = ImpedanceDialog(image, source, self.ui.parent)
        self.dialog.show()
        if start:
            self.dialog.start()
        return self.dialog
