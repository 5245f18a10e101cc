"""The inpainting mask the user paints, with its undo history (NumPy only, no Qt).

Two conventions meet here. The user paints what must be *removed*: ``paint`` is True
there (IOPaint's and napari's view). The engine wants ``known`` (True = known pixel),
which is simply ``~paint``.

Coordinates are image pixels: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``
so its centre is ``(j + 0.5, i + 0.5)``. A dirty rect ``(x0, y0, x1, y1)`` has exclusive
ends, i.e. it is ``paint[y0:y1, x0:x1]``.

Undo stores, per step, only the bounding box of the pixels that step changed, bit-packed,
so a 4000x3000 mask with 50 strokes stays at a few megabytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import MaskError

from .events import Emitter

Rect = tuple[int, int, int, int]
TOOLS = ("brush", "eraser")


@dataclass
class _Step:
    """One undoable change: the other state of the pixels inside ``rect`` (swapped on undo/redo)."""

    rect: Rect
    packed: np.ndarray  # np.packbits of the rect's bool crop

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes)

    def swap(self, paint: np.ndarray) -> None:
        x0, y0, x1, y1 = self.rect
        view = paint[y0:y1, x0:x1]
        other = np.unpackbits(self.packed, count=view.size).reshape(view.shape).astype(bool)
        self.packed = np.packbits(view)
        view[...] = other


def _bbox(a: np.ndarray) -> Rect | None:
    """Bounding box (x0, y0, x1, y1) of the True pixels of a 2D bool array, or None."""
    rows = np.flatnonzero(a.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(a.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _union(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a Euclidean disc ``dx^2 + dy^2 <= radius^2``; outside the array is False.

    The disc is split into horizontal runs: one 1D dilation per distinct half-width
    (a prefix-sum difference), then the rows are shifted and OR-ed, so the cost is
    O(radius * H * W) rather than O(radius^2 * H * W).
    """
    mask = np.asarray(mask, dtype=bool)
    r = int(radius)
    if r <= 0 or mask.size == 0:
        return mask.copy()
    h, w = mask.shape
    padded = np.zeros((h + 2 * r, w + 2 * r), dtype=bool)
    padded[r:r + h, r:r + w] = mask
    csum = np.zeros((h + 2 * r, w + 2 * r + 1), dtype=np.int32)
    np.cumsum(padded, axis=1, out=csum[:, 1:])
    runs: dict[int, np.ndarray] = {}
    out = np.zeros((h, w), dtype=bool)
    for dy in range(-r, r + 1):
        half = math.isqrt(r * r - dy * dy)
        run = runs.get(half)
        if run is None:
            # run[row, x] = any(padded[row, x + r - half : x + r + half + 1])
            run = (csum[:, r + half + 1:r + half + 1 + w] - csum[:, r - half:r - half + w]) > 0
            runs[half] = run
        out |= run[r + dy:r + dy + h]
    return out


class MaskModel:
    """A ``height x width`` painted mask with strokes, whole-mask edits and bounded undo/redo.

    ``changed`` (an app.events.Emitter) calls each connected callable with the dirty rect
    ``(x0, y0, x1, y1)`` after every change of the pixels (not for no-op edits); ``edited``
    (no arguments) once an edit is complete (a stroke at its end, not per segment), for
    listeners that follow the mask rather than draw it (the plan's crops, the autosave).
    """

    def __init__(self, height: int, width: int, *, max_steps: int = 100,
                 max_bytes: int = 32 * 1024 * 1024) -> None:
        if height <= 0 or width <= 0:
            raise MaskError(f"a mask needs a positive size, got {width}x{height}")
        self._paint = np.zeros((int(height), int(width)), dtype=bool)
        self.max_steps = int(max_steps)
        self.max_bytes = int(max_bytes)
        self.changed = Emitter()
        self.edited = Emitter()   # an edit is complete: a stroke ended, an undo, a fill...
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        # Stroke state: the pre-stroke mask is kept in one reused buffer so a stroke
        # costs one memcpy at its start, whatever its length.
        self._before: np.ndarray | None = None
        self._stroke_value: bool | None = None
        self._stroke_rect: Rect | None = None
        self._last_point: tuple[float, float] | None = None

    # ----------------------------------------------------------------- state
    @property
    def paint(self) -> np.ndarray:
        """The painted pixels (True = to be filled). Read it; change it through the methods."""
        return self._paint

    @property
    def known(self) -> np.ndarray:
        """The engine's mask: True = known pixel (a new array)."""
        return ~self._paint

    @property
    def shape(self) -> tuple[int, int]:
        return self._paint.shape  # type: ignore[return-value]

    @property
    def height(self) -> int:
        return self._paint.shape[0]

    @property
    def width(self) -> int:
        return self._paint.shape[1]

    @property
    def is_empty(self) -> bool:
        return not bool(self._paint.any())

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_count(self) -> int:
        return len(self._undo)

    @property
    def redo_count(self) -> int:
        return len(self._redo)

    @property
    def history_nbytes(self) -> int:
        """Bytes held by the undo and redo stacks together."""
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)

    @property
    def in_stroke(self) -> bool:
        return self._stroke_value is not None

    # ---------------------------------------------------------------- strokes
    def begin_stroke(self, tool: str = "brush") -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if self.in_stroke:
            self.end_stroke()
        if self._before is None or self._before.shape != self._paint.shape:
            self._before = np.empty_like(self._paint)
        np.copyto(self._before, self._paint)
        self._stroke_value = tool == "brush"
        self._stroke_rect = None
        self._last_point = None

    def stroke_to(self, x: float, y: float, radius: float) -> Rect | None:
        """Extend the stroke to image point (x, y) with a round brush; returns the dirty rect.

        The first point paints a disc; each later one paints the capsule from the
        previous point, so fast mouse moves leave no gaps. A pixel is covered when its
        centre lies within ``radius`` of the path; the pixel under each point is always
        covered so a 1 px brush paints at any zoom.
        """
        if self._stroke_value is None:
            raise RuntimeError("stroke_to() called outside begin_stroke()/end_stroke()")
        x, y = float(x), float(y)
        start = self._last_point if self._last_point is not None else (x, y)
        self._last_point = (x, y)
        r = max(float(radius), 0.5)
        # Long segments are cut into pieces so the work follows the capsule's area,
        # not the area of its (possibly huge, diagonal) bounding box.
        length = math.hypot(x - start[0], y - start[1])
        piece = max(4.0 * r, 16.0)
        n = max(1, int(math.ceil(length / piece)))
        dirty: Rect | None = None
        px, py = start
        for k in range(1, n + 1):
            qx = start[0] + (x - start[0]) * k / n
            qy = start[1] + (y - start[1]) * k / n
            dirty = _union(dirty, self._paint_capsule(px, py, qx, qy, r))
            px, py = qx, qy
        dirty = _union(dirty, self._paint_point_pixel(x, y))
        if dirty is not None:
            self._stroke_rect = _union(self._stroke_rect, dirty)
            self._notify(dirty)
        return dirty

    def end_stroke(self) -> bool:
        """Close the stroke as one undo step; returns False when it changed nothing."""
        if self._stroke_value is None:
            return False
        rect = self._stroke_rect
        self._stroke_value = None
        self._stroke_rect = None
        self._last_point = None
        if rect is None or self._before is None:
            return False
        x0, y0, x1, y1 = rect
        before = self._before[y0:y1, x0:x1]
        # The segments already reported their dirty rects while painting.
        return self._push_if_changed(rect, before, notify=False)

    def _paint_capsule(self, ax: float, ay: float, bx: float, by: float, r: float) -> Rect | None:
        h, w = self._paint.shape
        # Pixel j is covered when |centre - path| <= r, i.e. j + 0.5 within [min - r, max + r].
        x0 = max(0, int(math.ceil(min(ax, bx) - r - 0.5)))
        x1 = min(w, int(math.floor(max(ax, bx) + r - 0.5)) + 1)
        y0 = max(0, int(math.ceil(min(ay, by) - r - 0.5)))
        y1 = min(h, int(math.floor(max(ay, by) + r - 0.5)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        # float64 with a hair of tolerance so centres exactly at distance r count as inside.
        cx = np.arange(x0, x1, dtype=np.float64)[None, :] + (0.5 - ax)
        cy = np.arange(y0, y1, dtype=np.float64)[:, None] + (0.5 - ay)
        vx, vy = bx - ax, by - ay
        l2 = vx * vx + vy * vy
        r2 = r * r * (1.0 + 1e-9) + 1e-9
        if l2 > 1e-12:
            t = np.clip(cx * (vx / l2) + cy * (vy / l2), 0.0, 1.0)
            ex = cx - t * vx
            ey = cy - t * vy
            inside = ex * ex + ey * ey <= r2
        else:
            inside = cx * cx + cy * cy <= r2
        box = _bbox(inside)
        if box is None:
            return None
        self._paint[y0:y1, x0:x1][inside] = self._stroke_value
        return box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0

    def _paint_point_pixel(self, x: float, y: float) -> Rect | None:
        h, w = self._paint.shape
        j, i = int(math.floor(x)), int(math.floor(y))
        if not (0 <= i < h and 0 <= j < w):
            return None
        self._paint[i, j] = self._stroke_value
        return j, i, j + 1, i + 1

    # ------------------------------------------------------ whole-mask edits
    def clear(self) -> bool:
        """Unpaint everything (one undo step). Returns False when already empty."""
        self.end_stroke()
        rect = _bbox(self._paint)
        if rect is None:
            return False
        return self._replace(rect, np.zeros((rect[3] - rect[1], rect[2] - rect[0]), dtype=bool))

    def invert(self) -> bool:
        self.end_stroke()
        h, w = self._paint.shape
        return self._replace((0, 0, w, h), ~self._paint)

    def grow(self, px: int) -> bool:
        """Dilate the painted region by a disc of radius ``px`` (one undo step)."""
        self.end_stroke()
        px = int(px)
        if px <= 0:
            return False
        rect = self._expanded_bbox(px)
        if rect is None:
            return False
        x0, y0, x1, y1 = rect
        return self._replace(rect, dilate(self._paint[y0:y1, x0:x1], px))

    def shrink(self, px: int) -> bool:
        """Erode the painted region by a disc of radius ``px`` (one undo step).

        Outside the image counts as painted, so a region touching the border stays
        attached to it (the border is not a hole to erode from).
        """
        self.end_stroke()
        px = int(px)
        if px <= 0:
            return False
        rect = self._expanded_bbox(px)
        if rect is None:
            return False
        x0, y0, x1, y1 = rect
        crop = self._paint[y0:y1, x0:x1]
        # The crop reaches px beyond every painted pixel, so its unpainted pixels are
        # exactly those any painted pixel's disc can touch; outside it dilate() sees
        # False, which stands for the (painted) outside of the image at image borders.
        return self._replace(rect, crop & ~dilate(~crop, px))

    def set_from_known(self, known: np.ndarray) -> bool:
        """Load a mask in the engine's convention (True = known) as one undo step."""
        self.end_stroke()
        known = np.asarray(known)
        if known.ndim == 3 and known.shape[2] == 1:
            known = known[:, :, 0]
        if known.shape != self._paint.shape:
            raise MaskError(
                f"the mask is {known.shape[1] if known.ndim > 1 else '?'}x{known.shape[0]} "
                f"but the image is {self.width}x{self.height}")
        h, w = self._paint.shape
        return self._replace((0, 0, w, h), ~known.astype(bool, copy=False))

    def set_paint(self, paint: np.ndarray) -> bool:
        """Load a mask in the user's convention (True = painted) as one undo step."""
        return self.set_from_known(~np.asarray(paint, dtype=bool))

    def _expanded_bbox(self, px: int) -> Rect | None:
        rect = _bbox(self._paint)
        if rect is None:
            return None
        h, w = self._paint.shape
        return max(0, rect[0] - px), max(0, rect[1] - px), min(w, rect[2] + px), min(h, rect[3] + px)

    def _replace(self, rect: Rect, new: np.ndarray) -> bool:
        x0, y0, x1, y1 = rect
        view = self._paint[y0:y1, x0:x1]
        before = view.copy()
        view[...] = new
        return self._push_if_changed(rect, before, notify=True)

    # ------------------------------------------------------------ history
    def _push_if_changed(self, rect: Rect, before: np.ndarray, *, notify: bool) -> bool:
        """Record ``before`` (the old crop at ``rect``) cut to the pixels that changed."""
        x0, y0, x1, y1 = rect
        diff = before != self._paint[y0:y1, x0:x1]
        box = _bbox(diff)
        if box is None:
            return False
        bx0, by0, bx1, by1 = box
        tight = (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)
        self._undo.append(_Step(tight, np.packbits(before[by0:by1, bx0:bx1])))
        self._redo.clear()
        self._trim()
        if notify:
            self._notify(tight)
        self.edited.emit()
        return True

    def _trim(self) -> None:
        # The newest step is always kept, even alone over the byte budget, so the
        # last action can be undone.
        while len(self._undo) > max(1, self.max_steps):
            self._undo.pop(0)
        total = sum(s.nbytes for s in self._undo)
        while len(self._undo) > 1 and total > self.max_bytes:
            total -= self._undo.pop(0).nbytes

    def undo(self) -> bool:
        self.end_stroke()
        if not self._undo:
            return False
        step = self._undo.pop()
        step.swap(self._paint)
        self._redo.append(step)
        self._notify(step.rect)
        self.edited.emit()
        return True

    def redo(self) -> bool:
        self.end_stroke()
        if not self._redo:
            return False
        step = self._redo.pop()
        step.swap(self._paint)
        self._undo.append(step)
        self._notify(step.rect)
        self.edited.emit()
        return True

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()

    def _notify(self, rect: Rect) -> None:
        self.changed.emit(rect)
