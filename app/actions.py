"""Every menu and tool-bar action of the window, declared once with its shortcut, its tip and
the rule that enables it.

The rules read a :class:`UiState` snapshot (plain booleans), so "when may the user do X"
has one home and can be read as a table; the window builds the snapshot and calls
:meth:`Actions.update` whenever something it depends on changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenuBar, QToolBar, QWidget

GROW_SHRINK_PX = 2
OPACITIES = (25, 50, 75, 100)


@dataclass(frozen=True)
class UiState:
    has_image: bool = False
    active: bool = False           # a run is building, running, paused or stopping
    state: str = "idle"            # RunController.state
    inpaint: bool = False          # the task uses a mask
    valid: bool = False            # the settings panel's fields make a config
    can_continue: bool = False
    has_result: bool = False
    has_curve: bool = False
    region: bool = False
    mask_painted: bool = False
    can_undo: bool = False
    can_redo: bool = False

    @property
    def steppable(self) -> bool:
        return self.state in ("building", "running", "paused")

    @property
    def idle_image(self) -> bool:
        return self.has_image and not self.active

    @property
    def mask_editable(self) -> bool:
        return self.idle_image and self.inpaint


Rule = Callable[[UiState], bool]


@dataclass(frozen=True)
class Spec:
    key: str
    text: str
    shortcut: object = None        # a QKeySequence.StandardKey, a string or a list of strings
    tip: str = ""
    enabled: Rule | None = None    # None: always enabled
    checkable: bool = False


SPECS: tuple[Spec, ...] = (
    # file
    Spec("open", "&Open...", QKeySequence.Open, "Open an image or a DIP Studio project"),
    Spec("open_project", "Open &project...", "Ctrl+Shift+O", "Open a saved project (.dipproj)"),
    Spec("save_project", "Save pro&ject...", "Ctrl+Shift+S",
         "Save the image, mask, settings and every run in one .dipproj file", lambda s: s.idle_image),
    Spec("open_mask", "Open &mask...", None, "Load an inpainting mask (white = known, black = to fill)",
         lambda s: s.idle_image),
    Spec("open_reference", "Open &reference...", None,
         "A clean image to measure PSNR against (never used by the run)", lambda s: s.idle_image),
    Spec("open_guide", "Open &flash photo...", None, "The flash photo that guides a flash/no-flash run",
         lambda s: s.idle_image),
    Spec("save", "&Save result...", QKeySequence.Save, "Save the result at full resolution",
         lambda s: s.has_result),
    Spec("save_mask", "Save mas&k...", None, "Save the painted mask", lambda s: s.has_image and s.mask_painted),
    Spec("export_csv", "&Export loss CSV...", None, "Write the loss (and PSNR) curve as CSV",
         lambda s: s.has_curve),
    Spec("batch", "&Batch restore a folder...", None,
         "Restore every photo of a folder with these settings, in the background, here or on a Ray cluster"),
    Spec("simulate", "Si&mulate degradation...", None,
         "Degrade the current image to try a task with a known answer", lambda s: s.idle_image),
    Spec("region", "Work on a &region...", None, "Drag a rectangle on the image: the run uses only that part",
         lambda s: s.idle_image),
    Spec("whole", "Work on the &whole image", None, "", lambda s: s.region and not s.active),
    Spec("quit", "&Quit", QKeySequence.Quit),
    # mask
    Spec("undo", "&Undo mask edit", QKeySequence.Undo, "", lambda s: s.mask_editable and s.can_undo),
    Spec("redo", "&Redo mask edit", QKeySequence.Redo, "", lambda s: s.mask_editable and s.can_redo),
    Spec("clear_mask", "&Clear mask", None, "Remove everything painted", lambda s: s.mask_editable),
    Spec("invert_mask", "&Invert mask", None, "Paint what is not painted and the reverse",
         lambda s: s.mask_editable),
    Spec("grow_mask", f"&Grow mask ({GROW_SHRINK_PX} px)", "Ctrl+]", "", lambda s: s.mask_editable),
    Spec("shrink_mask", f"S&hrink mask ({GROW_SHRINK_PX} px)", "Ctrl+[", "", lambda s: s.mask_editable),
    # view
    Spec("zoom_in", "Zoom &in", ["Ctrl+=", "Ctrl++"]),
    Spec("zoom_out", "Zoom &out", "Ctrl+-"),
    Spec("fit", "&Fit to window", "Ctrl+0"),
    Spec("show_ema", "Show &EMA (smoothed output)", "Ctrl+E",
         "Show the exponential moving average of the outputs", checkable=True),
    Spec("split", "&Split view (input | result)", "Ctrl+D",
         "Compare the input and the result side by side; drag the line to move it", checkable=True),
    Spec("overlay", "Show mask &overlay", "Ctrl+M", "", checkable=True),
    # run
    Spec("run", "&Run", ["F5", "Ctrl+Return", "Ctrl+Enter"], "Start a restoration with the settings on the right",
         lambda s: s.idle_image and s.valid),
    Spec("pause", "&Pause", ["F6", "Ctrl+P"], "Pause or resume the run", lambda s: s.steppable),
    Spec("stop", "S&top", ["Esc", "Shift+F5"], "Stop the run after this step", lambda s: s.steppable),
    Spec("continue", "&Continue", "F7", "Extend a stopped or finished run by the given number of steps",
         lambda s: s.can_continue),
    # help
    Spec("impedance", "Why early stopping &works...", None,
         "The paper's noise-impedance demo: a small net fits the image, image + noise, shuffled pixels and "
         "noise; the image comes first"),
    Spec("about", "&About DIP Studio", None, "The version, the libraries and the device in use, where settings, "
         "autosaves and finished tiles are kept"),
)

MENUS: tuple[tuple[str, tuple], ...] = (
    ("&File", ("open", "@recent", "open_project", "open_mask", "open_reference", "open_guide", None,
               "save", "save_project", "save_mask", "export_csv", None, "batch", "simulate", "region", "whole", None,
               "quit")),
    ("&Edit", ("undo", "redo", None, "clear_mask", "invert_mask", "grow_mask", "shrink_mask")),
    ("&View", ("zoom_in", "zoom_out", "fit", None, "show_ema", "split", "@hold_c", None, "overlay", "@opacity",
               None, "@docks")),
    ("&Run", ("run", "pause", "stop", "continue")),
    ("&Help", ("impedance", None, "about")),
)

TOOLBAR = ("open", "save", None, "run", "pause", "stop", "continue", None, "zoom_in", "zoom_out", "fit", None,
           "show_ema", "split")


def _shortcuts(shortcut) -> list[QKeySequence]:
    if shortcut is None:
        return []
    items = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
    return [QKeySequence(s) for s in items]


class Actions:
    """The QActions of :data:`SPECS`, by key (``actions["save"]``), parented to ``owner`` so
    their shortcuts work even when the menu bar is hidden."""

    def __init__(self, owner: QWidget, slots: dict[str, Callable]):
        self._by_key: dict[str, QAction] = {}
        self._rules: dict[str, Rule] = {}
        for spec in SPECS:
            a = QAction(spec.text, owner)
            a.setShortcuts(_shortcuts(spec.shortcut))
            if spec.tip:
                a.setStatusTip(spec.tip)
                a.setToolTip(spec.tip)
            a.setCheckable(spec.checkable)
            slot = slots.get(spec.key)
            if slot is not None:
                # lambda: triggered(bool) must not reach slots that take an optional path
                (a.toggled.connect(slot) if spec.checkable else a.triggered.connect(lambda _c=False, f=slot: f()))
            owner.addAction(a)
            self._by_key[spec.key] = a
            if spec.enabled is not None:
                self._rules[spec.key] = spec.enabled
        self.opacity_group = QActionGroup(owner)
        self.opacity: dict[int, QAction] = {}
        for pct in OPACITIES:
            a = QAction(f"{pct}%", owner, checkable=True)
            self.opacity_group.addAction(a)
            self.opacity[pct] = a

    def __getitem__(self, key: str) -> QAction:
        return self._by_key[key]

    def items(self):
        return self._by_key.items()

    def update(self, state: UiState) -> None:
        for key, rule in self._rules.items():
            self._by_key[key].setEnabled(bool(rule(state)))
        self._by_key["pause"].setText("&Resume" if state.state == "paused" else "&Pause")

    def build_menus(self, menubar: QMenuBar, extras: dict[str, Callable]) -> dict[str, object]:
        """Fill the menu bar from :data:`MENUS`; "@name" entries call ``extras[name](menu)``
        (submenus and items the window owns). Returns the menus by their "@" names' results."""
        made: dict[str, object] = {}
        for title, entries in MENUS:
            menu = menubar.addMenu(title)
            for e in entries:
                if e is None:
                    menu.addSeparator()
                elif e.startswith("@"):
                    made[e[1:]] = extras[e[1:]](menu)
                else:
                    menu.addAction(self._by_key[e])
        return made

    def build_toolbar(self, toolbar: QToolBar) -> None:
        for e in TOOLBAR:
            if e is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self._by_key[e])
