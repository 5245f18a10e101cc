""""Simulate a degradation": make a degraded input (and its reference) from a clean image,
so a restoration can be scored against the truth. The degradations are engine.degrade's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox,
    QVBoxLayout, QWidget,
)

from engine import degrade
from engine.config import SCALES
from engine.errors import DIPError

KINDS = {
    "noise": "Gaussian noise",
    "drop": "Drop pixels",
    "downscale": "Downscale",
    "jpeg": "JPEG compression",
}
TASK_OF_KIND = {"noise": "denoise", "drop": "inpaint", "downscale": "superres", "jpeg": "jpeg"}
FACTORS = SCALES
PREVIEW_SIZE = 256
DEBOUNCE_MS = 120


@dataclass
class Simulated:
    """A degraded input, the clean reference in the result's geometry, and what it needs:
    the known-pixel mask (True = kept) for inpainting, the factor for super-resolution."""

    task: str
    degraded: np.ndarray
    reference: np.ndarray
    mask: np.ndarray | None
    scale: int | None
    description: str = ""


def simulate(clean: np.ndarray, kind: str, *, sigma: float = 25.0, fraction: float = 0.5,
             factor: int = 4, quality: int = 10, seed: int = 0) -> Simulated:
    """Degrade ``clean`` (HxWxC float32 in [0, 1]) with engine.degrade."""
    clean = np.asarray(clean, dtype=np.float32)
    if clean.ndim == 2:
        clean = clean[:, :, None]
    if kind == "noise":
        return Simulated("denoise", degrade.add_noise(clean, sigma, seed), clean.copy(), None, None,
                         f"Gaussian noise \u03c3={sigma:g}, seed {seed}")
    if kind == "drop":
        img, mask = degrade.drop_pixels(clean, fraction, seed)
        return Simulated("inpaint", img, clean.copy(), mask, None,
                         f"{fraction:.0%} of pixels dropped, seed {seed}")
    if kind == "downscale":
        # the reference is the high-res image cropped exactly as downscale crops it
        reference = degrade.crop_to_multiple(clean, factor)
        return Simulated("superres", degrade.downscale(clean, factor), reference, None, int(factor),
                         f"downscaled \u00d7{factor}")
    if kind == "jpeg":
        return Simulated("jpeg", degrade.jpeg(clean, quality), clean.copy(), None, None,
                         f"JPEG quality {quality}")
    raise ValueError(f"unknown degradation {kind!r}: choose one of {', '.join(KINDS)}")


def to_qimage(a: np.ndarray) -> QImage:
    """HxWx1 or HxWx3 float array in [0, 1] -> an independent QImage."""
    u8 = np.ascontiguousarray(np.clip(np.rint(np.asarray(a) * 255.0), 0, 255).astype(np.uint8))
    if u8.ndim == 3 and u8.shape[2] == 1:
        u8 = np.ascontiguousarray(u8[:, :, 0])
    h, w = u8.shape[:2]
    if u8.ndim == 2:
        img = QImage(u8.data, w, h, w, QImage.Format_Grayscale8)
    else:
        img = QImage(u8.data, w, h, 3 * w, QImage.Format_RGB888)
    return img.copy()   # the numpy buffer goes away with this function


class SimulateDialog(QDialog):
    """Choose a degradation and its parameters; ``result_data()`` gives the Simulated input."""

    def __init__(self, clean: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Simulate a degradation")
        self.setMinimumWidth(PREVIEW_SIZE + 120)
        clean = np.asarray(clean, dtype=np.float32)
        self._clean = clean[:, :, None] if clean.ndim == 2 else clean
        self._cache: tuple[tuple, Simulated] | None = None
        self._error = ""

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._update_preview)

        col = QVBoxLayout(self)
        form = self._form = QFormLayout()
        col.addLayout(form)

        self.kind_combo = QComboBox()
        for k, label in KINDS.items():
            self.kind_combo.addItem(label, k)
        self.kind_combo.setToolTip("Which degradation to apply; it decides the restoration task.")
        self.kind_combo.currentIndexChanged.connect(self._on_kind)
        form.addRow("Degradation:", self.kind_combo)

        self.sigma_spin = QDoubleSpinBox()
        self.sigma_spin.setRange(0.0, 100.0)
        self.sigma_spin.setDecimals(1)
        self.sigma_spin.setValue(25.0)
        self.sigma_spin.setSuffix(" / 255")
        self.sigma_spin.setToolTip("Standard deviation of the Gaussian noise on the 0-255 scale (the paper uses 25).")
        form.addRow("Noise \u03c3:", self.sigma_spin)

        self.fraction_spin = QDoubleSpinBox()
        self.fraction_spin.setRange(0.05, 0.99)
        self.fraction_spin.setDecimals(2)
        self.fraction_spin.setSingleStep(0.05)
        self.fraction_spin.setValue(0.5)
        self.fraction_spin.setToolTip("Fraction of pixels removed at random (they become unknown).")
        form.addRow("Dropped fraction:", self.fraction_spin)

        self.factor_combo = QComboBox()
        for f in FACTORS:
            self.factor_combo.addItem(f"\u00d7{f}", f)
        self.factor_combo.setCurrentIndex(FACTORS.index(4))
        self.factor_combo.setToolTip("The image is cropped to a multiple of this and shrunk with Lanczos.")
        form.addRow("Downscale factor:", self.factor_combo)

        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 95)
        self.quality_spin.setValue(10)
        self.quality_spin.setToolTip("JPEG quality: lower means stronger blocking artefacts.")
        form.addRow("JPEG quality:", self.quality_spin)

        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.seed_spin.setToolTip("Seed of the random noise or dropped pixels (same seed, same result).")
        form.addRow("Seed:", self.seed_spin)

        for w in (self.sigma_spin, self.fraction_spin, self.quality_spin, self.seed_spin):
            w.valueChanged.connect(self._schedule)
        self.factor_combo.currentIndexChanged.connect(self._schedule)

        self.preview_label = QLabel()
        self.preview_label.setAlignment(Qt.AlignCenter)
        self.preview_label.setMinimumSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.preview_label.setToolTip("The degraded image (scaled to fit).")
        col.addWidget(self.preview_label, 1)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setMinimumHeight(2 * self.info_label.fontMetrics().lineSpacing())
        col.addWidget(self.info_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        col.addWidget(self.buttons)

        self._on_kind()
        self._update_preview()

    # ------------------------------------------------------------------ public API
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def set_kind(self, kind: str) -> None:
        i = self.kind_combo.findData(kind)
        if i < 0:
            raise ValueError(f"unknown degradation {kind!r}: choose one of {', '.join(KINDS)}")
        self.kind_combo.setCurrentIndex(i)

    def result_data(self) -> Simulated | None:
        """The degraded input for the current settings; None when they cannot apply
        (e.g. an image smaller than the downscale factor)."""
        key = self._key()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            sim = simulate(self._clean, key[0], sigma=key[1], fraction=key[2], factor=key[3],
                           quality=key[4], seed=key[5])
        except (DIPError, ValueError) as e:
            self._error = str(e)
            return None
        self._error = ""
        self._cache = (key, sim)
        return sim

    def accept(self) -> None:
        if self.result_data() is None:
            self._update_preview()
            return
        super().accept()

    # ------------------------------------------------------------------ internals
    def _key(self) -> tuple:
        return (self.kind(), self.sigma_spin.value(), self.fraction_spin.value(),
                int(self.factor_combo.currentData()), self.quality_spin.value(), self.seed_spin.value())

    def _on_kind(self, *_args) -> None:
        kind = self.kind()
        self._form.setRowVisible(self.sigma_spin, kind == "noise")
        self._form.setRowVisible(self.fraction_spin, kind == "drop")
        self._form.setRowVisible(self.factor_combo, kind == "downscale")
        self._form.setRowVisible(self.quality_spin, kind == "jpeg")
        self._form.setRowVisible(self.seed_spin, kind in ("noise", "drop"))
        self._schedule()

    def _schedule(self, *_args) -> None:
        self._timer.start()

    def _update_preview(self) -> None:
        sim = self.result_data()
        ok = self.buttons.button(QDialogButtonBox.Ok)
        ok.setEnabled(sim is not None)
        if sim is None:
            self.preview_label.clear()
            self.info_label.setText(f"<span style='color:#c33'>{self._error}</span>")
            return
        pix = QPixmap.fromImage(to_qimage(sim.degraded))
        # nearest-neighbour when enlarging so a low-res result shows its real pixels
        mode = Qt.FastTransformation if max(pix.width(), pix.height()) < PREVIEW_SIZE else Qt.SmoothTransformation
        self.preview_label.setPixmap(pix.scaled(PREVIEW_SIZE, PREVIEW_SIZE, Qt.KeepAspectRatio, mode))
        h, w = sim.degraded.shape[:2]
        info = f"{sim.description}: {w} x {h} input for the '{sim.task}' task"
        self.info_label.setText(info)
