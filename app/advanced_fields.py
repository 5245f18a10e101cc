"""The settings panel's Advanced box: input, jitter, learning rate, EMA, backtracking, seed,
device, preview and snapshot intervals, memory budget, how a large photo is cut into tiles
(not a RunConfig field: it is the plan's ``tile`` argument, engine/tiling.py) and the pace
its tiles fit at (``tile_pace``, engine/schedule.py)."""
from __future__ import annotations

import math

from PySide6.QtCore import QLocale, Signal
from PySide6.QtGui import QDoubleValidator, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLineEdit, QSpinBox, QWidget,
)

from engine.config import RunConfig
from engine.device import available_devices
from engine.errors import ConfigError
from engine.schedule import QUICK_RATE, QUICK_STEPS, QUICK_WARMUP, quickens

from .settings_format import format_lr
from .settings_widgets import double_spin_box, select_data, spin_box

INPUT_LABELS = {"noise": "Uniform noise", "meshgrid": "Meshgrid (2 ch)", "guide": "Guide image (flash)"}
LR_RANGE = (1e-6, 10.0)
LR_TIP = (f"Adam learning rate, {LR_RANGE[0]:g} to {LR_RANGE[1]:g}. The tiles of a photo cut into "
          f"tiles run at {QUICK_RATE:g} x it after a warm-up when Tile pace is quick.")
_INVALID_STYLE = "border: 1px solid #d33;"
# the choices of the Tiles row: what plan_job's ``tile`` gets (a side in input pixels)
TILE_CHOICES: tuple[tuple[str, str | int], ...] = (
    ("auto", "auto"), ("off (one run)", "off"),
    *((f"{s} px", s) for s in (64, 96, 128, 192, 256, 384, 512, 768, 1024)),
)
TILE_TIP = ("How a photo too large for one run is restored: auto cuts it into overlapping tiles "
            "when one run would not fit (and inpaints crops around the mask of a large photo), "
            "off runs the whole image at once, a size forces tiles of that side.")
PACE_CHOICES = (("auto", "auto"), ("quick", "quick"), ("same as one run", "same"))
PACE_TIP = (f"How the tiles of a photo cut into tiles fit: quick warms up to {QUICK_RATE:g} x the learning "
            f"rate over {QUICK_WARMUP} steps, then lowers it (about {QUICK_STEPS:.0%} of the steps; "
            "benchmarks/README.md, 'The quick pace'); same fits each tile as one run of the whole photo would; "
            "auto is quick, except on a camera's correlated noise (the Noise row), where it is the same "
            "(the stop for a camera's noise was measured at one run's pace).")
PACE_OWN = "This preset has a learning-rate schedule of its own: its tiles keep it."


class AdvancedFields(QWidget):
    """The Advanced fields; ``changed`` fires on every edit, also while the panel loads a
    config (the panel ignores it then)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._exact: dict[int, tuple[float, float]] = {}    # id(spin) -> (shown, exact value)
        self._lr_exact: tuple[str, float] | None = None
        self._flash = False
        adv = QFormLayout(self)
        adv.setContentsMargins(12, 0, 0, 0)

        self.input_combo = QComboBox()
        for k, label in INPUT_LABELS.items():
            self.input_combo.addItem(label, k)
        self.input_combo.setToolTip("The fixed network input z: noise, a coordinate grid, or the flash photo.")
        self.input_combo.currentIndexChanged.connect(self._on_input_kind)
        adv.addRow("Input:", self.input_combo)

        self.input_channels_spin = self._spin(1, 256, "Channels of the noise input z.")
        adv.addRow("Input channels:", self.input_channels_spin)

        self.sigma_spin = self._dspin(0.0, 1.0, 4, 0.005,
                                      "Std of the noise added to the input each step (regularises).")
        adv.addRow("Input jitter \u03c3p:", self.sigma_spin)

        self.lr_edit = QLineEdit()
        validator = QDoubleValidator(0.0, LR_RANGE[1], 8, self.lr_edit)
        validator.setLocale(QLocale.c())   # the engine speaks '0.01' whatever the system locale
        self.lr_edit.setValidator(validator)
        self.lr_edit.setToolTip(LR_TIP)
        self.lr_edit.textChanged.connect(self.changed)
        adv.addRow("Learning rate:", self.lr_edit)

        self.ema_spin = self._dspin(0.0, 0.9999, 4, 0.001,
                                    "Weight of the exponential moving average of outputs; 0 = off.")
        adv.addRow("EMA weight:", self.ema_spin)

        bt = QWidget()
        bt_row = QHBoxLayout(bt)
        bt_row.setContentsMargins(0, 0, 0, 0)
        self.backtrack_spin = self._dspin(0.1, 100.0, 1, 0.5,
                                          "Loss jump (dB) that undoes the step and restores the previous weights.")
        self.backtrack_spin.setSuffix(" dB")
        self.backtrack_off = QCheckBox("off")
        self.backtrack_off.setToolTip("Never undo steps, even when the loss jumps.")
        self.backtrack_off.toggled.connect(self._on_backtrack_off)
        bt_row.addWidget(self.backtrack_spin, 1)
        bt_row.addWidget(self.backtrack_off)
        adv.addRow("Backtracking:", bt)

        self.seed_spin = self._spin(0, 2 ** 31 - 1, "Seed of the input noise, the weights and the jitter.")
        adv.addRow("Seed:", self.seed_spin)

        self.device_combo = QComboBox()
        for d in available_devices():
            self.device_combo.addItem(d, d)
        self.device_combo.setToolTip("Where the network runs; auto picks a GPU when there is one.")
        self.device_combo.currentIndexChanged.connect(self.changed)
        adv.addRow("Device:", self.device_combo)

        self.preview_spin = self._spin(1, 100_000, "Steps between two preview images sent to the window.")
        self.preview_spin.setSuffix(" steps")
        adv.addRow("Preview every:", self.preview_spin)

        self.snapshot_spin = self._spin(1, 100_000, "Steps between two snapshots kept in the history.")
        self.snapshot_spin.setSuffix(" steps")
        adv.addRow("Snapshot every:", self.snapshot_spin)

        self.memory_spin = self._spin(16, 1_048_576, "Memory for the snapshot history and best-iterate window.")
        self.memory_spin.setSuffix(" MB")
        self.memory_spin.setSingleStep(64)
        adv.addRow("Memory budget:", self.memory_spin)

        self.tile_combo = self._combo(TILE_CHOICES, TILE_TIP)
        adv.addRow("Tiles:", self.tile_combo)

        self.pace_combo = self._combo(PACE_CHOICES, PACE_TIP)
        adv.addRow("Tile pace:", self.pace_combo)

    def tile(self) -> str | int:
        """"auto", "off" or a tile side in pixels: plan_job's ``tile``."""
        return self.tile_combo.currentData()

    def set_tile(self, tile: str | int) -> None:
        i = self.tile_combo.findData(tile)
        if i < 0 and isinstance(tile, int):
            self.tile_combo.addItem(f"{tile} px", tile)
            i = self.tile_combo.count() - 1
        if i >= 0:
            self.tile_combo.setCurrentIndex(i)

    def _combo(self, choices, tip: str) -> QComboBox:
        c = QComboBox()
        for label, value in choices:
            c.addItem(label, value)
        c.setToolTip(tip)
        c.currentIndexChanged.connect(self.changed)
        return c

    def _spin(self, lo: int, hi: int, tip: str) -> QSpinBox:
        s = spin_box(lo, hi, tip)
        s.valueChanged.connect(self.changed)
        return s

    def _dspin(self, lo: float, hi: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
        s = double_spin_box(lo, hi, decimals, step, tip)
        s.valueChanged.connect(self.changed)
        return s

    # ------------------------------------------------------------------ values
    def fields(self) -> dict:
        """The RunConfig fields shown here; raises ``ConfigError`` for an unusable learning rate."""
        return dict(
            input_kind=self.input_combo.currentData(),
            input_channels=self.input_channels_spin.value(),
            sigma_p=self._float(self.sigma_spin),
            lr=self.lr(),
            ema=self._float(self.ema_spin),
            backtrack_db=None if self.backtrack_off.isChecked() else self._float(self.backtrack_spin),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData(),
            preview_every=self.preview_spin.value(),
            snapshot_every=self.snapshot_spin.value(),
            memory_budget_mb=self.memory_spin.value(),
            tile_pace=self.pace_combo.currentData(),
        )

    def habits(self) -> dict:
        """The machine/habit settings as shown, which a new preset or task keeps."""
        return dict(device=self.device_combo.currentData(), seed=self.seed_spin.value(),
                    preview_every=self.preview_spin.value(), snapshot_every=self.snapshot_spin.value(),
                    memory_budget_mb=self.memory_spin.value())

    def show_config(self, cfg: RunConfig) -> None:
        select_data(self.input_combo, cfg.input_kind)
        self.input_channels_spin.setValue(cfg.input_channels)
        self._set_float(self.sigma_spin, cfg.sigma_p)
        self._set_lr(cfg.lr)
        self._set_float(self.ema_spin, cfg.ema)
        self.backtrack_off.setChecked(cfg.backtrack_db is None)
        self._set_float(self.backtrack_spin, cfg.backtrack_db if cfg.backtrack_db is not None else 5.0)
        self.seed_spin.setValue(cfg.seed)
        if self.device_combo.findData(cfg.device) < 0:
            # a config from another machine: show the device so config() round-trips
            self.device_combo.addItem(f"{cfg.device} (not available)", cfg.device)
        select_data(self.device_combo, cfg.device)
        self.preview_spin.setValue(cfg.preview_every)
        self.snapshot_spin.setValue(cfg.snapshot_every)
        self.memory_spin.setValue(cfg.memory_budget_mb)
        select_data(self.pace_combo, cfg.tile_pace)
        own = not quickens(cfg.replace(tile_pace="quick"))   # a schedule of its own
        self.pace_combo.setEnabled(not own)
        self.pace_combo.setToolTip(PACE_OWN if own else PACE_TIP)

    def show_task(self, task: str) -> None:
        """The flash photo is the input; other tasks cannot use a guide image."""
        self._flash = task == "flash"
        if self._flash:
            select_data(self.input_combo, "guide")
        self.input_combo.setEnabled(not self._flash)
        self._update_enabled()

    def _update_enabled(self) -> None:
        model = self.input_combo.model()
        if isinstance(model, QStandardItemModel):
            item = model.item(self.input_combo.findData("guide"))
            if item is not None:
                item.setEnabled(self._flash or self.input_combo.currentData() == "guide")
        self.input_channels_spin.setEnabled(self.input_combo.currentData() == "noise")
        self.backtrack_spin.setEnabled(not self.backtrack_off.isChecked())

    def mark_lr(self, error: str) -> None:
        """Outline the learning rate when it is unusable, with the panel's ``error`` as its tip."""
        try:
            self.lr()
            bad = False
        except ConfigError:
            bad = True
        self.lr_edit.setStyleSheet(_INVALID_STYLE if bad else "")
        self.lr_edit.setToolTip(error if bad else LR_TIP)

    # ------------------------------------------------------------------ reactions
    def _on_input_kind(self, _index: int) -> None:
        self._update_enabled()
        self.changed.emit()

    def _on_backtrack_off(self, _checked: bool) -> None:
        self.backtrack_spin.setEnabled(not self.backtrack_off.isChecked())
        self.changed.emit()

    # ------------------------------------------------------------------ exact values
    # Spin boxes round to their decimals (1/30 shows as 0.0333): keep the exact value of a
    # loaded config as long as the user has not changed what the box shows.
    def _set_float(self, spin: QDoubleSpinBox, value: float) -> None:
        spin.setValue(value)
        self._exact[id(spin)] = (spin.value(), float(value))

    def _float(self, spin: QDoubleSpinBox) -> float:
        shown, exact = self._exact.get(id(spin), (None, 0.0))
        return exact if spin.value() == shown else spin.value()

    def _set_lr(self, lr: float) -> None:
        text = format_lr(lr)
        self._lr_exact = (text, float(lr))
        self.lr_edit.setText(text)

    def lr(self) -> float:
        """The learning rate as typed (or the exact loaded one); raises ``ConfigError``."""
        text = self.lr_edit.text().strip()
        if self._lr_exact is not None and text == self._lr_exact[0]:
            return self._lr_exact[1]
        try:
            lr = float(text.replace(",", "."))
        except ValueError:
            raise ConfigError(f"learning rate must be a number, got '{text}'") from None
        if not math.isfinite(lr) or not LR_RANGE[0] <= lr <= LR_RANGE[1]:
            raise ConfigError(f"learning rate must be between {LR_RANGE[0]:g} and {LR_RANGE[1]:g}, got {text}")
        return lr
