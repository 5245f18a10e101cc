"""Stop and pause between steps, asked from any thread: the one protocol every loop of the
engine (a run, a group of runs, seeds, a tiled job) offers its driver, and passes on to the
runs it drives."""
from __future__ import annotations

import threading


class Controls:
    """``request_stop`` ends the loop after the step in flight (and releases a pause);
    ``pause``/``resume`` hold and release it between two steps. Subclasses call
    ``_init_controls`` before their loop can start and read ``_stop`` / ``_running``.

    A loop that drives other loops (seeds their runs, a job its unit's run or group) hands
    them over with ``_adopt``: from then on they get every stop, pause and resume, and one
    adopted after a stop or a pause starts stopped or paused, so a request made between two
    children is never lost. ``_release`` ends that when the child is done."""

    def _init_controls(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._children_lock = threading.Lock()
        self._children: list[Controls] = []

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()
        with self._children_lock:
            for c in self._children:
                c.request_stop()

    def pause(self) -> None:
        self._running.clear()
        with self._children_lock:
            for c in self._children:
                c.pause()

    def resume(self) -> None:
        self._running.set()
        with self._children_lock:
            for c in self._children:
                c.resume()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def _adopt(self, child: Controls) -> None:
        with self._children_lock:
            self._children.append(child)
            if self._stop.is_set():
                child.request_stop()
            if not self._running.is_set():
                child.pause()

    def _release(self, child: Controls) -> None:
        with self._children_lock:
            if child in self._children:
                self._children.remove(child)
