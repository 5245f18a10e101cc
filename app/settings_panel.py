"""The "choose what to do" panel: task, preset, network and the advanced run settings.

The panel edits a :class:`engine.config.RunConfig`. It starts from a preset (all of the
preset's fields, including those it does not show: kernels, pick, the stopping rule's
settings...)
and overlays what the user changed, so ``config()`` of an untouched preset equals
``engine.presets.get_config(name)``.

Its parts live beside it: the network rows (net_fields.py), the Advanced box
(advanced_fields.py), the cost rows and faster offer (estimate_view.py) and the words for
numbers (settings_format.py). The panel assembles the config; what it costs, including the plan of a photo too large for
one run (engine/tiling.py: tiles, or crops around the mask), is the Qt-free cost model's
(run_cost.py), which works it out on the meta device and caches it.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import numpy as np

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea,
    QToolButton, QVBoxLayout, QWidget,
)

from engine.config import SCALES, RunConfig, TASKS
# available_devices and device_memory_bytes stay importable from here (tests/test_device.py checks)
from engine.device import available_devices as available_devices, device_memory_bytes as device_memory_bytes
from engine.errors import ConfigError
from engine.noise import NoiseProfile
from engine.presets import DEFAULT_PRESET, PRESETS, Preset, get_config, presets_for
from engine.tiling import Plan

# the names below were defined here before the panel's parts moved out; importable as before
from .advanced_fields import INPUT_LABELS as INPUT_LABELS, LR_RANGE as LR_RANGE, AdvancedFields
from .classifier_fields import ClassifierFields
from .estimate_view import WALL_TIME_TIP as WALL_TIME_TIP, EstimateView
from .net_fields import ARCH_LABELS as ARCH_LABELS, NetFields
from .run_cost import COST_ERRORS, LONG_RUN_SECONDS as LONG_RUN_SECONDS, RunCost
from .settings_format import (
    describe_levels as describe_levels, format_duration as format_duration, is_per_level as is_per_level,
    wall_time_sentence as wall_time_sentence,
)
from .settings_widgets import select_data, spin_box

TASK_LABELS = {
    "denoise": "Denoise",
    "jpeg": "JPEG artefact removal",
    "inpaint": "Inpainting",
    "superres": "Super-resolution",
    "enhance": "Detail enhancement",
    "flash": "Flash / no-flash",
    "preimage": "Natural pre-image (classifier)",
    "actmax": "Activation maximisation (classifier)",
}
SR_FACTORS = SCALES   # one home for the factors the engine accepts
DEBOUNCE_MS = 150
_STATE_GROUP = "settings_panel"
STEPS_TIP_AUTO = ("The most Adam steps the run may take; it usually stops earlier, at its best "
                  "iterate (see the check box below).")
STEPS_TIP_FIXED = "Number of Adam steps (iterations) of the run."
NOISE_TIP = ("The noise of this photo, measured in its flattest parts: its level (of 255 levels) and how "
             "far it spreads. Added noise is independent from pixel to pixel; a camera's spreads over a "
             "few pixels (demosaicing, in-camera processing, JPEG). Then a held-out pixel could be predicted "
             "from its neighbours' noise, so the stop holds out whole blocks and scores only their centres.")


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

    def __init__(self, parent: QWidget | None = None, cost: RunCost | None = None) -> None:
        super().__init__(parent)
        self._base: RunConfig = get_config(task="denoise")   # carries the fields not shown
        self._loading = 0
        self._valid = True
        self._error = ""
        self._running = False
        self._guide_name: str | None = None
        # the window hands the document's cost model (its plan is the one a run uses); alone, its own
        self.cost = cost if cost is not None else RunCost()
        self.cost.tile = lambda: self.advanced_box.tile()
        self.plans = self.cost.plans

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
        self.scroll = scroll
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

        # denoising: the photo's noise as measured (engine/noise.py), and what the stop does about it
        self.noise_label = QLabel()
        self.noise_label.setWordWrap(True)
        self.noise_label.setToolTip(NOISE_TIP)
        form.addRow("Noise:", self.noise_label)   # the profile itself: self.cost.noise

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

        # pre-image / activation maximisation: the classifier, layer, unit (classifier_fields.py)
        self.classifier_fields = ClassifierFields()
        self.classifier_fields.changed.connect(self._changed)
        form.addRow(self.classifier_fields)

        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("A named starting point; choosing one loads all its values.")
        self.preset_combo.currentIndexChanged.connect(self._on_preset_combo)
        form.addRow("Preset:", self.preset_combo)

        self.net_fields = NetFields(form, self)
        self.net_fields.changed.connect(self._changed)

        self.iterations_spin = spin_box(1, 1_000_000, STEPS_TIP_AUTO)
        self.iterations_spin.setSingleStep(100)
        self.iterations_spin.valueChanged.connect(self._changed)
        form.addRow("Steps:", self.iterations_spin)

        self.auto_stop_check = QCheckBox("Stop automatically at the best iterate")
        self.auto_stop_check.setChecked(True)
        self.auto_stop_check.setToolTip(
            "Denoising: a few pixels are held out of the fit; their error falls while the network "
            "learns the image and rises once it starts copying the noise. The run stops when that "
            "error has not improved for a while, and the result is the best iterate (output or its "
            "moving average). A camera's noise spreads over a few pixels, so on real photos whole "
            "blocks are held out and only their centres, beyond the noise's reach, are scored. "
            "Inpainting: known pixels shaped like your strokes are held out; the run "
            "stops once the network has not filled them better for a while, and the result is the "
            "moving average at its best. Super-resolution (nothing to hold out): the run stops once "
            "the image no longer changes in a way you could see, and the result is the moving "
            "average there. "
            "Off: run every step; the marker still shows the best iterate.")
        self.auto_stop_check.toggled.connect(self._on_auto_stop)
        form.addRow("", self.auto_stop_check)

        # the sentence right under the preset: at the bottom it was below the fold of a
        # 1000 px high screen, unseen before Run
        self.estimate_view = EstimateView(form, self, sentence_row=form.getWidgetPosition(self.preset_combo)[0] + 1)
        self.estimate_view.tooLarge.connect(self.tooLarge)
        self.estimate_view.fastPresetRequested.connect(self._use_fast_preset)
        self.estimate_view.regionRequested.connect(self.regionRequested)
        self.estimate_view.downscaleRequested.connect(self.downscaleRequested)

        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self.set_advanced_visible)
        col.addWidget(self.advanced_button)

        self.advanced_box = AdvancedFields()
        self.advanced_box.changed.connect(self._changed)
        col.addWidget(self.advanced_box)
        self.advanced_box.setVisible(False)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c33;")
        self.error_label.setVisible(False)
        col.addWidget(self.error_label)
        col.addStretch(1)

        # the window and the tests reach every field as an attribute of the panel
        net = self.net_fields
        self.arch_combo = net.arch_combo
        self.depth_spin = net.depth_spin
        self.channels_spin = net.channels_spin
        self.skip_spin = net.skip_spin
        self.blocks_spin = net.blocks_spin
        self.per_level_edit = net.per_level_edit
        cost = self.estimate_view
        self.params_label = cost.params_label
        self.estimate_label = cost.estimate_label
        self.wall_time_label = cost.wall_time_label
        self.faster_box = cost.faster_box
        self.faster_title = cost.faster_title
        self.fast_preset_button = cost.fast_preset_button
        self.region_button = cost.region_button
        self.downscale_button = cost.downscale_button
        adv = self.advanced_box
        self.input_combo = adv.input_combo
        self.input_channels_spin = adv.input_channels_spin
        self.sigma_spin = adv.sigma_spin
        self.lr_edit = adv.lr_edit
        self.ema_spin = adv.ema_spin
        self.backtrack_spin = adv.backtrack_spin
        self.backtrack_off = adv.backtrack_off
        self.seed_spin = adv.seed_spin
        self.device_combo = adv.device_combo
        self.preview_spin = adv.preview_spin
        self.snapshot_spin = adv.snapshot_spin
        self.memory_spin = adv.memory_spin
        self.tile_combo = adv.tile_combo

    # ------------------------------------------------------------------ public API
    def config(self) -> RunConfig:
        """The validated config; raises ``ConfigError`` when a field is invalid."""
        task = self.task()
        advanced = self.advanced_box.fields()
        if task == "flash":
            advanced["input_kind"] = "guide"   # the flash photo is the input whatever the box says
        cfg = dataclasses.replace(
            self._base,
            task=task,
            preset=self.preset_combo.currentData(),
            net=self.net_fields.net(),
            iterations=self.iterations_spin.value(),
            scale=self.scale_combo.currentData() if task == "superres" else self._base.scale,
            stop="auto" if self.auto_stop_check.isChecked() else "never",
            **advanced,
            **self.classifier_fields.fields(task),
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

    def set_noise(self, profile: NoiseProfile | None) -> None:
        """The loaded photo's noise as measured (None: no photo); shown for denoising."""
        self.cost.set_noise(profile)   # the tiles' pace follows it too (engine/schedule.py)
        self._schedule_cost()
        if profile is not None:
            how = (": held-out blocks keep the stop from rewarding a copy of it" if profile.correlated
                   else "")
            self.noise_label.setText(profile.words().removeprefix("noise: ") + how)
        self._update_visibility()

    def set_image_size(self, h: int | None, w: int | None = None, channels: int = 3) -> None:
        """The loaded image's size (for super-resolution: the low-resolution input); None clears."""
        self.cost.set_image_size(h, w, channels)
        self._schedule_cost()

    def tile(self) -> str | int:
        """The Tiles choice: "auto", "off" or a side in pixels (plan_job's ``tile``)."""
        return self.advanced_box.tile()

    def set_tile(self, tile: str | int) -> None:
        self.advanced_box.set_tile(tile)

    def set_mask_source(self, source: Callable[[], np.ndarray | None] | None) -> None:
        """Where the plan of an inpainting run reads the mask (True = known) from."""
        self.plans.mask_source = source
        self.mask_changed()

    def mask_changed(self) -> None:
        """The mask was edited: an inpainting plan (its crops) is worked out again."""
        self.plans.mask_changed()
        if self.task() == "inpaint":
            self._schedule_cost()

    def plan(self, cfg: RunConfig | None = None) -> Plan | None:
        """How a run of ``cfg`` (default: the settings as shown) on the loaded image goes:
        one run, tiles or crops around the mask, with its estimate (engine.tiling.plan_job,
        on the meta device: no kernel runs here). None without an image; raises ConfigError
        (an unusable tile or setting). Cached by settings, size, mask version and tile."""
        return self.cost.plan(cfg if cfg is not None else self.config())

    def expected_seconds(self) -> float | None:
        """Estimated wall time of the run as set (seconds per step x steps; with the automatic
        stop, an upper bound), or None without an image or with invalid settings."""
        try:
            cfg = self.config()
        except ConfigError:
            return None
        return self.cost.expected_seconds(cfg)

    def time_sentence(self) -> str | None:
        """The expected time in the words the panel shows under the preset (the plan's sentence
        for a photo in tiles or crops): anything else that speaks of the time says this."""
        try:
            cfg = self.config()
        except ConfigError:
            return None
        return self.cost.time_sentence(cfg)

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
        settings.setValue("tile", str(self.tile()))
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
        tile = settings.value("tile", "auto", str)
        settings.endGroup()
        self.set_tile(int(tile) if tile.isdigit() else tile)
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
            select_data(self.task_combo, cfg.task)
            self._fill_presets(cfg.task, cfg.preset)
            if self.scale_combo.findData(cfg.scale) < 0:
                self.scale_combo.addItem(f"\u00d7{cfg.scale}", cfg.scale)
            select_data(self.scale_combo, cfg.scale)
            self.net_fields.show_net(cfg.net)
            self.iterations_spin.setValue(cfg.iterations)
            self.advanced_box.show_config(cfg)
            self.classifier_fields.show_config(cfg)
            self.auto_stop_check.setChecked(cfg.stop == "auto")
            self._show_steps_meaning()
            self._update_visibility()
        finally:
            self._loading -= 1
        if task_changed:
            self.taskChanged.emit(cfg.task)
        self._changed()

    def _update_visibility(self) -> None:
        task = self.task()
        self._form.setRowVisible(self.scale_combo, task == "superres")
        self._form.setRowVisible(self.noise_label, task == "denoise" and self.cost.noise is not None)
        self._form.setRowVisible(self.guide_row, task == "flash")
        self._form.setRowVisible(self.classifier_fields, task in ("preimage", "actmax"))
        self.classifier_fields.show_task(task)
        self.net_fields.update_visibility()
        self._show_guide()
        self.advanced_box.show_task(task)

    def _show_guide(self) -> None:
        if self._guide_name:
            self.guide_label.setText(self._guide_name)
            self.guide_label.setStyleSheet("")
        else:
            self.guide_label.setText("no flash photo chosen")
            self.guide_label.setStyleSheet("color: #c33;")

    # ------------------------------------------------------------------ reactions
    def _on_task_combo(self, _index: int) -> None:
        if self._loading:
            return
        task = self.task()
        cfg = get_config(DEFAULT_PRESET[task], task=task)
        self._load(dataclasses.replace(cfg, **self._user_fields()), task_changed=True)

    def _user_fields(self) -> dict:
        """The machine/habit settings as shown, which a new preset or task keeps."""
        return dict(**self.advanced_box.habits(), stop="auto" if self.auto_stop_check.isChecked() else "never")

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

    def _on_auto_stop(self, _checked: bool) -> None:
        self._show_steps_meaning()
        self._changed()

    def _show_steps_meaning(self) -> None:
        auto = self.auto_stop_check.isChecked()
        label = self._form.labelForField(self.iterations_spin)
        if label is not None:
            label.setText("Max steps:" if auto else "Steps:")
        self.iterations_spin.setToolTip(STEPS_TIP_AUTO if auto else STEPS_TIP_FIXED)

    def _changed(self, *_args) -> None:
        if self._loading:
            return
        self._revalidate()
        self.configChanged.emit()
        self._schedule_cost()

    def _revalidate(self) -> None:
        try:
            self.config()
            self.classifier_fields.check(self.task())   # preimage/actmax: no run without a classifier
            error = ""
        except ConfigError as e:
            error = str(e)
        self.advanced_box.mark_lr(error)
        self._error = error
        self.error_label.setText(error)
        self.error_label.setVisible(bool(error))
        valid = not error
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)

    # ------------------------------------------------------------------ cost
    # Worked out by the cost model (run_cost.py), shown by EstimateView: the faster offer
    # loads a preset with the user's fields, which the panel holds (_preset_config).
    def _schedule_cost(self) -> None:
        self._cost_timer.start()

    def _update_cost(self) -> None:
        try:
            cfg = self.config()
        except ConfigError:
            self.estimate_view.show_params_problem("invalid settings")
            return
        try:
            params = self.cost.params(cfg)
        except COST_ERRORS as e:
            self.estimate_view.show_params_problem(str(e))
            return
        self.estimate_view.show_params(params)
        self.estimate_view.show_cost(self.cost.shown(cfg, self._preset_config))

    def _use_fast_preset(self, name: str) -> None:
        if self._running:
            return
        self._load(self._preset_config(name), task_changed=False)
