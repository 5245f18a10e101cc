"""A memory-bounded history of snapshots the user can scrub back through.

Frames are stored as uint8 on the host (what a saved PNG holds anyway). When the budget
is exceeded the history thins itself: every other unpinned snapshot is dropped and the
cadence doubles, so a long run on a large image keeps an even spread of iterates over
the whole run instead of only the most recent ones. Thread-safe: the worker adds while
the GUI thread reads.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Snapshot:
    step: int
    output: np.ndarray          # float32 HxWxC in [0, 1]
    ema: np.ndarray | None
    loss: float


def to_u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class SnapshotHistory:
    def __init__(self, budget_bytes: int, every: int = 50):
        self.budget = int(budget_bytes)
        self.every = max(1, int(every))       # current cadence (doubles when thinning)
        self._items: dict[int, tuple[np.ndarray, np.ndarray | None, float]] = {}
        self._pinned: set[int] = set()
        self._nbytes = 0
        self._lock = threading.Lock()

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def add(self, step: int, output: np.ndarray, ema: np.ndarray | None, loss: float,
            pinned: bool = False) -> None:
        out8 = to_u8(output)
        ema8 = None if ema is None else to_u8(ema)
        size = out8.nbytes + (0 if ema8 is None else ema8.nbytes)
        with self._lock:
            if step in self._items:
                self._drop(step)
            self._items[step] = (out8, ema8, float(loss))
            self._nbytes += size
            if pinned:
                self._pinned.add(step)
            while self._nbytes > self.budget and self._thin():
                pass

    def pin_only(self, step: int) -> None:
        """Make ``step`` the single pinned snapshot (the current suggested iterate)."""
        with self._lock:
            self._pinned = {step} if step in self._items else set()

    def _drop(self, step: int) -> None:
        out8, ema8, _ = self._items.pop(step)
        self._nbytes -= out8.nbytes + (0 if ema8 is None else ema8.nbytes)
        self._pinned.discard(step)

    def _thin(self) -> bool:
        steps = sorted(self._items)
        if len(steps) <= 2:
            return False
        self.every *= 2
        latest = steps[-1]
        victims = [s for s in steps if s % self.every and s != latest and s not in self._pinned]
        if not victims:  # nothing left to thin by cadence: drop the oldest unpinned
            victims = [s for s in steps[:-1] if s not in self._pinned][:1]
        for s in victims:
            self._drop(s)
        return bool(victims)

    @property
    def steps(self) -> list[int]:
        with self._lock:
            return sorted(self._items)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def __len__(self) -> int:
        return len(self._items)

    def nearest(self, step: int) -> int | None:
        with self._lock:
            if not self._items:
                return None
            return min(self._items, key=lambda s: (abs(s - step), s))

    def get(self, step: int) -> Snapshot:
        with self._lock:
            out8, ema8, loss = self._items[step]
        ema = None if ema8 is None else ema8.astype(np.float32) / 255.0
        return Snapshot(step, out8.astype(np.float32) / 255.0, ema, loss)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._pinned.clear()
            self._nbytes = 0
