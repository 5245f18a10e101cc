"""Painting the mask on the canvas: the mask model it shows, the overlay's opacity, style and
colour, the brush and eraser with their sizes, and strokes. A mixin of ImageCanvas
(app/canvas.py), which owns the items and the state it reads (``_mask_model``, ``_overlay``,
``_stroking``, ``_tool``...) and turns input events into these calls."""
from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from engine.errors import MaskError

from .mask_model import TOOLS, MaskModel, Rect
from .mask_overlay import OVERLAY_STYLES

MIN_BRUSH, MAX_BRUSH = 1, 300


def _size_step(size: int) -> int:
    """Bracket-key step: fine for small brushes, coarse for big ones (Photoshop-like)."""
    if size < 10:
        return 1
    if size < 30:
        return 2
    if size < 60:
        return 5
    if size < 150:
        return 10
    return 25


class MaskPaintingMixin:
    """The mask model, overlay and brush of the canvas."""

    # ------------------------------------------------------------------- mask
    @property
    def mask_model(self) -> MaskModel | None:
        return self._mask_model

    def set_mask_model(self, model: MaskModel) -> None:
        size = self._input_size
        if size is not None and model.shape != (size[1], size[0]):
            raise MaskError(f"the mask is {model.width}x{model.height} "
                            f"but the image is {size[0]}x{size[1]}")
        self._end_stroke()
        if self._mask_model is not None:
            self._mask_model.changed.disconnect(self._on_mask_rect)
        self._mask_model = model
        model.changed.connect(self._on_mask_rect)
        self._overlay.resize(model.height, model.width)
        self._overlay.refresh(model.paint)
        self._update_scene_rect()
        self.maskChanged.emit()

    def _on_mask_rect(self, rect: Rect) -> None:
        if self._mask_model is not None:
            self._overlay.refresh(self._mask_model.paint, rect)
        if not self._stroking:
            self.maskChanged.emit()

    def undo(self) -> bool:
        self._end_stroke()
        return self._mask_model.undo() if self._mask_model is not None else False

    def redo(self) -> bool:
        self._end_stroke()
        return self._mask_model.redo() if self._mask_model is not None else False

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay.setOpacity(min(1.0, max(0.0, float(opacity))))

    @property
    def overlay_opacity(self) -> float:
        return self._overlay.opacity()

    def set_overlay_visible(self, visible: bool) -> None:
        """Show or hide the mask overlay (it stays hidden over a super-resolved result)."""
        self._overlay_wanted = bool(visible)
        self._apply_overlay_visibility()

    @property
    def overlay_visible(self) -> bool:
        """The setting of ``set_overlay_visible`` (the overlay is still hidden over an SR result)."""
        return self._overlay_wanted

    def _apply_overlay_visibility(self) -> None:
        # The mask is in input pixels and only meaningful over the input geometry.
        self._overlay.setVisible(self._overlay_wanted and self._scale == 1)

    @property
    def overlay_style(self) -> str:
        """"fill" (the painted pixels tinted) or "outline" (only their boundary)."""
        return self._overlay.style

    def set_overlay_style(self, style: str) -> None:
        """"fill" tints the region to be filled; "outline" draws only its boundary, a
        one-screen-pixel dashed line, so a result under it stays visible. Painting a
        stroke switches back to "fill". Emits ``overlayStyleChanged`` on a change."""
        if style not in OVERLAY_STYLES:
            raise ValueError(f"unknown overlay style {style!r}; expected one of {OVERLAY_STYLES}")
        if style == self._overlay.style:
            return
        self._overlay.set_style(style)
        self.overlayStyleChanged.emit(style)

    def set_overlay_color(self, color: QColor) -> None:
        self._overlay.set_color(color)
        if self._mask_model is not None:
            self._overlay.refresh(self._mask_model.paint)

    # ------------------------------------------------------------ tools, size
    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if tool == self._tool:
            return
        self._end_stroke()
        self._tool = tool
        self._update_cursor()
        self.toolChanged.emit(tool)
        self.brushSizeChanged.emit(self._sizes[tool])

    @property
    def brush_size(self) -> int:
        """Diameter of the current tool, in image pixels."""
        return self._sizes[self._tool]

    @brush_size.setter
    def brush_size(self, size: int) -> None:
        self.set_brush_size(size)

    def set_brush_size(self, size: int) -> None:
        self.set_tool_size(self._tool, size)

    def tool_size(self, tool: str) -> int:
        return self._sizes[tool]

    def set_tool_size(self, tool: str, size: int) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        size = int(min(MAX_BRUSH, max(MIN_BRUSH, round(size))))
        if size == self._sizes[tool]:
            return
        self._sizes[tool] = size
        if tool == self._tool:
            self._update_cursor()
            self.brushSizeChanged.emit(size)

    def increase_brush_size(self, steps: int = 1) -> None:
        size = self.brush_size
        for _ in range(max(0, steps)):
            size += _size_step(size)
        self.set_brush_size(size)

    def decrease_brush_size(self, steps: int = 1) -> None:
        size = self.brush_size
        for _ in range(max(0, steps)):
            size -= _size_step(max(MIN_BRUSH, size - 1))
        self.set_brush_size(size)

    @property
    def painting_enabled(self) -> bool:
        return self._painting_enabled

    @painting_enabled.setter
    def painting_enabled(self, enabled: bool) -> None:
        self.set_painting_enabled(enabled)

    def set_painting_enabled(self, enabled: bool) -> None:
        self._painting_enabled = bool(enabled)
        if not self._painting_enabled:
            self._end_stroke()
        self._update_cursor()

    def _can_paint(self) -> bool:
        # not over a super-resolved result: the mask is hidden there, so strokes would be blind
        return self._painting_enabled and self._mask_model is not None and self._scale == 1


    # ----------------------------------------------------------------- stroke
    def _paint_at(self, view_pos: QPointF) -> None:
        if self._mask_model is None:
            return
        p = self.image_pos(view_pos)
        self._mask_model.stroke_to(p.x(), p.y(), self.brush_size / 2.0)

    def _end_stroke(self) -> None:
        if not self._stroking:
            return
        self._stroking = False
        if self._mask_model is not None and self._mask_model.end_stroke():
            self.maskChanged.emit()
