"""The classifier picker of the pre-image and activation-maximisation tasks, and their live curve.

One row group in the settings panel (shown for those two tasks only): the classifier Phi (a
TorchScript file from a file dialog, or ``alexnet:WEIGHTS`` / ``vgg16:WEIGHTS`` typed in), the
layer (its ``named_modules()`` names), the unit (a number, or a class name when the classifier
carries class names), a button that runs the TV-prior comparison, and a curve of the feature
distance (log scale) or the activation of the run going on.

Loading a classifier here deserialises it only (no tensor operation runs on the GUI thread);
the unit count shown is read from the modules' attributes, and the run checks it exactly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from engine.classifier import load_classifier
from engine.config import CLASSIFIER_TASKS, RunConfig
from engine.errors import ConfigError

from .plots import LogLossAxis
from .settings_widgets import spin_box

OUTPUT_LAYER = "output (before soft-max)"
FILE_FILTER = "TorchScript models (*.pt *.pth *.ts *.torchscript);;All files (*)"
MAX_UNITS = 1_000_000


@dataclass
class ClassifierInfo:
    """What the picker shows of a classifier; the model itself is not kept (a VGG-16 is half a
    gigabyte, and the run loads its own copy in the worker)."""

    layers: list[str]
    units: dict[str | None, int | None]
    input_size: tuple[int, int] | None
    class_names: list[str] | None

    def units_hint(self, layer: str | None) -> int | None:
        return self.units.get(layer)


class ExperimentCurve(pg.PlotWidget):
    """Feature distance (log y) or activation (linear y) against the step, live."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w", axisItems={"left": LogLossAxis("left", max_labels=4)})
        self.setMinimumHeight(120)
        self.setMaximumHeight(170)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.getViewBox().setMouseEnabled(x=False, y=False)
        self.curve = self.plot([], [], pen=pg.mkPen("#1f77b4", width=1.5))
        self.steps: list[int] = []
        self.values: list[float] = []
        self.task = "preimage"
        self.sign = 1.0
        self.reset("preimage")

    def reset(self, task: str, prior: str = "dip") -> None:
        self.task = task
        self.sign = 1.0 if task == "preimage" else -1.0
        self.steps, self.values = [], []
        self.curve.setData([], [])
        what = "feature distance" if task == "preimage" else "activation"
        if prior == "tv":
            what += " (+ TV term)" if task == "preimage" else " (- TV term)"
        self.setLogMode(y=task == "preimage")
        self.getAxis("left").enableAutoSIPrefix(False)   # "x0.001" over a log axis misreads
        # the last run's range would be read in the new mode (an activation's 33 as 1e33)
        self.setRange(xRange=(0, 1), yRange=(-1, 0) if task == "preimage" else (0, 1), padding=0)
        self.enableAutoRange()
        self.setLabel("left", what)
        self.setLabel("bottom", "step")

    def append(self, steps, losses) -> None:
        """A batch of (step, loss) as the worker sends them; the loss is the run's objective."""
        self.steps.extend(int(s) for s in np.asarray(steps))
        self.values.extend(self.sign * float(v) for v in np.asarray(losses))
        y = np.asarray(self.values)
        if self.task == "preimage":
            y = np.clip(y, 1e-12, None)
        self.curve.setData(np.asarray(self.steps), y)


class ClassifierFields(QWidget):
    """Classifier, layer and unit of a preimage/actmax run; ``fields()`` goes into the config."""

    changed = Signal()
    tvRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classifier: ClassifierInfo | None = None
        self.spec = ""
        self.problem = ""
        self._task = "preimage"
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        form = self.form = QFormLayout()
        col.addLayout(form)

        row = QHBoxLayout()
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("model.pt, or alexnet:weights.pth")
        self.spec_edit.setToolTip("A TorchScript file taking a 1x3xHxW image in [0, 1], or alexnet:FILE / vgg16:FILE "
                                  "(torchvision and a state_dict file you have; nothing is downloaded).")
        self.spec_edit.editingFinished.connect(lambda: self.set_classifier(self.spec_edit.text()))
        self.browse_button = QPushButton("Choose\u2026")
        self.browse_button.setToolTip("Choose a TorchScript classifier file")
        self.browse_button.clicked.connect(self.browse)
        row.addWidget(self.spec_edit, 1)
        row.addWidget(self.browse_button)
        form.addRow("Classifier:", row)

        self.status_label = QLabel("no classifier chosen")
        self.status_label.setWordWrap(True)
        form.addRow("", self.status_label)

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose features are matched (pre-image) or whose unit is maximised; "
                                    "names as the model's named_modules() gives them.")
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        form.addRow("Layer:", self.layer_combo)

        unit_row = QHBoxLayout()
        self.unit_spin = spin_box(0, MAX_UNITS, "Activation maximisation: the channel (its spatial mean) or the "
                                                "logit to maximise")
        self.unit_spin.valueChanged.connect(self._on_unit)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose logit to maximise (names carried by the classifier)")
        self.class_combo.currentIndexChanged.connect(self._on_class)
        unit_row.addWidget(self.unit_spin)
        unit_row.addWidget(self.class_combo, 1)
        self.unit_row = QWidget()
        self.unit_row.setLayout(unit_row)
        unit_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Unit:", self.unit_row)

        self.tv_button = QPushButton("Compare: run with the TV prior")
        self.tv_button.setToolTip("Optimise the pixels directly with a total-variation regulariser (Mahendran & "
                                  "Vedaldi), same classifier, layer and unit; the run joins the Runs list")
        self.tv_button.clicked.connect(self.tvRequested)
        col.addWidget(self.tv_button)
        self.curve = ExperimentCurve()
        col.addWidget(self.curve)
        self._fill_layers()
        self.show_task("preimage")

    # ---- the classifier ----------------------------------------------------------------
    def browse(self) -> None:
        start = os.path.dirname(self.spec) if self.spec and os.path.exists(self.spec) else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a classifier (TorchScript)", start, FILE_FILTER)
        if path:
            self.set_classifier(path)

    def set_classifier(self, spec: str) -> bool:
        """Load ``spec``; on failure the message shows under the field and the run is refused."""
        spec = (spec or "").strip()
        if spec == self.spec and (self.classifier is not None or not spec):
            return self.classifier is not None
        self.spec = spec
        self.spec_edit.setText(spec)
        self.classifier = None
        self.problem = ""
        if spec:
            try:
                clf = load_classifier(spec)
                layers = clf.layers()
                self.classifier = ClassifierInfo(layers, {k: clf.units_hint(k) for k in [None, *layers]},
                                                 clf.input_size, clf.class_names)
                del clf
            except ConfigError as e:
                self.problem = str(e)
        self._fill_layers()
        self._show_status()
        self.changed.emit()
        return self.classifier is not None

    def _show_status(self) -> None:
        if self.problem:
            self.status_label.setText(self.problem)
            self.status_label.setStyleSheet("color: #c33;")
        elif self.classifier is None:
            self.status_label.setText("no classifier chosen")
            self.status_label.setStyleSheet("color: #c33;")
        else:
            c = self.classifier
            size = f", input {c.input_size[1]}x{c.input_size[0]}" if c.input_size else ""
            classes = f", {len(c.class_names)} class names" if c.class_names else ""
            self.status_label.setText(f"{len(c.layers)} layers{size}{classes}")
            self.status_label.setStyleSheet("")

    def _fill_layers(self, selected: str | None = None) -> None:
        combo = self.layer_combo
        was = combo.blockSignals(True)
        combo.clear()
        combo.addItem(OUTPUT_LAYER, None)
        for name in self.classifier.layers if self.classifier else []:
            combo.addItem(name, name)
        i = combo.findData(selected) if selected else 0
        combo.setCurrentIndex(max(i, 0))
        combo.blockSignals(was)
        self._fill_units()

    def _fill_units(self) -> None:
        layer = self.layer()
        n = self.classifier.units_hint(layer) if self.classifier else None
        self.unit_spin.setMaximum(n - 1 if n else MAX_UNITS)
        names = self.classifier.class_names if self.classifier and layer is None else None
        was = self.class_combo.blockSignals(True)
        self.class_combo.clear()
        for i, name in enumerate(names or []):
            self.class_combo.addItem(f"{i}: {name}", i)
        self.class_combo.setVisible(bool(names))
        self.class_combo.setCurrentIndex(self.class_combo.findData(self.unit_spin.value()))
        self.class_combo.blockSignals(was)

    def _on_layer(self, _i: int) -> None:
        self._fill_units()
        self.changed.emit()

    def _on_unit(self, value: int) -> None:
        was = self.class_combo.blockSignals(True)
        self.class_combo.setCurrentIndex(self.class_combo.findData(value))
        self.class_combo.blockSignals(was)
        self.changed.emit()

    def _on_class(self, _i: int) -> None:
        unit = self.class_combo.currentData()
        if unit is not None:
            self.unit_spin.setValue(int(unit))

    # ---- the panel's side --------------------------------------------------------------
    def layer(self) -> str | None:
        return self.layer_combo.currentData()

    def show_task(self, task: str) -> None:
        self._task = task
        self.form.setRowVisible(self.unit_row, task == "actmax")
        self.curve.reset(task)

    def fields(self, task: str) -> dict:
        """The config fields this group owns, for ``task`` (nothing for restoration tasks)."""
        if task not in CLASSIFIER_TASKS:
            return {}
        return {"classifier": self.spec or None, "layer": self.layer(), "unit": self.unit_spin.value()}

    def check(self, task: str) -> None:
        """Raise ConfigError when ``task`` needs a classifier this group does not have."""
        if task not in CLASSIFIER_TASKS:
            return
        if self.problem:
            raise ConfigError(self.problem)
        if self.classifier is None:
            what = "the pre-image" if task == "preimage" else "activation maximisation"
            raise ConfigError(f"choose a classifier for {what}: a TorchScript file, or alexnet:/vgg16:WEIGHTS")

    def show_config(self, cfg: RunConfig) -> None:
        """Show a config's classifier, layer and unit (a run again, a project)."""
        if cfg.task not in CLASSIFIER_TASKS or not cfg.classifier:
            return
        self.blockSignals(True)
        try:
            self.set_classifier(cfg.classifier)
            self._fill_layers(cfg.layer)
            self.unit_spin.setValue(cfg.unit)
        finally:
            self.blockSignals(False)
