"""Two results side by side (e.g. two runs on the same image), zoomed and panned together.

Each side is a read-only :class:`ImageCanvas` (no painting, no mask overlay). Whatever
one side shows, the other follows: the same zoom and the same image point in the
middle of the view. Sides of different sizes are matched by the fraction of the image,
so a 2x result next to a 1x one still shows the same area.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from .canvas import ImageCanvas


class SideBySideView(QWidget):
    """Left and right canvases whose zoom and pan stay in step, each under a title."""

    zoomChanged = Signal(float)      # the left side's zoom (it follows the right one too)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.left = ImageCanvas(self)
        self.right = ImageCanvas(self)
        self.left_title = QLabel(self)
        self.right_title = QLabel(self)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setHorizontalSpacing(4)
        lay.setVerticalSpacing(2)
        for col, (title, canvas) in enumerate(((self.left_title, self.left), (self.right_title, self.right))):
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            canvas.set_painting_enabled(False)
            canvas.set_overlay_visible(False)
            lay.addWidget(title, 0, col)
            lay.addWidget(canvas, 1, col)
            lay.setColumnStretch(col, 1)
        self._syncing = False
        self._shown_once = False
        for src, dst in ((self.left, self.right), (self.right, self.left)):
            src.zoomChanged.connect(lambda _z, s=src, d=dst: self._sync(s, d))
            src.horizontalScrollBar().valueChanged.connect(lambda _v, s=src, d=dst: self._sync(s, d))
            src.verticalScrollBar().valueChanged.connect(lambda _v, s=src, d=dst: self._sync(s, d))
        self.left.zoomChanged.connect(self.zoomChanged)

    def set_images(self, left: np.ndarray | QImage, right: np.ndarray | QImage,
                   left_title: str = "", right_title: str = "") -> None:
        """Show two images (float [0, 1] or uint8 HxW[xC] arrays), both fitted to the view."""
        for canvas, image in ((self.left, left), (self.right, right)):
            if isinstance(image, QImage):
                image = _qimage_to_array(image)
            canvas.set_image(image)
        self.left_title.setText(left_title)
        self.right_title.setText(right_title)
        self.left_title.setVisible(bool(left_title or right_title))
        self.right_title.setVisible(bool(left_title or right_title))
        self.fit()

    def fit(self) -> None:
        """Fit both sides; they stay fitted while the widget is resized."""
        self._syncing = True
        try:
            self.left.fit()
            self.right.fit()
        finally:
            self._syncing = False

    def set_zoom(self, zoom: float) -> None:
        """Zoom the left side about its centre; the right side follows."""
        self.left.set_zoom(zoom)

    @property
    def zoom(self) -> float:
        return self.left.zoom

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            # the canvases have their real size only now
            self._shown_once = True
            self.fit()

    def _sync(self, src: ImageCanvas, dst: ImageCanvas) -> None:
        if self._syncing or not src.has_image or not dst.has_image:
            return
        self._syncing = True
        try:
            if src.is_fitted:
                dst.fit()
            else:
                # match the fraction of the image in view, not raw pixels: sizes may differ
                ratio = src.image_size[0] / dst.image_size[0]
                c = src.view_center()
                dst.set_view(src.zoom * ratio, QPointF(c.x() / ratio, c.y() / ratio))
        finally:
            self._syncing = False


def _qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage as an HxWx3 uint8 array (the canvases take arrays)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = rgb.height(), rgb.width()
    buf = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.bytesPerLine() * h)
    return buf.reshape(h, rgb.bytesPerLine())[:, :3 * w].reshape(h, w, 3).copy()


def compare_dialog(parent: QWidget, left, right, left_title: str, right_title: str) -> QDialog:
    """A non-modal window holding a :class:`SideBySideView` of ``left`` and ``right``
    (deleted when closed), shown at most the parent's size."""
    dlg = QDialog(parent)
    dlg.setWindowTitle(f"{left_title} | {right_title}")
    dlg.setAttribute(Qt.WA_DeleteOnClose)
    view = SideBySideView(dlg)
    lay = QVBoxLayout(dlg)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(view)
    view.set_images(left, right, left_title, right_title)
    dlg.resize(min(1400, parent.width()), min(800, parent.height()))
    dlg.show()
    return dlg
