"""The run's buttons and read-outs under the settings: Run / Pause / Stop, Continue with its
step count, the progress bar, the PSNR line and what the result is. Plain widgets: the
window's actions decide when each is enabled and the run view fills in the text."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget


class RunControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        for b in (self.run_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        col.addLayout(buttons)
        cont = QHBoxLayout()
        self.continue_button = QPushButton("Continue")
        self.continue_spin = QSpinBox()
        self.continue_spin.setRange(1, 1_000_000)
        self.continue_spin.setSingleStep(100)
        self.continue_spin.setPrefix("+")
        self.continue_spin.setSuffix(" steps")
        self.continue_spin.setToolTip("How many steps Continue adds to a stopped or finished run")
        cont.addWidget(self.continue_button)
        cont.addWidget(self.continue_spin, 1)
        col.addLayout(cont)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        col.addWidget(self.progress_bar)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        col.addWidget(self.progress_label)
        self.result_label = QLabel("no result yet")
        self.result_label.setWordWrap(True)
        col.addWidget(self.result_label)
