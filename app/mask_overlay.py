"""The mask overlay item of the canvas and the device-space sampling its outline needs.

The overlay is an ARGB32 QImage that wraps a NumPy buffer: a stroke rewrites only its
dirty rect in that buffer and repaints only that rect, which keeps painting smooth on
a 4000x3000 image. Its "outline" style is drawn in screen pixels from the mask,
for the visible part only (see ``MaskOverlay``).
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from .mask_model import Rect

OVERLAY_STYLES = ("fill", "outline")
ANT_DASH = 4                   # device pixels per dash of the outline's two colours
ANT_LIGHT = np.uint32(0xFFFFFFFF)


def _axis_plan(d0: int, d1: int, offset: float, scale: float, n: int):
    """How device pixels ``d0..d1-1`` along one axis read an image axis of ``n`` pixels
    mapped by ``device = image * scale + offset``.

    Returns None when none of them falls on the image, else ``(on, s0, s1, idx, pool)``:
    ``on`` the slice (relative to d0) of the device pixels over the image, ``[s0, s1)``
    the image pixels they read, ``idx`` per device pixel either the image index (relative
    to s0) under its centre (magnified) or, when minified (``pool``), the start of its
    run of image pixels, so a thin painted line still shows at any zoom out.
    """
    d = np.arange(d0, d1, dtype=np.float64)
    if scale >= 1.0:
        idx = np.floor((d + 0.5 - offset) / scale).astype(np.intp)
        valid = np.flatnonzero((idx >= 0) & (idx < n))
        if valid.size == 0:
            return None
        idx = idx[valid[0]:valid[-1] + 1]
        s0, s1 = int(idx[0]), int(idx[-1]) + 1
        return slice(int(valid[0]), int(valid[-1]) + 1), s0, s1, idx - s0, False
    lo = np.floor((d - offset) / scale).astype(np.intp)
    hi = np.floor((d + 1.0 - offset) / scale).astype(np.intp)
    valid = np.flatnonzero((hi > 0) & (lo < n))
    if valid.size == 0:
        return None
    lo = lo[valid[0]:valid[-1] + 1]
    # runs are longer than one pixel here, so only the first can start before the image
    lo[0] = max(int(lo[0]), 0)
    s0 = int(lo[0])
    s1 = min(n, max(int(hi[valid[-1]]), int(lo[-1]) + 1))
    return slice(int(valid[0]), int(valid[-1]) + 1), s0, s1, lo - s0, True


def _or_runs(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``np.logical_or.reduceat(a, starts, axis=0)`` for a 2D bool array, done on 64-bit
    words, eight columns at a time: bool's own loop is about five times slower, and a
    zoomed-out view of a 4000x3000 mask reads every pixel."""
    h, w = a.shape
    padded = -(-w // 8) * 8
    if a.flags.c_contiguous and padded == w:
        buf = a
    else:
        buf = np.zeros((h, padded), dtype=bool)
        buf[:, :w] = a
    return np.bitwise_or.reduceat(buf.view(np.uint64), starts, axis=0).view(bool)[:, :w]


def device_sample(paint: np.ndarray, x0: int, y0: int, x1: int, y1: int,
                  sx: float, sy: float, ox: float, oy: float) -> np.ndarray:
    """The bool mask as seen by the device pixels ``[x0, x1) x [y0, y1)`` under the map
    ``device = (image * sx + ox, image * sy + oy)``: the pixel under each device pixel's
    centre when magnified, whether any of its pixels is set when minified; False off the
    image. The cost follows the device rect (and the image pixels under it), never the
    whole image."""
    out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), dtype=bool)
    if out.size == 0:
        return out
    h, w = paint.shape
    rows = _axis_plan(y0, y1, oy, sy, h)
    cols = _axis_plan(x0, x1, ox, sx, w)
    if rows is None or cols is None:
        return out
    r_on, r0, r1, r_idx, r_pool = rows
    c_on, c0, c1, c_idx, c_pool = cols
    block = paint[r0:r1, c0:c1]
    block = _or_runs(block, r_idx) if r_pool else block[r_idx]
    block = _or_runs(block.T, c_idx).T if c_pool else block[:, c_idx]
    out[r_on, c_on] = block
    return out


def outline_pixels(inside: np.ndarray) -> np.ndarray:
    """The pixels of ``inside`` (a bool array with a one-pixel frame of context around
    the area wanted) that touch an outside pixel by an edge: a one-pixel-wide line just
    inside the region's boundary. The result is two pixels smaller in each direction."""
    core = inside[1:-1, 1:-1]
    interior = inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    return core & ~interior


class MaskOverlay(QGraphicsItem):
    """The painted pixels in one colour, drawn from a QImage that views a NumPy buffer.

    Two styles: "fill" tints every painted pixel; "outline" draws only the boundary of
    the painted region as a one-device-pixel line of alternating dashes (overlay colour
    and white, so it reads on any image) and leaves the region itself visible. The
    outline is computed in device space from the mask, for the visible part of the
    image only, and cached; a mask change recomputes only the device pixels its dirty
    rect reaches, a new zoom or scroll position recomputes the visible area.
    """

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._argb = np.zeros((0, 0), dtype=np.uint32)
        self._image = QImage()
        self._color = np.uint32(0)
        self._paint_src = np.zeros((0, 0), dtype=bool)
        self._style = "fill"
        # outline cache: device-space ARGB of the visible part of the image
        self._ol_key: tuple | None = None
        self._ol_buf = np.zeros((0, 0), dtype=np.uint32)
        self._ol_image = QImage()
        self._ol_dirty: list[Rect] = []
        self._ol_scale = 1.0       # device pixels per item pixel at the last outline paint
        self.outline_pixels_computed = 0   # device pixels recomputed so far (tests, profiling)
        self.set_color(color)

    def set_color(self, color: QColor) -> None:
        # Opaque colour; the item's opacity gives the transparency, so premultiplying is a no-op.
        self._color = np.uint32(QColor(color.red(), color.green(), color.blue(), 255).rgba())
        self._ol_key = None

    @property
    def style(self) -> str:
        return self._style

    def set_style(self, style: str) -> None:
        if style == self._style:
            return
        self._style = style
        self._ol_key = None   # the cache may be stale: the mask changed while filling
        self.update()

    def resize(self, height: int, width: int) -> None:
        self.prepareGeometryChange()
        self._argb = np.zeros((height, width), dtype=np.uint32)
        self._image = QImage(self._argb.data, width, height, 4 * width,
                             QImage.Format.Format_ARGB32_Premultiplied)
        self._paint_src = np.zeros((height, width), dtype=bool)
        self._ol_key = None

    def refresh(self, paint: np.ndarray, rect: Rect | None = None) -> None:
        self._paint_src = paint
        h, w = self._argb.shape
        x0, y0, x1, y1 = rect if rect is not None else (0, 0, w, h)
        if x0 >= x1 or y0 >= y1:
            return
        # The fill buffer stays current in both styles: switching back costs nothing.
        np.multiply(paint[y0:y1, x0:x1], self._color, out=self._argb[y0:y1, x0:x1], casting="unsafe")
        if self._style == "outline":
            if rect is None or len(self._ol_dirty) > 64:
                # many edits unseen (e.g. while hidden): one full recompute beats them all
                self._ol_key = None
                self._ol_dirty.clear()
            else:
                self._ol_dirty.append((x0, y0, x1, y1))
            # the outline of pixels next to the rect changes too, by up to two device pixels
            m = max(1.0, 2.0 / max(self._ol_scale, 1e-6))
            self.update(QRectF(x0 - m, y0 - m, x1 - x0 + 2 * m, y1 - y0 + 2 * m))
        else:
            self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def boundingRect(self) -> QRectF:
        h, w = self._argb.shape
        return QRectF(0, 0, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        h, w = self._argb.shape
        if h == 0 or w == 0:
            return
        if self._style == "outline" and self._paint_outline(painter, option, widget):
            return
        r = option.exposedRect
        x0, y0 = max(0, math.floor(r.left())), max(0, math.floor(r.top()))
        x1, y1 = min(w, math.ceil(r.right())), min(h, math.ceil(r.bottom()))
        if x0 >= x1 or y0 >= y1:
            return
        zoom = painter.worldTransform().m11()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 1.0)
        target = QRectF(x0, y0, x1 - x0, y1 - y0)
        painter.drawImage(target, self._image, target)

    # ---------------------------------------------------------------- outline
    def _paint_outline(self, painter: QPainter, option: QStyleOptionGraphicsItem,
                       widget: QWidget | None) -> bool:
        """Draw the outline for the exposed rect; False when it cannot (a rotated or
        degenerate transform, no device), and the fill is drawn instead."""
        t = painter.worldTransform()
        if t.isRotating() or t.m11() <= 0 or t.m22() <= 0:
            return False
        if widget is not None:      # the view's viewport: its size is in logical pixels
            dpr = float(widget.devicePixelRatioF())
            dw, dh = round(widget.width() * dpr), round(widget.height() * dpr)
        else:                       # e.g. QGraphicsScene.render into an image: device pixels
            device = painter.device()
            if device is None:
                return False
            dpr = float(device.devicePixelRatioF())
            dw, dh = device.width(), device.height()
        sx, sy, ox, oy = t.m11() * dpr, t.m22() * dpr, t.dx() * dpr, t.dy() * dpr
        self._ol_scale = min(sx, sy)
        h, w = self._argb.shape
        # the visible part of the image, in device pixels, with one spare pixel per side
        # so partial repaints see their neighbours
        vx0, vy0 = max(0, math.floor(ox) - 1), max(0, math.floor(oy) - 1)
        vx1, vy1 = min(dw, math.ceil(ox + w * sx) + 1), min(dh, math.ceil(oy + h * sy) + 1)
        if vx0 >= vx1 or vy0 >= vy1:
            return True
        key = (sx, sy, ox, oy, vx0, vy0, vx1, vy1, id(self._paint_src))
        if key != self._ol_key:
            self._ol_buf = np.zeros((vy1 - vy0, vx1 - vx0), dtype=np.uint32)
            self._ol_image = QImage(self._ol_buf.data, vx1 - vx0, vy1 - vy0, 4 * (vx1 - vx0),
                                    QImage.Format.Format_ARGB32_Premultiplied)
            self._ol_key = key
            self._ol_dirty.clear()
            self._compute_outline(vx0, vy0, vx1, vy1)
        elif self._ol_dirty:
            for x0, y0, x1, y1 in self._ol_dirty:
                # device pixels whose footprint meets the rect, plus one for their neighbours
                ax0, ay0 = max(vx0, math.floor(x0 * sx + ox) - 2), max(vy0, math.floor(y0 * sy + oy) - 2)
                ax1, ay1 = min(vx1, math.ceil(x1 * sx + ox) + 2), min(vy1, math.ceil(y1 * sy + oy) + 2)
                if ax0 < ax1 and ay0 < ay1:
                    self._compute_outline(ax0, ay0, ax1, ay1)
            self._ol_dirty.clear()
        exposed = t.mapRect(option.exposedRect)
        ex0 = max(vx0, math.floor(exposed.left() * dpr))
        ey0 = max(vy0, math.floor(exposed.top() * dpr))
        ex1 = min(vx1, math.ceil(exposed.right() * dpr))
        ey1 = min(vy1, math.ceil(exposed.bottom() * dpr))
        if ex0 >= ex1 or ey0 >= ey1:
            return True
        painter.save()
        painter.resetTransform()
        # A one-pixel line at half opacity is hard to find: the outline is always opaque.
        painter.setOpacity(1.0)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(QRectF(ex0 / dpr, ey0 / dpr, (ex1 - ex0) / dpr, (ey1 - ey0) / dpr),
                          self._ol_image, QRectF(ex0 - vx0, ey0 - vy0, ex1 - ex0, ey1 - ey0))
        painter.restore()
        return True

    def _compute_outline(self, x0: int, y0: int, x1: int, y1: int) -> None:
        """Recompute the cached outline over device pixels [x0, x1) x [y0, y1)."""
        assert self._ol_key is not None
        sx, sy, ox, oy, vx0, vy0 = self._ol_key[:6]
        inside = device_sample(self._paint_src, x0 - 1, y0 - 1, x1 + 1, y1 + 1, sx, sy, ox, oy)
        ys, xs = np.nonzero(outline_pixels(inside))
        out = self._ol_buf[y0 - vy0:y1 - vy0, x0 - vx0:x1 - vx0]
        out[...] = 0
        # dashes fixed to the device grid, so a partial recompute continues the pattern
        light = ((xs + x0 + ys + y0) // ANT_DASH) & 1 == 1
        out[ys, xs] = np.where(light, ANT_LIGHT, self._color)
        self.outline_pixels_computed += out.size
