"""What a room may ask of the window without holding it: dialogs over it, a line in the status
bar, the enable rules applied again, and the question before an unsaved result is lost.

The window makes one and hands it to each room (app/main_window.py); a room that needs a
dialog's parent gets :attr:`UiPort.parent`, a plain widget.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget


class UiPort:
    def __init__(self, parent: QWidget, status_bar: QStatusBar,
                 refresh: Callable[[], None], save_result: Callable[[], bool], unsaved: Callable[[], bool]):
        self.parent = parent
        self._bar = status_bar
        self.refresh = refresh
        self._save_result = save_result
        self._unsaved = unsaved

    def status(self, text: str, ms: int = 0) -> None:
        self._bar.showMessage(text, ms)

    def error(self, title: str, message: str) -> None:
        self._bar.showMessage(message, 10000)
        QMessageBox.warning(self.parent, title, message)

    def ask(self, title: str, text: str, buttons=QMessageBox.Yes | QMessageBox.No, default=QMessageBox.No):
        return QMessageBox.question(self.parent, title, text, buttons, default)

    def confirm_discard_result(self, action: str) -> bool:
        """True when there is no unsaved result or the user lets it go (or saved it)."""
        if not self._unsaved():
            return True
        ans = self.ask("Unsaved result", f"The result has not been saved. Save it before {action}?",
                       QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if ans == QMessageBox.Save:
            return self._save_result()
        return ans == QMessageBox.Discard
