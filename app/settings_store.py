"""The QSettings keys the main window persists, in one place.

``QSettings()`` with no arguments uses the organisation and application names set on the
QApplication ("DIP Studio" / "dip-studio"), so tests can isolate it by redirecting the
settings path.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "DIP Studio"
APPLICATION = "dip-studio"

LAST_DIR = "files/last_dir"
RECENT = "files/recent"
BRUSH_SIZE = "canvas/brush_size"
OVERLAY_OPACITY = "canvas/overlay_opacity"
SHOW_EMA = "view/show_ema"
GEOMETRY = "window/geometry"
STATE = "window/state"
CONTINUE_STEPS = "run/continue_steps"


def settings() -> QSettings:
    return QSettings()


def value(key: str, default, kind: type):
    """A typed read that survives a corrupt or foreign value (the default then)."""
    s = settings()
    try:
        v = s.value(key, default, kind)
    except (TypeError, ValueError):
        return default
    return default if v is None else v
