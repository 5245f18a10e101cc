"""What the settings will cost: parameters and the estimate per step under the settings;
the expected wall time (or, for a photo run in tiles or crops, the plan in words) and, for a
long run, the faster choices high in the column, where they are seen before Run."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.estimate import Estimate

from .run_cost import CostShown
from engine.durations import format_duration

from .settings_format import format_bytes

WALL_TIME_TIP = ("Estimated seconds per step times the number of steps: a rough guide, measured "
                 "on a small CPU; GPU times are a scaled guess.")
_NO_IMAGE = "load an image for an estimate"


class EstimateView(QObject):
    """The cost rows, added to the panel's ``form`` (not a box of their own) so that their
    labels share one column with the settings above. It shows what it is told; which faster
    choices apply is the cost model's decision (app/run_cost.py). ``sentence_row``: where in the form the wall-time
    sentence and the faster choices go (None: after the estimate); on a 1000 px high screen
    the bottom of the column is below the fold."""

    tooLarge = Signal(str)
    fastPresetRequested = Signal(str)   # the preset's name
    regionRequested = Signal()
    downscaleRequested = Signal()

    def __init__(self, form: QFormLayout, parent: QObject | None = None, sentence_row: int | None = None) -> None:
        super().__init__(parent)
        self._form = form
        self._fast_preset: str | None = None   # what the fast-preset button loads
        self._too_large_msg = ""   # the last one announced: each is announced once

        self.params_label = QLabel("\u2014")
        self.params_label.setToolTip("Trainable parameters of the network for the current settings.")
        form.addRow("Parameters:", self.params_label)
        self.estimate_label = QLabel(_NO_IMAGE)
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setToolTip("Rough time per step and memory on the chosen device, "
                                       "at the output size.")
        form.addRow("Estimate:", self.estimate_label)

        self.wall_time_label = QLabel()
        self.wall_time_label.setObjectName("wallTimeLabel")
        self.wall_time_label.setWordWrap(True)
        self.wall_time_label.setToolTip(WALL_TIME_TIP)
        if sentence_row is None:
            form.addRow(self.wall_time_label)
        else:
            form.insertRow(sentence_row, self.wall_time_label)

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
        self.fast_preset_button.clicked.connect(self._on_fast_preset)
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
        if sentence_row is None:
            form.addRow(self.faster_box)
        else:
            form.insertRow(sentence_row + 1, self.faster_box)
        self.hide_wall_time()

    # ------------------------------------------------------------------ parameters
    def show_params(self, count: int) -> None:
        self.params_label.setText(f"{count:,} ({count / 1e6:.2f} M)")

    def show_params_problem(self, reason: str) -> None:
        """No parameter count, hence no wall time either."""
        self.params_label.setText(f"\u2014 ({reason})")
        self.hide_wall_time()

    # ------------------------------------------------------------------ estimate
    def show_no_image(self) -> None:
        self.estimate_label.setText(_NO_IMAGE)
        self.estimate_label.setStyleSheet("")
        self.hide_wall_time()

    def show_cost(self, shown: CostShown) -> None:
        """The rows under the parameter count, as app/run_cost.py worked them out."""
        if shown.no_image:
            self.show_no_image()
        elif shown.problem is not None:
            self.show_no_estimate(shown.problem)
        else:
            st = shown.step
            self.show_estimate(st.est, st.device, st.memory, st.output_hw, per=st.per)
            w = shown.wall
            self.show_wall_time(w.sentence, long_run=w.long_run, fast=w.fast, region=w.region,
                                downscale=w.downscale, problem=w.problem, tip=w.tip or WALL_TIME_TIP)

    def show_no_estimate(self, reason: str) -> None:
        self.estimate_label.setText(f"no estimate ({reason})")
        self.hide_wall_time()

    def show_estimate(self, est: Estimate, device: str, memory: float, output_hw: tuple[int, int],
                      per: str = "") -> None:
        """One step's cost on ``device``, which has ``memory`` bytes (``per``: of what, e.g.
        "512x512 tile"); a step that does not fit turns the line red and announces
        ``tooLarge`` (once per message)."""
        text = f"~{est.seconds_per_step:.2f} s/step, ~{format_bytes(est.bytes)}" + (f" per {per}" if per else "")
        problem = getattr(est, "problem", None)
        if problem:
            text += f" ({problem})"
        if est.bytes > memory:
            h, w = output_hw
            msg = (f"{w}x{h} needs about {format_bytes(est.bytes)} on {device} but it has "
                   f"{format_bytes(memory)}: use fewer channels, a smaller image or another device")
            self.estimate_label.setText(f"{text} \u2014 too large for {device} ({format_bytes(memory)})")
            self.estimate_label.setStyleSheet("color: #c33;")
            if msg != self._too_large_msg:
                self._too_large_msg = msg
                self.tooLarge.emit(msg)
        else:
            self._too_large_msg = ""
            self.estimate_label.setText(text)
            self.estimate_label.setStyleSheet("")

    # ------------------------------------------------------------------ expected wall time
    def hide_wall_time(self) -> None:
        self.wall_time_label.clear()
        self._form.setRowVisible(self.wall_time_label, False)
        self._form.setRowVisible(self.faster_box, False)
        self._fast_preset = None

    def show_wall_time(self, sentence: str, *, long_run: bool, fast: tuple[str, float] | None,
                       region: bool, downscale: bool, problem: bool = False, tip: str = WALL_TIME_TIP) -> None:
        """The sentence before Run and, for a ``long_run``, the faster choices that apply:
        ``fast`` is a preset's name and its expected seconds. ``problem``: the sentence says
        why Run is refused (red)."""
        self.wall_time_label.setText(sentence[0].upper() + sentence[1:] + ".")
        self.wall_time_label.setStyleSheet("color: #c33;" if problem else "")
        self.wall_time_label.setToolTip(tip)
        self._form.setRowVisible(self.wall_time_label, True)
        self._fast_preset = fast[0] if fast else None
        if fast:
            name, fast_seconds = fast
            self.fast_preset_button.setText(
                f"Use the fast preset ({name}, about {format_duration(fast_seconds)})")
        self.fast_preset_button.setVisible(fast is not None)
        self.region_button.setVisible(region)
        self.downscale_button.setVisible(downscale)
        self._form.setRowVisible(self.faster_box, long_run and (fast is not None or region))

    def _on_fast_preset(self) -> None:
        if self._fast_preset is not None:
            self.fastPresetRequested.emit(self._fast_preset)
