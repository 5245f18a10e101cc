"""The "Open Recent" list: most recent first, no duplicates, at most eight, in QSettings."""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from . import settings_store

MAX_RECENT = 8


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


class RecentFiles:
    def __init__(self, key: str = settings_store.RECENT, limit: int = MAX_RECENT):
        self.key = key
        self.limit = limit

    def paths(self) -> list[str]:
        v = QSettings().value(self.key, [])
        if isinstance(v, str):        # QSettings hands back a lone string for one-item lists
            v = [v] if v else []
        return [p for p in (v or []) if isinstance(p, str) and p][: self.limit]

    def add(self, path: str) -> list[str]:
        path = os.path.abspath(path)
        items = [p for p in self.paths() if _norm(p) != _norm(path)]
        items = [path] + items
        self._write(items[: self.limit])
        return self.paths()

    def remove(self, path: str) -> list[str]:
        self._write([p for p in self.paths() if _norm(p) != _norm(path)])
        return self.paths()

    def clear(self) -> None:
        self._write([])

    def _write(self, items: list[str]) -> None:
        s = QSettings()
        s.setValue(self.key, items)
        s.sync()
