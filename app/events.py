"""The one event mechanism of the app's plain models (document, mask, run list): no Qt, so the
models stay testable without a window; widgets connect plain callables."""
from __future__ import annotations

from typing import Callable


class Emitter:
    """A minimal event source: ``connect(fn)``, ``emit(*args)`` (napari's models do the same
    with their EmitterGroup; a list of callables is enough here). A slot may disconnect
    itself while being called; disconnecting one that is not connected is harmless."""

    def __init__(self) -> None:
        self._slots: list[Callable] = []

    def __len__(self) -> int:
        """How many callables are connected."""
        return len(self._slots)

    def connect(self, fn: Callable) -> None:
        self._slots.append(fn)

    def disconnect(self, fn: Callable) -> None:
        if fn in self._slots:
            self._slots.remove(fn)

    def emit(self, *args) -> None:
        for fn in list(self._slots):
            fn(*args)
