"""The "choose what to do" panel: task, preset, network and the advanced run settings.

The panel edits a :class:`engine.config.RunConfig`. It starts from a preset (all of the
preset's fields, including those it does not show: kernels, pick, the stopping rule's
settings...)
and overlays what the user changed, so ``config()`` of an untouched preset equals
``engine.presets.get_config(name)``.
"""
from __future__ import annotations

import copy
import dataclasses
import math

from PySide6.QtCore import QLocale, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QScrollArea, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from engine.config import SCALES, NetConfig, RunConfig, TASKS
# available_devices and device_memory_bytes stay importable from here for app/main_window.py
from engine.device import available_devices, device_memory_bytes, pick_device
from engine.errors import ConfigError, DIPError
from engine.estimate import Estimate, estimate_cost
from engine.inputs import input_channels as engine_input_channels
from engine.nets import count_parameters
from engine.presets import DEFAULT_PRESET, PRESETS, Preset, get_config, presets_for

TASK_LABELS = {
    "denoise": "Denoise",
    "jpeg": "JPEG artefact removal",
    "inpaint": "Inpainting",
    "superres": "Super-resolution",
    "enhance": "Detail enhancement",
    "flash": "Flash / no-flash",
}
ARCH_LABELS = {
    "skip": "Skip hourglass",
    "hourglass": "Hourglass (no skips)",
    "unet": "U-Net",
    "resnet": "ResNet",
}
INPUT_LABELS = {"noise": "Uniform noise", "meshgrid": "Meshgrid (2 ch)", "guide": "Guide image (flash)"}
SR_FACTORS = SCALES   # one home for the factors the engine accepts
LR_RANGE = (1e-6, 10.0)
DEBOUNCE_MS = 150
_STATE_GROUP = "settings_panel"
_INVALID_STYLE = "border: 1px solid #d33;"
STEPS_TIP_AUTO = ("The most Adam steps the run may take; it usually stops earlier, at its best "
                  "iterate (see the check box below).")
STEPS_TIP_FIXED = "Number of Adam steps (iterations) of the run."
# Past this expected wall time the panel offers the faster choices under the sentence: ten
# minutes is about where a user stops waiting at the screen and starts wondering.
LONG_RUN_SECONDS = 10 * 60
# The fast preset is offered only when it saves at least this share of the time: switching
# throws away the user's network settings, which a few percent does not pay for.
FAST_PRESET_MIN_GAIN = 0.2
# Below this longer side a region or a downscaled copy leaves too little image to restore;
# a long run there comes from the step count, which those choices do not change.
SHRINK_MIN_SIDE = 128
WALL_TIME_TIP = ("Estimated seconds per step times the number of steps: a rough guide, measured "
                 "on a small CPU; GPU times are a scaled guess.")


def _uniform(values: list) -> bool:
    return len(set(values)) <= 1


def is_per_level(net: NetConfig) -> bool:
    """Whether the net has per-level settings that depth/channels/skip cannot express."""
    if net.arch == "resnet":
        return False
    lists = [net.channels_down, net.channels_up, net.channels_skip]
    if not all(_uniform(v) for v in lists) or net.channels_up != net.channels_down:
        return True
    return any(isinstance(v, list) and not _uniform(v)
               for v in (net.kernel_down, net.kernel_up, net.kernel_skip, net.upsample))


def describe_levels(net: NetConfig) -> str:
    parts = []
    if net.channels_up == net.channels_down:
        parts.append(f"channels {net.channels_down}")
    else:
        parts.append(f"down {net.channels_down}, up {net.channels_up}")
    parts.append(f"skip {net.channels_skip}")
    for name in ("kernel_down", "kernel_up", "kernel_skip", "upsample"):
        v = getattr(net, name)
        if isinstance(v, list) and not _uniform(v):
            parts.append(f"{name} {v}")
    return "per-level: " + "; ".join(parts)


def _format_lr(lr: float) -> str:
    return f"{lr:g}"


def _format_bytes(n: float) -> str:
    gb = n / 1024 ** 3
    return f"{gb:.1f} GB" if gb >= 0.1 else f"{n / 1024 ** 2:.0f} MB"


def format_duration(seconds: float) -> str:
    """'40 s', '3 min', '1.5 h', '4 days': rounded as far as a rough estimate deserves."""
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{max(1, round(s))} s"
    if s < 57.5:
        return f"{round(s / 5) * 5} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = s / 3600
    if hours < 10:
        return f"{max(1.0, round(hours * 2) / 2):g} h"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(s / 86400)} days"


def _device_words(device_type: str) -> str:
    return "this CPU" if device_type == "cpu" else "the GPU"


def wall_time_sentence(seconds: float, device_type: str, auto_stop: bool) -> str:
    """What the user reads before Run; with the automatic stop the step count is only a cap."""
    where = _device_words(device_type)
    if auto_stop:
        return (f"at most about {format_duration(seconds)} on {where} "
                "(it usually stops sooner, at its best iterate)")
    return f"about {format_duration(seconds)} on {where}"


class SettingsPanel(QWidget):
    """Task, preset, network and run settings; ``config()`` gives the validated RunConfig."""

    configChanged = Signal()
    taskChanged = Signal(str)
    validityChanged = Signal(bool)
    guideRequested = Signal()
    tooLarge = Signal(str)
    # the long-run offer's choices the panel cannot carry out itself: the window owns the image
    regionRequested = Signal()
    downscaleRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base: RunConfig = get_config(task="denoise")   # carries the fields not shown
        self._net: NetConfig = copy.deepcopy(self._base.net)
        self._exact: dict[int, tuple[float, float]] = {}    # name -> (shown, exact value)
        self._lr_exact: tuple[str, float] | None = None
        self._loading = 0
        self._valid = True
        self._error = ""
        self._running = False
        self._image_hw: tuple[int, int] | None = None
        self._image_channels = 3
        self._guide_name: str | None = None
        self._param_cache: dict[tuple, int] = {}
        self._estimate_cache: dict[tuple, Estimate] = {}
        self._too_large_msg = ""

        self._cost_timer = QTimer(self)
        self._cost_timer.setSingleShot(True)
        self._cost_timer.setInterval(DEBOUNCE_MS)
        self._cost_timer.timeout.connect(self._update_cost)

        self._build()
        self._load(self._base, task_changed=False)

    # ------------------------------------------------------------------ UI construction
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        # the form wraps to the dock's width; a sideways scrollbar would hide the values
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.NoFrame)
        outer.addWidget(scroll)
        self._content = QWidget()
        scroll.setWidget(self._content)
        col = QVBoxLayout(self._content)

        form = self._form = QFormLayout()
        col.addLayout(form)

        self.task_combo = QComboBox()
        for t in TASKS:
            self.task_combo.addItem(TASK_LABELS.get(t, t), t)
        self.task_combo.setToolTip("What to restore: each task has its own data term and presets.")
        self.task_combo.currentIndexChanged.connect(self._on_task_combo)
        form.addRow("Task:", self.task_combo)

        self.scale_combo = QComboBox()
        for f in SR_FACTORS:
            self.scale_combo.addItem(f"\u00d7{f}", f)
        self.scale_combo.setToolTip("How many times larger the result is than the loaded image.")
        self.scale_combo.currentIndexChanged.connect(self._changed)
        form.addRow("Upscale factor:", self.scale_combo)

        self.guide_row = QWidget()
        row = QHBoxLayout(self.guide_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.guide_button = QPushButton("Flash photo\u2026")
        self.guide_button.setToolTip("Choose the flash photo: the network's input, whose details guide the result.")
        self.guide_button.clicked.connect(self.guideRequested)
        self.guide_label = QLabel()
        self.guide_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row.addWidget(self.guide_button)
        row.addWidget(self.guide_label, 1)
        form.addRow("Guide:", self.guide_row)

        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("A named starting point; choosing one loads all its values.")
        self.preset_combo.currentIndexChanged.connect(self._on_preset_combo)
        form.addRow("Preset:", self.preset_combo)

        self.arch_combo = QComboBox()
        for a, label in ARCH_LABELS.items():
            self.arch_combo.addItem(label, a)
        self.arch_combo.setToolTip("Network shape: the paper mostly uses the skip hourglass.")
        self.arch_combo.currentIndexChanged.connect(self._on_arch)
        form.addRow("Architecture:", self.arch_combo)

        self.depth_spin = self._spin(1, 8, "Number of down/up levels; images are padded to a multiple of 2^depth.")
        self.depth_spin.valueChanged.connect(self._on_width)
        form.addRow("Depth (levels):", self.depth_spin)

        self.channels_spin = self._spin(8, 256, "Feature channels per level (ResNet: per block); more = slower, "
                                                "more parameters.")
        self.channels_spin.valueChanged.connect(self._on_width)
        form.addRow("Channels:", self.channels_spin)

        self.skip_spin = self._spin(0, 128, "Channels of each skip connection; 0 = plain hourglass.")
        self.skip_spin.valueChanged.connect(self._on_width)
        form.addRow("Skip channels:", self.skip_spin)

        self.blocks_spin = self._spin(1, 32, "Number of residual blocks.")
        self.blocks_spin.valueChanged.connect(self._on_width)
        form.addRow("ResNet blocks:", self.blocks_spin)

        self.per_level_edit = QLineEdit()
        self.per_level_edit.setReadOnly(True)
        form.addRow("", self.per_level_edit)

        self.iterations_spin = self._spin(1, 1_000_000, STEPS_TIP_AUTO)
        self.iterations_spin.setSingleStep(100)
        self.iterations_spin.valueChanged.connect(self._changed)
        form.addRow("Steps:", self.iterations_spin)

        self.auto_stop_check = QCheckBox("Stop automatically at the best iterate")
        self.auto_stop_check.setChecked(True)
        self.auto_stop_check.setToolTip(
            "A few pixels are held out of the fit; their error falls while the network learns the "
            "image and rises once it starts copying the noise. The run stops when that error has "
            "not improved for a while, and the result is the best iterate (output or its moving "
            "average). Off: run every step; the marker still shows the best iterate.")
        self.auto_stop_check.toggled.connect(self._on_auto_stop)
        form.addRow("", self.auto_stop_check)

        self.params_label = QLabel("\u2014")
        self.params_label.setToolTip("Trainable parameters of the network for the current settings.")
        form.addRow("Parameters:", self.params_label)
        self.estimate_label = QLabel("load an image for an estimate")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setToolTip("Rough time per step and memory on the chosen device, "
                                       "at the output size.")
        form.addRow("Estimate:", self.estimate_label)

        self.wall_time_label = QLabel()
        self.wall_time_label.setObjectName("wallTimeLabel")
        self.wall_time_label.setWordWrap(True)
        self.wall_time_label.setToolTip(WALL_TIME_TIP)
        form.addRow(self.wall_time_label)

        self.faster_box = QWidget()
        self.faster_box.setObjectName("fasterOffer")
        fb = QVBoxLayout(self.faster_box)
        fb.setContentsMargins(0, 0, 0, 0)
        self.faster_title = QLabel("That is a long wait. Faster:")
        fb.addWidget(self.faster_title)
        self.fast_preset_button = QPushButton("Use the fast preset")
        self.fast_preset_button.setObjectName("fastPresetButton")
        self.fast_preset_button.setToolTip("Load this task's narrow network, which reaches about the "
                                           "same quality in a fraction of the time; keeps the device "
                                           "and the stop setting.")
        self.fast_preset_button.clicked.connect(self._use_fast_preset)
        fb.addWidget(self.fast_preset_button)
        shrink = QHBoxLayout()
        self.region_button = QPushButton("Work on a region\u2026")
        self.region_button.setObjectName("regionButton")
        self.region_button.setToolTip("Restore only a part of the image: time grows with its area.")
        self.region_button.clicked.connect(self.regionRequested)
        self.downscale_button = QPushButton("Downscale\u2026")
        self.downscale_button.setObjectName("downscaleButton")
        self.downscale_button.setToolTip("Work on a smaller copy of the image: time grows with its area.")
        self.downscale_button.clicked.connect(self.downscaleRequested)
        shrink.addWidget(self.region_button)
        shrink.addWidget(self.downscale_button)
        shrink.addStretch(1)
        fb.addLayout(shrink)
        form.addRow(self.faster_box)
        self._fast_preset: str | None = None   # what the fast-preset button loads
        self._show_wall_time(None)

        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self.set_advanced_visible)
        col.addWidget(self.advanced_button)

        self.advanced_box = QWidget()
        adv = self._adv_form = QFormLayout(self.advanced_box)
        adv.setContentsMargins(12, 0, 0, 0)
        col.addWidget(self.advanced_box)
        self.advanced_box.setVisible(False)

        self.input_combo = QComboBox()
        for k, label in INPUT_LABELS.items():
            self.input_combo.addItem(label, k)
        self.input_combo.setToolTip("The fixed network input z: noise, a coordinate grid, or the flash photo.")
        self.input_combo.currentIndexChanged.connect(self._on_input_kind)
        adv.addRow("Input:", self.input_combo)

        self.input_channels_spin = self._spin(1, 256, "Channels of the noise input z.")
        self.input_channels_spin.valueChanged.connect(self._changed)
        adv.addRow("Input channels:", self.input_channels_spin)

        self.sigma_spin = self._dspin(0.0, 1.0, 4, 0.005,
                                      "Std of the noise added to the input each step (regularises).")
        adv.addRow("Input jitter \u03c3p:", self.sigma_spin)

        self.lr_edit = QLineEdit()
        validator = QDoubleValidator(0.0, LR_RANGE[1], 8, self.lr_edit)
        validator.setLocale(QLocale.c())   # the engine speaks '0.01' whatever the system locale
        self.lr_edit.setValidator(validator)
        self.lr_edit.setToolTip(f"Adam learning rate, {LR_RANGE[0]:g} to {LR_RANGE[1]:g}.")
        self.lr_edit.textChanged.connect(self._changed)
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
        self.seed_spin.valueChanged.connect(self._changed)
        adv.addRow("Seed:", self.seed_spin)

        self.device_combo = QComboBox()
        for d in available_devices():
            self.device_combo.addItem(d, d)
        self.device_combo.setToolTip("Where the network runs; auto picks a GPU when there is one.")
        self.device_combo.currentIndexChanged.connect(self._changed)
        adv.addRow("Device:", self.device_combo)

        self.preview_spin = self._spin(1, 100_000, "Steps between two preview images sent to the window.")
        self.preview_spin.setSuffix(" steps")
        self.preview_spin.valueChanged.connect(self._changed)
        adv.addRow("Preview every:", self.preview_spin)

        self.snapshot_spin = self._spin(1, 100_000, "Steps between two snapshots kept in the history.")
        self.snapshot_spin.setSuffix(" steps")
        self.snapshot_spin.valueChanged.connect(self._changed)
        adv.addRow("Snapshot every:", self.snapshot_spin)

        self.memory_spin = self._spin(16, 1_048_576, "Memory for the snapshot history and best-iterate window.")
        self.memory_spin.setSuffix(" MB")
        self.memory_spin.setSingleStep(64)
        self.memory_spin.valueChanged.connect(self._changed)
        adv.addRow("Memory budget:", self.memory_spin)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c33;")
        self.error_label.setVisible(False)
        col.addWidget(self.error_label)
        col.addStretch(1)

    def _spin(self, lo: int, hi: int, tip: str) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setToolTip(tip)
        s.setKeyboardTracking(False)   # one update per finished edit, not per digit
        return s

    def _dspin(self, lo: float, hi: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setDecimals(decimals)
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setToolTip(tip)
        s.setKeyboardTracking(False)
        s.valueChanged.connect(self._changed)
        return s

    # ------------------------------------------------------------------ public API
    def config(self) -> RunConfig:
        """The validated config; raises ``ConfigError`` when a field is invalid."""
        task = self.task()
        net = copy.deepcopy(self._net)
        net.arch = self.arch_combo.currentData()
        cfg = dataclasses.replace(
            self._base,
            task=task,
            preset=self.preset_combo.currentData(),
            net=net,
            input_kind="guide" if task == "flash" else self.input_combo.currentData(),
            input_channels=self.input_channels_spin.value(),
            sigma_p=self._float(self.sigma_spin),
            lr=self._lr(),
            iterations=self.iterations_spin.value(),
            ema=self._float(self.ema_spin),
            backtrack_db=None if self.backtrack_off.isChecked() else self._float(self.backtrack_spin),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData(),
            scale=self.scale_combo.currentData() if task == "superres" else self._base.scale,
            preview_every=self.preview_spin.value(),
            snapshot_every=self.snapshot_spin.value(),
            memory_budget_mb=self.memory_spin.value(),
            stop="auto" if self.auto_stop_check.isChecked() else "never",
        )
        return cfg.validate()

    def set_config(self, cfg: RunConfig) -> None:
        """Show ``cfg`` (all of it; fields the panel has no widget for are kept as they are)."""
        cfg = copy.deepcopy(cfg)
        old = self.task()
        self._load(cfg, task_changed=cfg.task != old)

    def task(self) -> str:
        return self.task_combo.currentData()

    def set_task(self, name: str) -> None:
        """Switch task and load its default preset (no-op when it is already the task)."""
        if name not in TASKS:
            raise ConfigError(f"unknown task '{name}': choose one of {', '.join(TASKS)}")
        if name != self.task():
            self.task_combo.setCurrentIndex(self.task_combo.findData(name))

    def preset(self) -> str | None:
        return self.preset_combo.currentData()

    def is_valid(self) -> bool:
        return self._valid

    def error_message(self) -> str:
        return self._error

    def set_image_size(self, h: int | None, w: int | None = None, channels: int = 3) -> None:
        """The loaded image's size (for super-resolution: the low-resolution input); None clears."""
        self._image_hw = None if h is None or w is None else (int(h), int(w))
        self._image_channels = int(channels)
        self._schedule_cost()

    def expected_seconds(self) -> float | None:
        """Estimated wall time of the run as set (seconds per step x steps; with the automatic
        stop, an upper bound), or None without an image or with invalid settings."""
        try:
            cfg = self.config()
        except ConfigError:
            return None
        return self._expected_seconds(cfg)

    def set_guide_name(self, name: str | None) -> None:
        self._guide_name = name
        self._show_guide()

    def set_running(self, running: bool) -> None:
        self._running = running
        self._content.setEnabled(not running)

    def set_advanced_visible(self, visible: bool) -> None:
        if self.advanced_button.isChecked() != visible:
            self.advanced_button.setChecked(visible)   # re-enters through toggled
            return
        self.advanced_box.setVisible(visible)
        self.advanced_button.setArrowType(Qt.DownArrow if visible else Qt.RightArrow)

    def save_state(self, settings: QSettings) -> None:
        settings.beginGroup(_STATE_GROUP)
        settings.setValue("task", self.task())
        settings.setValue("preset", self.preset() or "")
        settings.setValue("device", self.device_combo.currentData())
        settings.setValue("advanced", bool(self.advanced_button.isChecked()))
        settings.setValue("auto_stop", bool(self.auto_stop_check.isChecked()))
        settings.endGroup()

    def restore_state(self, settings: QSettings) -> None:
        """Restore task, preset and device; unknown or unavailable values are ignored."""
        settings.beginGroup(_STATE_GROUP)
        task = settings.value("task", "", str)
        preset = settings.value("preset", "", str)
        device = settings.value("device", "", str)
        advanced = settings.value("advanced", False, bool)
        try:
            auto_stop = settings.value("auto_stop", True, bool)
        except (TypeError, ValueError):
            auto_stop = True
        settings.endGroup()
        if task in TASKS:
            self.set_task(task)
        i = self.preset_combo.findData(preset) if preset else -1
        if i >= 0:
            self.preset_combo.setCurrentIndex(i)
        i = self.device_combo.findData(device) if device else -1
        if i >= 0:
            self.device_combo.setCurrentIndex(i)
        self.set_advanced_visible(bool(advanced))
        self.auto_stop_check.setChecked(bool(auto_stop))

    # ------------------------------------------------------------------ loading fields
    def _presets(self, task: str) -> list[Preset]:
        # JPEG restoration is denoising with a different noise: its presets apply too
        extra = presets_for("denoise") if task == "jpeg" else []
        return presets_for(task) + extra

    def _fill_presets(self, task: str, selected: str | None) -> None:
        combo = self.preset_combo
        combo.blockSignals(True)
        combo.clear()
        for p in self._presets(task):
            combo.addItem(p.name, p.name)
            combo.setItemData(combo.count() - 1, p.summary, Qt.ToolTipRole)
        combo.setCurrentIndex(combo.findData(selected) if selected else -1)
        combo.blockSignals(False)
        self._show_preset_tooltip()

    def _show_preset_tooltip(self) -> None:
        i = self.preset_combo.currentIndex()
        summary = self.preset_combo.itemData(i, Qt.ToolTipRole) if i >= 0 else None
        self.preset_combo.setToolTip(summary or "A named starting point; choosing one loads all its values.")

    def _load(self, cfg: RunConfig, task_changed: bool) -> None:
        """Put every field of ``cfg`` into the widgets, then announce one change."""
        self._loading += 1
        try:
            self._base = cfg
            self._net = copy.deepcopy(cfg.net)
            n = self._net
            self._select(self.task_combo, cfg.task)
            self._fill_presets(cfg.task, cfg.preset)
            if self.scale_combo.findData(cfg.scale) < 0:
                self.scale_combo.addItem(f"\u00d7{cfg.scale}", cfg.scale)
            self._select(self.scale_combo, cfg.scale)
            self._select(self.arch_combo, n.arch)
            self._show_net_numbers()
            self.iterations_spin.setValue(cfg.iterations)
            self._select(self.input_combo, cfg.input_kind)
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
            self._select(self.device_combo, cfg.device)
            self.preview_spin.setValue(cfg.preview_every)
            self.snapshot_spin.setValue(cfg.snapshot_every)
            self.memory_spin.setValue(cfg.memory_budget_mb)
            self.auto_stop_check.setChecked(cfg.stop == "auto")
            self._show_steps_meaning()
            self._update_visibility()
        finally:
            self._loading -= 1
        if task_changed:
            self.taskChanged.emit(cfg.task)
        self._changed()

    def _show_net_numbers(self) -> None:
        """Depth/channels/skip/blocks spins from ``self._net`` (signals suppressed by _loading)."""
        n = self._net
        self._loading += 1
        try:
            if n.arch == "resnet":
                self.channels_spin.setValue(n.resnet_channels)
            else:
                self.depth_spin.setValue(len(n.channels_down))
                self.channels_spin.setValue(max(n.channels_down))
                self.skip_spin.setValue(max(n.channels_skip) if n.channels_skip else 0)
            self.blocks_spin.setValue(n.resnet_blocks)
        finally:
            self._loading -= 1
        self._show_per_level()

    def _show_per_level(self) -> None:
        per_level = is_per_level(self._net) and self.arch_combo.currentData() != "resnet"
        text = describe_levels(self._net) if per_level else ""
        self.per_level_edit.setText(text)
        self.per_level_edit.setCursorPosition(0)
        # the line is often wider than the panel: the tooltip shows it whole
        self.per_level_edit.setToolTip(text + "\nEditing depth or channels makes the levels uniform.")
        self._form.setRowVisible(self.per_level_edit, per_level)

    def _update_visibility(self) -> None:
        task = self.task()
        resnet = self.arch_combo.currentData() == "resnet"
        self._form.setRowVisible(self.scale_combo, task == "superres")
        self._form.setRowVisible(self.guide_row, task == "flash")
        self._form.setRowVisible(self.depth_spin, not resnet)
        # only the skip net reads n_s: the hourglass has no skips, the U-Net concatenates all
        self._form.setRowVisible(self.skip_spin, self.arch_combo.currentData() == "skip")
        self._form.setRowVisible(self.blocks_spin, resnet)
        self._show_per_level()
        self._show_guide()
        # the flash photo is the input; other tasks cannot use a guide image
        flash = task == "flash"
        if flash:
            self._select(self.input_combo, "guide")
        self.input_combo.setEnabled(not flash)
        model = self.input_combo.model()
        if isinstance(model, QStandardItemModel):
            item = model.item(self.input_combo.findData("guide"))
            if item is not None:
                item.setEnabled(flash or self.input_combo.currentData() == "guide")
        self.input_channels_spin.setEnabled(self.input_combo.currentData() == "noise")
        self.backtrack_spin.setEnabled(not self.backtrack_off.isChecked())

    def _show_guide(self) -> None:
        if self._guide_name:
            self.guide_label.setText(self._guide_name)
            self.guide_label.setStyleSheet("")
        else:
            self.guide_label.setText("no flash photo chosen")
            self.guide_label.setStyleSheet("color: #c33;")

    @staticmethod
    def _select(combo: QComboBox, data) -> None:
        i = combo.findData(data)
        if i >= 0:
            was = combo.blockSignals(True)
            combo.setCurrentIndex(i)
            combo.blockSignals(was)

    # Spin boxes round to their decimals (1/30 shows as 0.0333): keep the exact value of a
    # loaded config as long as the user has not changed what the box shows.
    def _set_float(self, spin: QDoubleSpinBox, value: float) -> None:
        spin.setValue(value)
        self._exact[id(spin)] = (spin.value(), float(value))

    def _float(self, spin: QDoubleSpinBox) -> float:
        shown, exact = self._exact.get(id(spin), (None, 0.0))
        return exact if spin.value() == shown else spin.value()

    def _set_lr(self, lr: float) -> None:
        text = _format_lr(lr)
        self._lr_exact = (text, float(lr))
        self.lr_edit.setText(text)

    def _lr(self) -> float:
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

    # ------------------------------------------------------------------ reactions
    def _on_task_combo(self, _index: int) -> None:
        if self._loading:
            return
        task = self.task()
        cfg = get_config(DEFAULT_PRESET[task], task=task)
        self._load(dataclasses.replace(cfg, **self._user_fields()), task_changed=True)

    def _user_fields(self) -> dict:
        """The machine/habit settings as shown, which a new preset or task keeps."""
        return dict(device=self.device_combo.currentData(), seed=self.seed_spin.value(),
                    preview_every=self.preview_spin.value(), snapshot_every=self.snapshot_spin.value(),
                    memory_budget_mb=self.memory_spin.value(),
                    stop="auto" if self.auto_stop_check.isChecked() else "never")

    def _on_preset_combo(self, _index: int) -> None:
        if self._loading:
            return
        self._show_preset_tooltip()
        name = self.preset_combo.currentData()
        if name is None:
            return
        self._load(self._preset_config(name), task_changed=False)

    def _preset_config(self, name: str) -> RunConfig:
        """Preset ``name`` as choosing it would load it: with the user's machine/habit settings."""
        cfg = get_config(name, task=self.task())
        keep = self._user_fields()
        if "scale" not in PRESETS[name].settings and self.scale_combo.currentData() is not None:
            keep["scale"] = self.scale_combo.currentData()   # an 'any factor' preset keeps the chosen one
        return dataclasses.replace(cfg, **keep)

    def _on_arch(self, _index: int) -> None:
        if self._loading:
            return
        was_resnet = self._net.arch == "resnet"
        self._net = dataclasses.replace(self._net, arch=self.arch_combo.currentData())
        if was_resnet != (self._net.arch == "resnet"):
            self._show_net_numbers()   # the channels box now means the other kind of channels
        self._update_visibility()
        self._changed()

    def _on_width(self, _value: int) -> None:
        if self._loading:
            return
        if self.arch_combo.currentData() == "resnet":
            self._net = dataclasses.replace(self._net, resnet_blocks=self.blocks_spin.value(),
                                            resnet_channels=self.channels_spin.value())
        else:
            self._net = self._net.with_width(self.depth_spin.value(), self.channels_spin.value(),
                                             self.skip_spin.value())
            self._net.resnet_blocks = self.blocks_spin.value()
        self._show_per_level()
        self._changed()

    def _on_input_kind(self, _index: int) -> None:
        if self._loading:
            return
        self._update_visibility()
        self._changed()

    def _on_auto_stop(self, _checked: bool) -> None:
        self._show_steps_meaning()
        self._changed()

    def _show_steps_meaning(self) -> None:
        auto = self.auto_stop_check.isChecked()
        label = self._form.labelForField(self.iterations_spin)
        if label is not None:
            label.setText("Max steps:" if auto else "Steps:")
        self.iterations_spin.setToolTip(STEPS_TIP_AUTO if auto else STEPS_TIP_FIXED)

    def _on_backtrack_off(self, _checked: bool) -> None:
        self.backtrack_spin.setEnabled(not self.backtrack_off.isChecked())
        self._changed()

    def _changed(self, *_args) -> None:
        if self._loading:
            return
        self._revalidate()
        self.configChanged.emit()
        self._schedule_cost()

    def _revalidate(self) -> None:
        try:
            self.config()
            error = ""
        except ConfigError as e:
            error = str(e)
        lr_bad = False
        try:
            self._lr()
        except ConfigError:
            lr_bad = True
        self.lr_edit.setStyleSheet(_INVALID_STYLE if lr_bad else "")
        self.lr_edit.setToolTip(error if lr_bad else f"Adam learning rate, {LR_RANGE[0]:g} to {LR_RANGE[1]:g}.")
        self._error = error
        self.error_label.setText(error)
        self.error_label.setVisible(bool(error))
        valid = not error
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)

    # ------------------------------------------------------------------ cost display
    def _schedule_cost(self) -> None:
        self._cost_timer.start()

    def _update_cost(self) -> None:
        try:
            cfg = self.config()
        except ConfigError:
            self.params_label.setText("\u2014 (invalid settings)")
            self._show_wall_time(None)
            return
        in_ch = engine_input_channels(cfg.input_kind, cfg.input_channels)
        if cfg.input_kind == "guide":
            in_ch = self._image_channels   # the flash photo has the image's channels
        out_ch = self._image_channels
        key = (repr(cfg.net), in_ch, out_ch)
        params = self._param_cache.get(key)
        if params is None:
            try:
                # on the meta device: building a real net here would run torch's weight init on
                # the GUI thread and start an OpenMP team there that slows the run's worker
                params = int(count_parameters(cfg.net, in_ch, out_ch))
            except (DIPError, ValueError, RuntimeError) as e:
                self.params_label.setText(f"\u2014 ({e})")
                self._show_wall_time(None)
                return
            self._param_cache[key] = params
        self.params_label.setText(f"{params:,} ({params / 1e6:.2f} M)")
        self._update_estimate(cfg)

    def _device_type(self, device: str) -> str:
        try:
            return pick_device(device).type
        except ConfigError:
            return "cpu"

    def _output_hw(self, cfg: RunConfig) -> tuple[int, int] | None:
        if self._image_hw is None:
            return None
        h, w = self._image_hw
        if cfg.task == "superres":
            h, w = h * cfg.scale, w * cfg.scale
        return h, w

    def _estimate(self, cfg: RunConfig) -> Estimate | None:
        """One step's cost of ``cfg`` at the output size (cached; no tensor is allocated),
        or None without an image. Raises what estimate_cost raises."""
        hw = self._output_hw(cfg)
        if hw is None:
            return None
        h, w = hw
        device = self._device_type(cfg.device)
        key = (repr(cfg.net), cfg.input_kind, cfg.input_channels, self._image_channels, h, w, device)
        est = self._estimate_cache.get(key)
        if est is None:
            est = estimate_cost(cfg, h, w, device, out_channels=self._image_channels)
            self._estimate_cache[key] = est
        return est

    def _expected_seconds(self, cfg: RunConfig) -> float | None:
        try:
            est = self._estimate(cfg)
        except (DIPError, ValueError, RuntimeError):
            return None
        return None if est is None else est.seconds_per_step * cfg.iterations

    def _update_estimate(self, cfg: RunConfig) -> None:
        hw = self._output_hw(cfg)
        if hw is None:
            self.estimate_label.setText("load an image for an estimate")
            self.estimate_label.setStyleSheet("")
            self._show_wall_time(None)
            return
        h, w = hw
        device = self._device_type(cfg.device)
        try:
            est = self._estimate(cfg)
        except (DIPError, ValueError, RuntimeError) as e:
            self.estimate_label.setText(f"no estimate ({e})")
            self._show_wall_time(None)
            return
        text = f"~{est.seconds_per_step:.2f} s/step, ~{_format_bytes(est.bytes)}"
        problem = getattr(est, "problem", None)
        if problem:
            text += f" ({problem})"
        total = device_memory_bytes(device)
        if est.bytes > total:
            msg = (f"{w}x{h} needs about {_format_bytes(est.bytes)} on {device} but it has "
                   f"{_format_bytes(total)}: use fewer channels, a smaller image or another device")
            self.estimate_label.setText(f"{text} \u2014 too large for {device} ({_format_bytes(total)})")
            self.estimate_label.setStyleSheet("color: #c33;")
            if msg != self._too_large_msg:
                self._too_large_msg = msg
                self.tooLarge.emit(msg)
        else:
            self._too_large_msg = ""
            self.estimate_label.setText(text)
            self.estimate_label.setStyleSheet("")
        self._show_wall_time(cfg, est.seconds_per_step * cfg.iterations, device)

    # ------------------------------------------------------------------ expected wall time
    def _show_wall_time(self, cfg: RunConfig | None, seconds: float | None = None,
                        device: str = "cpu") -> None:
        """The sentence before Run and, past LONG_RUN_SECONDS, the faster choices under it."""
        if cfg is None or seconds is None:
            self.wall_time_label.clear()
            self._form.setRowVisible(self.wall_time_label, False)
            self._form.setRowVisible(self.faster_box, False)
            self._fast_preset = None
            return
        sentence = wall_time_sentence(seconds, device, cfg.stop == "auto")
        self.wall_time_label.setText(sentence[0].upper() + sentence[1:] + ".")
        self._form.setRowVisible(self.wall_time_label, True)
        long_run = seconds > LONG_RUN_SECONDS
        fast = self._faster_preset(cfg, seconds) if long_run else None
        self._fast_preset = fast[0] if fast else None
        if fast:
            name, fast_seconds = fast
            self.fast_preset_button.setText(
                f"Use the fast preset ({name}, about {format_duration(fast_seconds)})")
        self.fast_preset_button.setVisible(fast is not None)
        # a region or a smaller copy only helps when there is image to spare; for
        # super-resolution a smaller input throws away the detail the run is asked to build
        shrinkable = self._image_hw is not None and max(self._image_hw) > SHRINK_MIN_SIDE
        self.region_button.setVisible(shrinkable)
        self.downscale_button.setVisible(shrinkable and cfg.task != "superres")
        self._form.setRowVisible(self.faster_box, long_run and (fast is not None or shrinkable))

    def _faster_preset(self, cfg: RunConfig, seconds: float) -> tuple[str, float] | None:
        """The task's "-fast" preset and its expected time, when it is not the one loaded and
        loading it saves real time."""
        # only the task's own presets: JPEG borrows the denoise ones, unmeasured on JPEG
        names = [p.name for p in presets_for(cfg.task) if p.name.endswith("-fast")]
        if not names:
            return None
        name = names[0]
        if cfg.preset == name:
            return None   # edited past its speed: reloading would undo the user's choices unasked
        try:
            fast_cfg = self._preset_config(name).validate()
        except ConfigError:
            return None
        fast_seconds = self._expected_seconds(fast_cfg)
        if fast_seconds is None or fast_seconds > (1 - FAST_PRESET_MIN_GAIN) * seconds:
            return None
        return name, fast_seconds

    def _use_fast_preset(self) -> None:
        name = self._fast_preset
        if name is None or self._running:
            return
        self._load(self._preset_config(name), task_changed=False)
