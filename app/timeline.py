"""A scrubber over the snapshots a run kept.

The slider moves over the *index* of the kept snapshots, so every position is a stored
iterate and the arrow keys jump from one snapshot to the next, however the history has
thinned itself. The label says where that is in the run.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget


class Timeline(QWidget):
    stepChosen = Signal(int)       # the user moved to a snapshot (its step)
    useRequested = Signal(int)     # "Use this iterate" on the shown snapshot

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._steps: list[int] = []
        self._total = 0
        self._follow = True   # keep the handle on the newest snapshot until the user moves it
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("timelineSlider")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setTracking(True)
        self.slider.setFocusPolicy(Qt.StrongFocus)
        self.slider.setToolTip("Scrub through the kept snapshots (Left/Right arrows step through them)")
        self.label = QLabel("no snapshots")
        self.label.setMinimumWidth(220)
        self.use_button = QPushButton("Use this iterate")
        self.use_button.setToolTip("Make the shown snapshot the result that File > Save writes")
        self.use_button.setEnabled(False)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        lay.addWidget(self.use_button)
        self.slider.valueChanged.connect(self._on_value)
        self.use_button.clicked.connect(self._on_use)
        self.setFocusPolicy(Qt.StrongFocus)
        self._set_controls_enabled(False)

    # ---- model -----------------------------------------------------------------------
    def set_steps(self, steps: list[int], total: int | None = None) -> None:
        """The history's steps (sorted). Keeps the current snapshot where it still exists."""
        current = self.current_step()
        self._steps = list(steps)
        if total is not None:
            self._total = int(total)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(self._steps) - 1, 0))
        if self._steps:
            if self._follow or current is None:
                idx = len(self._steps) - 1
            else:
                idx = self._index_of(current)
            self.slider.setValue(idx)
        self.slider.blockSignals(False)
        self._update_label()
        self._set_controls_enabled(self.isEnabled() and bool(self._steps))

    def set_total(self, total: int) -> None:
        self._total = int(total)
        self._update_label()

    def clear(self) -> None:
        self._follow = True
        self.set_steps([], 0)

    def steps(self) -> list[int]:
        return list(self._steps)

    def current_step(self) -> int | None:
        if not self._steps:
            return None
        return self._steps[min(self.slider.value(), len(self._steps) - 1)]

    def set_current(self, step: int, emit: bool = False) -> int | None:
        """Move to the kept snapshot nearest ``step``; returns that snapshot's step."""
        if not self._steps:
            return None
        idx = self._index_of(step)
        self._follow = idx == len(self._steps) - 1
        self.slider.blockSignals(not emit)
        self.slider.setValue(idx)
        self.slider.blockSignals(False)
        self._update_label()
        return self._steps[idx]

    def set_follow(self, follow: bool) -> None:
        self._follow = follow

    def set_scrubbing_enabled(self, enabled: bool) -> None:
        """While a run goes the handle follows the run; scrubbing starts after a stop."""
        self.setEnabled(enabled)
        self._set_controls_enabled(enabled and bool(self._steps))

    # ---- internals -------------------------------------------------------------------
    def _index_of(self, step: int) -> int:
        return min(range(len(self._steps)), key=lambda i: (abs(self._steps[i] - step), self._steps[i]))

    def _set_controls_enabled(self, on: bool) -> None:
        self.slider.setEnabled(on)
        self.use_button.setEnabled(on)

    def _update_label(self) -> None:
        if not self._steps:
            self.label.setText("no snapshots")
            return
        k = min(self.slider.value(), len(self._steps) - 1)
        total = max(self._total, self._steps[-1])
        self.label.setText(f"step {self._steps[k]} of {total} (snapshot {k + 1}/{len(self._steps)})")

    def _on_value(self, idx: int) -> None:
        self._follow = idx == len(self._steps) - 1
        self._update_label()
        if self._steps:
            self.stepChosen.emit(self._steps[idx])

    def _on_use(self) -> None:
        step = self.current_step()
        if step is not None:
            self.useRequested.emit(step)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # arrows anywhere on the bar step through snapshots, not only on the focused slider
        if self._steps and self.slider.isEnabled() and event.key() in (Qt.Key_Left, Qt.Key_Right,
                                                                       Qt.Key_Home, Qt.Key_End):
            idx = self.slider.value()
            idx = {Qt.Key_Left: idx - 1, Qt.Key_Right: idx + 1,
                   Qt.Key_Home: 0, Qt.Key_End: len(self._steps) - 1}[event.key()]
            self.slider.setValue(max(0, min(idx, len(self._steps) - 1)))
            event.accept()
            return
        super().keyPressEvent(event)
