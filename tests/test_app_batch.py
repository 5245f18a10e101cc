"""The Batch window (app/batch_window.py): a folder in the background with the panel's
settings, the table of images, opening a result, stop and resume, and the main window's
menu entry and quit question."""
import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from app import settings_store as keys
from app.batch_window import UNFINISHED, BatchWindow
from tests.helpers import TINY_QT, smooth_image, tiny_config
from tests.qt_helpers import answers, window  # noqa: F401 - fixtures


def _folder(tmp_path, n=3, bad=True):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(n):
        a = smooth_image(32, 32, seed=i)
        Image.fromarray((a * 255).astype(np.uint8)).save(d / f"p{i}.png")
    if bad:
        (d / "zz_bad.png").write_bytes(b"nope")
    return d


@pytest.fixture
def make_window(qtbot):
    made = []

    def make(cfg, opened=None):
        w = BatchWindow(lambda: cfg, (opened.append if opened is not None else None))
        qtbot.addWidget(w)
        made.append(w)
        return w
    yield make
    for w in made:
        w.shutdown()


def test_a_folder_runs_in_the_background_and_a_result_opens(qtbot, tmp_path, make_window):
    d = _folder(tmp_path)
    opened = []
    w = make_window(tiny_config("denoise", iterations=10, stop="never", **TINY_QT), opened)
    w.input_edit.setText(str(d))
    assert w.start() and w.running and not w.start_button.isEnabled()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.last_code == 1                                   # the bad file failed, the others went on
    assert [w.status_of(f"p{i}.png") for i in range(3)] == ["done"] * 3
    assert w.status_of("zz_bad.png") == "failed"
    out = d / "restored"
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p1.png", "p2.png"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4
    row = next(r for r in range(w.table.rowCount()) if w.table.item(r, 0).text() == "p1.png")
    assert w.table.item(row, 3).text() == "10" and w.table.item(row, 2).text() == "100%"
    w.table.cellDoubleClicked.emit(row, 0)
    assert opened == [str(out / "p1.png")]
    assert "1 failed" in w.status_label.text() and not w.resume_button.isEnabled()
    assert keys.value(UNFINISHED, "", str) == ""               # ended: nothing to resume


def test_a_stopped_batch_is_offered_again_and_resumes(qtbot, tmp_path, make_window):
    d = _folder(tmp_path, n=3, bad=False)
    for i in (1, 2):        # larger than p0: on 2 threads p1 runs beside it (lanes) and is still stepping when it ends
        Image.fromarray((smooth_image(64, 64, seed=i) * 255).astype(np.uint8)).save(d / f"p{i}.png")
    cfg = tiny_config("denoise", iterations=150, stop="never", **TINY_QT)
    w = make_window(cfg)
    w.input_edit.setText(str(d))
    w.start()
    qtbot.waitUntil(lambda: w.status_of("p0.png") == "done", timeout=60_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.last_code == 130 and w.status_of("p1.png") == "interrupted"
    assert json.loads(keys.value(UNFINISHED, "", str))["input"] == str(d)
    # a new window (the app restarted) offers the unfinished batch, with its own settings
    other = tiny_config("inpaint", iterations=5)
    w2 = make_window(other)
    assert w2.resume_button.isEnabled() and "did not finish" in w2.status_label.text()
    assert w2.resume()
    qtbot.waitUntil(lambda: not w2.running, timeout=120_000)
    assert w2.last_code == 0
    assert [w2.status_of(f"p{i}.png") for i in range(3)] == ["skipped", "done", "done"]
    assert keys.value(UNFINISHED, "", str) == "" and not w2.resume_button.isEnabled()


def test_the_menu_opens_it_and_quitting_during_a_batch_asks(qtbot, tmp_path, window, answers):  # noqa: F811
    assert window.act_batch in window.menuBar().actions()[0].menu().actions()
    window.panel.set_config(tiny_config("denoise", iterations=400, stop="never", **TINY_QT))
    bw = window.show_batch()
    assert bw is window.show_batch() and bw.isVisible()
    assert "denoise" in bw.settings_label.text()
    bw.input_edit.setText(str(_folder(tmp_path, n=2, bad=False)))
    assert bw.start()
    answers.answer = QMessageBox.No
    assert not window.close()                          # asked, and the batch goes on
    assert any("batch" in q for q in answers.questions) and bw.running
    answers.answer = QMessageBox.Yes
    window.close()                                     # asked again: stop, then close once it ended
    qtbot.waitUntil(lambda: not bw.running, timeout=60_000)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert bw.last_code == 130


# ---- a long batch is asked about; a refusal is said in the window -------------------------
def test_a_batch_over_an_hour_asks_and_no_leaves_it_unstarted_with_the_reason(qtbot, tmp_path, make_window,
                                                                              answers, monkeypatch):
    from engine import tiling

    monkeypatch.setattr(tiling, "LONG_PLAN_S", 0.0)      # any estimate is "over an hour" now
    d = _folder(tmp_path, n=2, bad=False)
    w = make_window(tiny_config("denoise", iterations=10, stop="never", **TINY_QT))
    w.input_edit.setText(str(d))
    answers.answer = QMessageBox.No
    assert w.start()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    (q,) = answers.questions
    assert "2 of 2 photos to restore" in q and "Start it?" in q
    assert w.last_code == 2 and not list(d.glob("restored/*"))
    text = w.status_label.text()
    assert text.startswith("Not started: 2 of 2 photos") and "over an hour" in text and "Finished" not in text
    assert keys.value(UNFINISHED, "", str) == "" and not w.resume_button.isEnabled()   # nothing to resume
    assert w.start_button.isEnabled()


def test_a_batch_over_an_hour_runs_when_the_user_agrees(qtbot, tmp_path, make_window, answers, monkeypatch):
    from engine import tiling

    monkeypatch.setattr(tiling, "LONG_PLAN_S", 0.0)
    d = _folder(tmp_path, n=2, bad=False)
    w = make_window(tiny_config("denoise", iterations=10, stop="never", **TINY_QT))
    w.input_edit.setText(str(d))
    answers.answer = QMessageBox.Yes
    assert w.start()
    qtbot.waitUntil(lambda: w.last_code is not None and not w.running, timeout=60_000)
    assert len(answers.questions) == 1                    # asked once, then run with yes
    assert w.last_code == 0 and [w.status_of(f"p{i}.png") for i in range(2)] == ["done"] * 2
    assert w.status_label.text().startswith("Finished: 2 done")


def test_the_engines_refusal_is_said_in_the_window(qtbot, tmp_path, make_window, monkeypatch):
    import app.batch_window as bw_mod

    class Refusing:
        def __init__(self, opts, executor, on_event=None, stream=None):
            self.stream = stream

        def run(self) -> int:
            self.stream.write("plan: 3 photos\nerror: the cluster has no room for a 3-thread unit\n")
            return 2

    monkeypatch.setattr(bw_mod, "Batch", Refusing)
    d = _folder(tmp_path, n=1, bad=False)
    w = make_window(tiny_config("denoise", iterations=10, **TINY_QT))
    w.input_edit.setText(str(d))
    assert w.start()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert w.last_code == 2
    assert w.status_label.text() == "The batch did not start: the cluster has no room for a 3-thread unit"


def test_a_long_batch_stopped_while_it_plans_is_not_asked_about(qtbot, tmp_path, make_window, answers,
                                                               monkeypatch):
    from engine import tiling

    monkeypatch.setattr(tiling, "LONG_PLAN_S", 0.0)
    d = _folder(tmp_path, n=1, bad=False)
    w = make_window(tiny_config("denoise", iterations=10, stop="never", **TINY_QT))
    w.input_edit.setText(str(d))
    assert w.start()
    w.stop()                                             # before the engine's refusal arrives
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert answers.questions == [] and w.last_code == 2
    assert w.status_label.text().startswith("Not started: 1 of 1 photos")
