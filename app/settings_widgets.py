"""Field widgets as every part of the settings panel builds them."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox


def spin_box(lo: int, hi: int, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setToolTip(tip)
    s.setKeyboardTracking(False)   # one update per finished edit, not per digit
    return s


def double_spin_box(lo: float, hi: float, decimals: int, step: float, tip: str) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setToolTip(tip)
    s.setKeyboardTracking(False)
    return s


def select_data(combo: QComboBox, data) -> None:
    """Show the item holding ``data`` without announcing it (absent data: leave the combo)."""
    i = combo.findData(data)
    if i >= 0:
        was = combo.blockSignals(True)
        combo.setCurrentIndex(i)
        combo.blockSignals(was)
