"""Shared pytest-qt fixtures for the main-window tests: stand-ins for the modal message boxes
and a shown MainWindow that is shut down after the test."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow


class Answers:
    """Stands in for the modal QMessageBox calls; records what was asked. ``answer`` is a
    button or a function of the question's text."""

    def __init__(self, monkeypatch, question=QMessageBox.Yes):
        self.questions: list[str] = []
        self.warnings: list[str] = []        # the warnings' texts
        self.warning_titles: list[str] = []
        self.answer = question
        monkeypatch.setattr(QMessageBox, "question", self._question)
        monkeypatch.setattr(QMessageBox, "warning", self._warning)

    def _question(self, _parent, _title, text, *_a, **_k):
        self.questions.append(text)
        return self.answer(text) if callable(self.answer) else self.answer

    def _warning(self, _parent, title, text, *_a, **_k):
        self.warnings.append(text)
        self.warning_titles.append(title)
        return QMessageBox.Ok


@pytest.fixture
def answers(monkeypatch):
    return Answers(monkeypatch)


@pytest.fixture
def window(qtbot, answers):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.controller.shutdown(10_000)
    w.controller.discard(10_000)
