"""Rectangles of an image, and the crops around the parts of an inpainting mask.

engine/tiling.py plans a job's units over these boxes: an even grid of tiles, or (a large
photo with a mask) one crop around each part of the mask, with a margin of context.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

# context around each part of the mask: IOPaint takes 128 px; for DIP 32 px filled a 150 px scratch
# better than 64 (and 64 than 128) on both photos measured, in half the time (benchmarks/README.md)
CROP_MARGIN = 32
CELL = 16                        # mask parts closer than the margin share a crop: found on a 16 px grid


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels: top-left corner and size."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def scaled(self, f: int) -> "Box":
        return Box(self.top * f, self.left * f, self.height * f, self.width * f)

    def overlaps(self, other: "Box") -> bool:
        return (self.top < other.bottom and other.top < self.bottom
                and self.left < other.right and other.left < self.right)

    def union(self, other: "Box") -> "Box":
        t, lft = min(self.top, other.top), min(self.left, other.left)
        return Box(t, lft, max(self.bottom, other.bottom) - t, max(self.right, other.right) - lft)

    def __str__(self) -> str:
        return f"{self.width}x{self.height} at ({self.left}, {self.top})"


def mask_crops(known: np.ndarray, margin: int = CROP_MARGIN, cell: int = CELL) -> list[Box]:
    """Boxes around the parts of the mask to fill (``known`` is False there): each part's
    bounding box plus ``margin``, clipped to the image; parts whose boxes would overlap share
    one box. Parts are found on a ``cell``-pixel grid dilated by the margin, so a 12 MP mask
    costs milliseconds."""
    h, w = known.shape
    gh, gw = -(-h // cell), -(-w // cell)
    hole = np.zeros((gh * cell, gw * cell), bool)
    hole[:h, :w] = ~known
    coarse = hole.reshape(gh, cell, gw, cell).any(axis=(1, 3))
    if not coarse.any():
        return []
    r = -(-margin // cell) + 1                     # cells: parts within two margins touch
    grown = _dilate(coarse, r)
    labels = _label(grown)
    boxes = []
    for lab in range(1, int(labels.max()) + 1):
        cells = (labels == lab) & coarse
        if not cells.any():
            continue
        cy, cx = np.nonzero(cells)
        y0, y1 = cy.min() * cell, (cy.max() + 1) * cell
        x0, x1 = cx.min() * cell, (cx.max() + 1) * cell
        sub = hole[y0:y1, x0:x1]                   # tighten to the part's exact pixels
        ys, xs = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
        top, bottom = y0 + ys[0], y0 + ys[-1] + 1
        left, right = x0 + xs[0], x0 + xs[-1] + 1
        top, left = max(0, top - margin), max(0, left - margin)
        bottom, right = min(h, bottom + margin), min(w, right + margin)
        boxes.append(Box(int(top), int(left), int(bottom - top), int(right - left)))
    return _merge(boxes)


def _dilate(a: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r+1)^2 square, separable, via cumulative sums."""
    def along(x: np.ndarray, axis: int) -> np.ndarray:
        c = np.cumsum(np.moveaxis(x, axis, 0).astype(np.int32), axis=0)
        c = np.concatenate([np.zeros((1,) + c.shape[1:], np.int32), c])
        n = c.shape[0] - 1
        hi = np.minimum(np.arange(n) + r + 1, n)
        lo = np.maximum(np.arange(n) - r, 0)
        return np.moveaxis((c[hi] - c[lo]) > 0, 0, axis)
    return along(along(a, 0), 1)


def _label(a: np.ndarray) -> np.ndarray:
    """8-connected component labels of a small boolean grid (breadth-first)."""
    labels = np.zeros(a.shape, np.int32)
    h, w = a.shape
    n = 0
    for y0, x0 in zip(*np.nonzero(a)):
        if labels[y0, x0]:
            continue
        n += 1
        labels[y0, x0] = n
        todo = deque([(y0, x0)])
        while todo:
            y, x = todo.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and a[yy, xx] and not labels[yy, xx]:
                        labels[yy, xx] = n
                        todo.append((yy, xx))
    return labels


def _merge(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap until none do; sorted top to bottom, left to right."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].overlaps(boxes[j]):
                    boxes[i] = boxes[i].union(boxes.pop(j))
                    merged = True
                    break
            if merged:
                break
    return sorted(boxes, key=lambda b: (b.top, b.left))
