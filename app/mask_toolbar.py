"""A tool bar for painting the inpainting mask: brush/eraser, size, overlay opacity and the
window's mask actions, so painting no longer needs the keyboard.

The bar owns no mask logic. Tool and size live on the canvas and are mirrored both ways
(the canvas' B/E/[ ] keys and Alt+wheel move the bar's controls); clear, invert, grow,
shrink, undo, redo, open and save are the window's own QActions, added as they are, so their
enable rules and shortcuts stay in one place.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QHelpEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QSpinBox, QToolBar, QToolTip, QWidget

from .canvas import MAX_BRUSH, MIN_BRUSH, ImageCanvas

# The window's actions the bar shows, in the bar's order; None is a separator between groups.
ACTION_KEYS: tuple[str | None, ...] = ("undo", "redo", None, "clear", "invert", "grow", "shrink",
                                       None, "open", "save")
_BUTTON_NAMES = {k: f"mask{k.capitalize()}Button" for k in ACTION_KEYS if k is not None}


class MaskToolBar(QToolBar):
    """Mask painting controls bound to ``canvas``.

    ``actions`` maps keys of :data:`ACTION_KEYS` to the window's QActions; a missing key is
    not shown, an unknown one is an error (a typo would otherwise hide a button silently).
    ``opacityChanged`` is emitted when the user moves the opacity slider, for the window to
    persist; :meth:`set_opacity` (for restoring it) does not emit.
    """

    opacityChanged = Signal(float)

    def __init__(self, canvas: ImageCanvas, actions: dict[str, QAction] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Mask", parent)
        self.setObjectName("maskToolBar")   # QMainWindow.saveState needs it
        actions = dict(actions or {})
        unknown = sorted(set(actions) - set(_BUTTON_NAMES))
        if unknown:
            raise ValueError(f"unknown mask action keys {unknown}; expected some of {sorted(_BUTTON_NAMES)}")
        self._canvas = canvas
        self._editing_enabled = True

        self._tools = QActionGroup(self)
        self._tools.setExclusive(True)
        self.brush_action = self._tool_action("brush", "Brush", "maskBrushButton",
                                              "Brush (B): paint the pixels to fill")
        self.eraser_action = self._tool_action("eraser", "Eraser", "maskEraserButton",
                                               "Eraser (E): unpaint pixels, keeping them as they are")

        size_tip = ("Brush size in image pixels, for the current tool "
                    "([ smaller, ] larger, or Alt+wheel on the image)")
        self.addWidget(self._label("Size", size_tip))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setObjectName("maskSizeSlider")
        self.size_slider.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_slider.setPageStep(10)
        self.size_slider.setFixedWidth(140)
        self.size_slider.setToolTip(size_tip)
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("maskSizeSpin")
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip(size_tip)
        self.size_spin.setKeyboardTracking(False)   # typing "150" must not pass through 1 and 15
        self.addWidget(self.size_slider)
        self.addWidget(self.size_spin)

        self.addSeparator()
        opacity_tip = "Opacity of the mask overlay (Ctrl+M shows or hides it)"
        self.addWidget(self._label("Opacity", opacity_tip))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setObjectName("maskOpacitySlider")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setPageStep(10)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setToolTip(opacity_tip)
        self.opacity_label = QLabel()
        self.opacity_label.setObjectName("maskOpacityLabel")
        # wide enough for "100%" so the bar does not shift while dragging
        self.opacity_label.setMinimumWidth(self.opacity_label.fontMetrics().horizontalAdvance("100%") + 4)
        self.opacity_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.addWidget(self.opacity_slider)
        self.addWidget(self.opacity_label)

        # Clicking a slider must not take the keyboard focus from the canvas, or B/E/[ ]
        # would stop working right after the user touched the bar; Tab still reaches them.
        for slider in (self.size_slider, self.opacity_slider):
            slider.setFocusPolicy(Qt.FocusPolicy.TabFocus)

        self._window_actions: dict[str, QAction] = {}
        pending_separator = True
        for key in ACTION_KEYS:
            if key is None:
                pending_separator = True
                continue
            action = actions.get(key)
            if action is None:
                continue
            if pending_separator:
                self.addSeparator()
                pending_separator = False
            self.addAction(action)
            button = self.widgetForAction(action)
            button.setObjectName(_BUTTON_NAMES[key])
            button.installEventFilter(self)
            self._window_actions[key] = action

        self._sync_tool(canvas.tool)
        self._sync_size(canvas.brush_size)
        self._show_opacity(canvas.overlay_opacity)
        self.set_editing_enabled(canvas.painting_enabled)

        canvas.toolChanged.connect(self._sync_tool)
        canvas.brushSizeChanged.connect(self._sync_size)
        self.size_slider.valueChanged.connect(self._on_size)
        self.size_spin.valueChanged.connect(self._on_size)
        self.opacity_slider.valueChanged.connect(self._on_opacity)

    # ------------------------------------------------------------------ API
    @property
    def canvas(self) -> ImageCanvas:
        return self._canvas

    def window_action(self, key: str) -> QAction | None:
        """The window's action shown for ``key``, or None when it was not given."""
        return self._window_actions.get(key)

    @property
    def editing_enabled(self) -> bool:
        return self._editing_enabled

    def set_editing_enabled(self, enabled: bool) -> None:
        """Enable the brush controls (tools and size); call it with the canvas'
        ``set_painting_enabled``. The opacity stays usable: it only changes the view, which
        is still wanted while a run uses the mask. The window's actions keep their own rules."""
        self._editing_enabled = bool(enabled)
        self._tools.setEnabled(self._editing_enabled)
        self.size_slider.setEnabled(self._editing_enabled)
        self.size_spin.setEnabled(self._editing_enabled)

    def set_opacity(self, opacity: float) -> None:
        """Show and apply an overlay opacity in [0, 1] without emitting ``opacityChanged``
        (for a value restored from the settings or chosen in a menu)."""
        opacity = min(1.0, max(0.0, float(opacity)))
        self._canvas.set_overlay_opacity(opacity)
        self._show_opacity(opacity)

    # ------------------------------------------------------------ internals
    def _tool_action(self, tool: str, text: str, name: str, tip: str) -> QAction:
        action = QAction(text, self)
        action.setCheckable(True)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        # triggered, not toggled: only the user's click goes to the canvas; following the
        # canvas (setChecked) must not echo back
        action.triggered.connect(lambda _checked=False, t=tool: self._canvas.set_tool(t))
        self._tools.addAction(action)
        self.addAction(action)
        self.widgetForAction(action).setObjectName(name)
        return action

    @staticmethod
    def _label(text: str, tip: str) -> QLabel:
        label = QLabel(f" {text} ")
        label.setToolTip(tip)
        return label

    def _sync_tool(self, tool: str) -> None:
        (self.eraser_action if tool == "eraser" else self.brush_action).setChecked(True)

    def _sync_size(self, size: int) -> None:
        for w in (self.size_slider, self.size_spin):
            if w.value() != size:
                blocked = w.blockSignals(True)
                w.setValue(size)
                w.blockSignals(blocked)

    def _on_size(self, size: int) -> None:
        # the canvas clamps and answers with brushSizeChanged, which moves the other control
        self._canvas.set_brush_size(size)
        # an unchanged size (the canvas already had it) emits nothing: keep both controls equal
        self._sync_size(self._canvas.brush_size)

    def _show_opacity(self, opacity: float) -> None:
        pct = int(round(opacity * 100))
        blocked = self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(pct)
        self.opacity_slider.blockSignals(blocked)
        self.opacity_label.setText(f"{pct}%")

    def _on_opacity(self, pct: int) -> None:
        opacity = pct / 100.0
        self._canvas.set_overlay_opacity(opacity)
        self.opacity_label.setText(f"{pct}%")
        self.opacityChanged.emit(opacity)

    def tool_tip_for(self, action: QAction) -> str:
        """The tooltip the bar shows for one of the window's actions: its own, plus its
        shortcuts. Built when shown, since the button resets its tooltip on every change of
        the action (e.g. each enable/disable)."""
        tip = action.toolTip()
        keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        keys = [k for k in keys if k]
        return f"{tip} ({', '.join(keys)})" if keys else tip

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:   # noqa: N802
        if event.type() == QEvent.Type.ToolTip:
            for action in self._window_actions.values():
                if self.widgetForAction(action) is watched:
                    assert isinstance(event, QHelpEvent)
                    QToolTip.showText(event.globalPos(), self.tool_tip_for(action), watched)
                    return True
        return super().eventFilter(watched, event)
