"""Help > About: what a bug report needs (versions, the device in use) and where the app
keeps its files (settings, autosaves, a tiled run's finished tiles), each line selectable and
copied in one click."""
from __future__ import annotations

import platform
import sys
import PySide6
import torch
from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QPushButton, QVBoxLayout

from .version import version

HOME_PAGE = "Deep Image Prior: Ulyanov, Vedaldi, Lempitsky (IJCV 2020, arXiv 1711.10925)"


def about_rows(device: str, autosaves: str, tile_parts: str) -> list[tuple[str, str]]:
    """(label, value) pairs, in the order shown: the plain content of the dialog (``device``:
    the device runs use, in words, or ''; ``autosaves``: their folder; ``tile_parts``: where a
    tiled run keeps its finished tiles until the photo is done, engine/job_parts.py)."""
    cuda = f", CUDA {torch.version.cuda}" if torch.version.cuda else ""
    return [
        ("Version", version()),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("PyTorch", f"{torch.__version__}{cuda}"),
        ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
        ("Device", device or "none that works with the current settings"),
        ("Settings", QSettings().fileName()),
        ("Autosaves", autosaves),
        ("Finished tiles", tile_parts),
    ]


def about_text(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in rows)


class AboutDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("About DIP Studio")
        self.rows = rows
        col = QVBoxLayout(self)
        head = QLabel()
        icon = QGuiApplication.windowIcon()
        if not icon.isNull():
            head.setPixmap(icon.pixmap(64, 64))
        title = QLabel(f"<b>DIP Studio {self.rows[0][1]}</b><br>Restore a photo with no training data.<br>"
                       f"<small>{HOME_PAGE}</small>")
        title.setTextFormat(Qt.RichText)
        top = QFormLayout()
        top.addRow(head, title)
        col.addLayout(top)
        form = QFormLayout()
        for label, value in self.rows[1:]:
            v = QLabel(value)
            v.setTextInteractionFlags(Qt.TextSelectableByMouse)
            v.setWordWrap(True)
            form.addRow(f"{label}:", v)
        col.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy these lines (for a bug report)")
        buttons.addButton(copy, QDialogButtonBox.ActionRole)
        copy.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(about_text(self.rows))
