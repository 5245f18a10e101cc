"""The one place that paints a run's output on the canvas: whole frames, finished tiles
painted in place, and what goes with showing an output (the mask as an outline, the input
to compare against)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction

from .canvas import ImageCanvas
from .document import Document
from .session import RunSession


class ResultPainter:
    def __init__(self, canvas: ImageCanvas, doc: Document, session: RunSession, split_action: QAction):
        self.canvas = canvas
        self.doc = doc
        self.s = session
        self.split_action = split_action

    def show(self, image) -> None:
        """An output (array, or the worker's ready QImage) on the canvas."""
        self.canvas.set_display(image)
        self.mark_showing()

    def paint_into(self, left: int, top: int, image) -> None:
        """A finished unit of a tiled job, painted into the shown image in place."""
        self.canvas.paint_into_display(left, top, image)

    def clear(self) -> None:
        """A run starts: the input on the canvas, the mask as an outline."""
        self.canvas.set_display(None)
        self.canvas.set_overlay_style("outline")
        self.apply_compare()

    def reset(self) -> None:
        """No run on screen: the mask's red fill again."""
        self.canvas.set_overlay_style("fill")
        self.apply_compare()

    def mark_showing(self) -> None:
        """An output is on the canvas: the mask shows as an outline (its red fill would hide
        exactly the pixels the run fills in); painting a stroke brings the fill back."""
        self.s.showing_result = True
        self.canvas.set_overlay_style("outline")
        self.apply_compare()

    def apply_compare(self) -> None:
        """Split view shows input | result; otherwise holding C shows the input (the canvas
        handles the key while it has focus)."""
        doc, s = self.doc, self.s
        if doc.image is None:
            return
        src: np.ndarray = s.run_input if s.run_input is not None else doc.image
        split = self.split_action.isChecked()
        key = None if not s.showing_result else (id(src), split)
        if key == s.compare_key:
            return   # previews arrive every 200 ms: do not re-upload the same input each time
        s.compare_key = key
        if key is None:   # the canvas shows the input already
            self.canvas.set_compare(None)
        else:
            self.canvas.set_compare(src, s.split_position if split else None)
