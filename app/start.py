"""The program's start: the QApplication (names, icon, desktop-file id), the main window with
its first image (an autosave to restore, the path given, or the bundled sample), and the
smoke checks' timed quit (``DIP_STUDIO_QUIT_AFTER``).

The window is built by the function it is given (main.py passes app.main_window.build_window):
no module in app/ but the window itself imports main_window, so the floors stay one way."""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMainWindow
from pyqtgraph.util.garbage_collector import GarbageCollector

import resources
from . import settings_store as keys
from .desktop_entry import APP_ID
from .app_info import APP_TITLE, SAMPLE_IMAGE, SAMPLE_REFERENCE

log = logging.getLogger(__name__)
# seconds after which the app reports what it shows and quits by itself: the smoke checks
# of the installed wheel and the bundle (.ci/run, packaging/bundle.py) run it offscreen
QUIT_AFTER_ENV = "DIP_STUDIO_QUIT_AFTER"


def run_app(build_window: Callable[[], QMainWindow], path: str | None = None) -> int:
    """Open the GUI that ``build_window`` builds (app.main_window's) on ``path`` (an image or a
    project; else the bundled sample with its clean reference); returns the exit code of the
    event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(keys.ORGANIZATION)
    app.setApplicationName(keys.APPLICATION)
    app.setApplicationDisplayName(APP_TITLE)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)   # Wayland and the task bar match the window to its desktop entry
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Python's cyclic collector, run in whichever thread allocates, can free a QObject in the
    # engine's worker thread, whose destructor then waits for the interpreter that thread holds
    # (a hang seen in the tests: a run's QThread stuck in ~QObject). pyqtgraph's collector turns
    # automatic collection off and collects on a GUI-thread timer instead.
    gc_on_gui_thread = GarbageCollector(interval=1.0)   # noqa: F841 (kept alive by this frame)
    win = build_window()
    win.show()
    if win.autosave.exists() and win.offer_restore():
        pass
    elif path:
        win.open_path(path)
    elif SAMPLE_IMAGE.exists():
        win.open_path(str(SAMPLE_IMAGE), str(SAMPLE_REFERENCE) if SAMPLE_REFERENCE.exists() else None)
        win.use_sample_settings()
    else:
        log.warning("the bundled sample %s is missing: this installation lost its resources", SAMPLE_IMAGE)
    quit_after = os.environ.get(QUIT_AFTER_ENV)
    if quit_after:
        QTimer.singleShot(int(float(quit_after) * 1000), lambda: _report_and_quit(app, win))
    return app.exec()


def app_icon() -> QIcon:
    icon = QIcon()
    for name in (resources.ICON_SVG, resources.ICON_PNG):   # scalable first; the PNG where SVG is not read
        p = resources.path(name)
        if p.exists():
            icon.addFile(str(p))
    return icon


def _report_and_quit(app: QApplication, win: QMainWindow) -> None:
    # one line a smoke check can test: the window is up and shows the sample (or the given image)
    image = win.doc.image
    shown = "no image" if image is None else f"{win.doc.name or 'an image'} {image.shape[1]}x{image.shape[0]}"
    print(f"{APP_TITLE}: window {'shown' if win.isVisible() else 'hidden'}, {shown}", flush=True)
    win.close()
    app.quit()
