"""Stop and pause between steps, asked from any thread: the one protocol every loop of the
engine (a run, a group of runs, a tiled job) offers its driver."""
from __future__ import annotations

import threading


class Controls:
    """``request_stop`` ends the loop after the step in flight (and releases a pause);
    ``pause``/``resume`` hold and release it between two steps. Subclasses call
    ``_init_controls`` before their loop can start and read ``_stop`` / ``_running``."""

    def _init_controls(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()
