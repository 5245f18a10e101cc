"""The QSettings keys the main window persists, in one place.

``QSettings()`` with no arguments uses the organisation and application names set on the
QApplication ("DIP Studio" / "dip-studio"), so tests can isolate it by redirecting the
settings path.
"""
from __future__ import annotations

from pathlib import Path

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


def data_directory() -> Path:
    """The folder of the app's QSettings file: ``autosave/`` and ``tile-parts/`` live in it."""
    return Path(QSettings().fileName()).resolve().parent


def tile_parts_directory() -> Path:
    """``tile-parts/``: a tiled run's finished units, kept on disk as each ends
    (engine/job_parts.py), so that a crash loses none: the same photo run again with the same
    settings goes on from them. Not inside ``autosave/``, which goes whenever there is nothing
    to restore; a clean close removes both."""
    return data_directory() / "tile-parts"


def value(key: str, default, kind: type):
    """A typed read that survives a corrupt or foreign value (the default then)."""
    s = settings()
    try:
        v = s.value(key, default, kind)
    except (TypeError, ValueError):
        return default
    return default if v is None else v
