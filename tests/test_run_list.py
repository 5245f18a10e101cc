"""app/run_list.py: the runs view mirrors a RunList, its buttons follow the selection and
emit the selected ids, and the curve plot shows the selected runs."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import Qt

from app.run_list import COL_PSNR, COL_RUN, COL_SETTINGS, COL_STOP, COL_TIME, THUMB, RunListView, run_colour
from app.runs import RunList, RunRecord, average_record
from engine.config import RunConfig

SHAPE = (20, 30, 3)


def record(seed: int = 0, shape=SHAPE, value: float = 0.5, steps: int = 300, **kw) -> RunRecord:
    rng = np.random.default_rng(seed)
    n = steps // 10
    kw.setdefault("stop_how", "rule")
    return RunRecord(id=0, config=RunConfig(seed=seed, lr=0.01).to_dict(),
                     result=np.full(shape, value, np.float32), steps=steps, seconds=12.4,
                     curve_steps=np.arange(1, n + 1) * 10,
                     curve_loss=np.geomspace(0.1, 0.001, n) * (1 + 0.1 * rng.random(n)), **kw)


@pytest.fixture
def runs():
    return RunList()


@pytest.fixture
def view(qtbot, runs):
    v = RunListView()
    qtbot.addWidget(v)
    v.set_run_list(runs)
    v.resize(700, 600)
    v.show()
    return v


def texts(view, row: int) -> list[str]:
    item = view.tree.topLevelItem(row)
    return [item.text(c) for c in (COL_RUN, COL_SETTINGS, COL_STOP, COL_TIME, COL_PSNR)]


def enabled(view) -> dict[str, bool]:
    return {"show": view.show_button.isEnabled(), "compare": view.compare_button.isEnabled(),
            "again": view.run_again_button.isEnabled(), "average": view.average_button.isEnabled(),
            "remove": view.remove_button.isEnabled()}


def click(qtbot, button) -> None:
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# ---- rows --------------------------------------------------------------------------
def test_rows_appear_as_runs_are_added(view, runs):
    assert view.tree.topLevelItemCount() == 0
    runs.add(record(seed=7, stop_how="rule", steps=412, psnr=28.456))
    runs.add(record(seed=8, stop_how="limit", steps=3000))
    runs.add(record(seed=9, stop_how="request", steps=250))
    assert view.tree.topLevelItemCount() == 3
    assert texts(view, 0) == ["Run 1 (seed 7)", "skip 128 ch, bilinear, lr 0.01, seed 7",
                              "stopped itself at 412", "12 s", "28.46 dB"]
    assert texts(view, 1)[2:] == ["limit 3000", "12 s", ""]
    assert texts(view, 2)[0] == "Run 3 (seed 9)"
    assert texts(view, 2)[2] == "you stopped it at 250"


def test_set_run_list_shows_an_existing_list_and_lets_the_old_one_go(qtbot, view, runs):
    runs.add(record(seed=1))
    other = RunList()
    other.add(record(seed=2))
    other.add(record(seed=3))
    view.set_run_list(other)
    assert [texts(view, r)[0] for r in range(2)] == ["Run 1 (seed 2)", "Run 2 (seed 3)"]
    runs.add(record(seed=4))
    assert view.tree.topLevelItemCount() == 2
    view.set_run_list(None)
    assert view.tree.topLevelItemCount() == 0


def test_newest_run_is_selected_when_added(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    view.select_ids([1, 2])
    runs.add(record(seed=3))
    assert view.selected_ids() == [3]
    assert view.tree.currentItem() is view.tree.topLevelItem(2)


def test_selection_survives_changes_that_add_nothing(view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    view.select_ids([1, 3])
    runs.get(2).psnr = 31.0
    runs.notify()
    assert view.selected_ids() == [1, 3]
    assert texts(view, 1)[4] == "31.00 dB"


def test_removed_and_dropped_runs_update_their_rows(view, runs):
    runs.budget_bytes = 2 * int(np.prod(SHAPE)) * 4
    for s in range(3):
        runs.add(record(seed=s))
    first = view.tree.topLevelItem(0)
    assert "dropped" in first.toolTip(COL_RUN)
    # issue 22: the small picture it had stays (it used to turn to "no image")
    assert first.icon(COL_RUN).cacheKey() != view._placeholder.cacheKey()
    assert view.tree.topLevelItem(2).icon(COL_RUN).cacheKey() != view._placeholder.cacheKey()
    runs.remove(2)
    assert [texts(view, r)[0] for r in range(2)] == ["Run 1 (seed 0)", "Run 3 (seed 2)"]


def test_average_row_reads_as_an_average(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    runs.add(average_record(runs, [1, 2]))
    row = texts(view, 2)
    assert row[0] == "Average of 1, 2"
    assert row[2] == "average of 2 runs"
    assert "seed" not in row[1]      # the first source's seed would mislead


def test_set_current_marks_one_row_bold(view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    view.set_current(2)
    bold = [view.tree.topLevelItem(r).font(COL_RUN).bold() for r in range(3)]
    assert bold == [False, True, False]
    runs.add(record(seed=9))         # rows made later follow the mark too
    assert view.tree.topLevelItem(1).font(COL_STOP).bold()
    assert not view.tree.topLevelItem(3).font(COL_RUN).bold()
    view.set_current(None)
    assert not any(view.tree.topLevelItem(r).font(COL_RUN).bold() for r in range(4))


# ---- buttons -----------------------------------------------------------------------
NONE = dict(show=False, compare=False, again=False, average=False, remove=False)


@pytest.mark.parametrize("selected, expected", [
    ([], NONE),
    ([2], dict(NONE, show=True, again=True, remove=True)),
    ([1, 3], dict(NONE, compare=True, average=True, remove=True)),
    ([1, 2, 3], dict(NONE, average=True, remove=True)),
])
def test_buttons_follow_the_selection(view, runs, selected, expected):
    for s in range(3):
        runs.add(record(seed=s))
    view.select_ids(selected)
    assert view.selected_ids() == selected
    assert enabled(view) == expected


def test_average_needs_images_of_one_shape(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2, shape=(40, 60, 3)))
    runs.add(record(seed=3))
    view.select_ids([1, 2])
    assert enabled(view)["compare"] and not enabled(view)["average"]
    assert "differ in size" in view.average_button.toolTip()
    view.select_ids([1, 3])
    assert enabled(view)["average"]


def test_average_needs_every_image_kept(view, runs):
    runs.budget_bytes = 2 * int(np.prod(SHAPE)) * 4
    for s in range(3):
        runs.add(record(seed=s))
    view.select_ids([1, 2])
    assert not enabled(view)["average"]
    assert "dropped" in view.average_button.toolTip()
    view.select_ids([2, 3])
    assert enabled(view)["average"]


def test_busy_turns_off_run_again_and_average_only(view, runs):
    for s in range(2):
        runs.add(record(seed=s))
    view.set_busy(True)
    view.select_ids([1])
    assert enabled(view) == dict(NONE, show=True, remove=True)
    view.select_ids([1, 2])
    assert enabled(view) == dict(NONE, compare=True, remove=True)
    view.set_busy(False)
    assert enabled(view) == dict(NONE, compare=True, average=True, remove=True)
    view.select_ids([2])
    assert enabled(view)["again"]


def test_show_emits_the_selected_id(qtbot, view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    view.select_ids([2])
    with qtbot.waitSignal(view.showRequested, timeout=1000) as sig:
        click(qtbot, view.show_button)
    assert sig.args == [2]


def test_double_click_on_a_row_emits_show(qtbot, view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    tree = view.tree
    rect = tree.visualItemRect(tree.topLevelItem(1))
    with qtbot.waitSignal(view.showRequested, timeout=1000) as sig:
        # Qt 6 views take a double-click as press, release, then the double-click event
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == [2]


def test_compare_emits_both_ids_in_list_order(qtbot, view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    view.select_ids([3, 1])
    with qtbot.waitSignal(view.compareRequested, timeout=1000) as sig:
        click(qtbot, view.compare_button)
    assert sig.args == [1, 3]


def test_run_again_emits_the_selected_id(qtbot, view, runs):
    for s in range(2):
        runs.add(record(seed=s))
    view.select_ids([1])
    with qtbot.waitSignal(view.runAgainRequested, timeout=1000) as sig:
        click(qtbot, view.run_again_button)
    assert sig.args == [1]


def test_average_emits_the_selected_ids(qtbot, view, runs):
    for s in range(4):
        runs.add(record(seed=s))
    view.select_ids([1, 2, 4])
    with qtbot.waitSignal(view.averageRequested, timeout=1000) as sig:
        click(qtbot, view.average_button)
    assert sig.args == [[1, 2, 4]]


def test_disabled_actions_emit_nothing(qtbot, view, runs):
    for s in range(2):
        runs.add(record(seed=s))
    view.select_ids([1, 2])
    view.set_busy(True)
    with qtbot.assertNotEmitted(view.averageRequested), qtbot.assertNotEmitted(view.showRequested):
        view.average_button.click()      # disabled: a click does nothing
        view._average()                  # and the slot checks the rule itself
        view._show()                     # two selected: not one to show


def test_remove_removes_from_the_list_and_selects_the_next(qtbot, view, runs):
    for s in range(4):
        runs.add(record(seed=s))
    view.select_ids([2, 3])
    click(qtbot, view.remove_button)
    assert [r.id for r in runs] == [1, 4]
    assert view.tree.topLevelItemCount() == 2
    assert view.selected_ids() == [4]


def test_delete_key_removes_the_selection(qtbot, view, runs):
    for s in range(2):
        runs.add(record(seed=s))
    view.select_ids([1, 2])
    view.tree.setFocus()
    qtbot.keyClick(view.tree, Qt.Key.Key_Delete)
    assert len(runs) == 0
    assert enabled(view) == NONE


# ---- thumbnails --------------------------------------------------------------------
def test_thumbnails_are_made_once_per_result(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    assert view.thumbnails_made == 2
    icon = view.tree.topLevelItem(0).icon(COL_RUN).cacheKey()
    # unrelated changes: another run, a PSNR filled in, selection, current mark, busy
    runs.add(record(seed=3))
    runs.get(1).psnr = 30.0
    runs.notify()
    view.select_ids([1, 2])
    view.set_current(1)
    view.set_busy(True)
    runs.remove(3)
    assert view.thumbnails_made == 3
    assert view.tree.topLevelItem(0).icon(COL_RUN).cacheKey() == icon


def test_thumbnail_is_remade_when_the_same_id_gets_another_image(view, runs):
    runs.add(record(seed=1, value=0.1))
    assert view.thumbnails_made == 1
    again = record(seed=1, value=0.9)
    again.id = 1
    runs.restore([again])
    assert view.thumbnails_made == 2


def test_thumbnail_is_remade_when_a_run_is_replaced_with_a_new_pick(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    before = view.tree.topLevelItem(0).icon(COL_RUN).cacheKey()
    first = runs.get(1)
    first.result = np.zeros(SHAPE, np.float32)
    runs.replace(first)
    assert view.thumbnails_made == 3
    assert view.tree.topLevelItem(0).icon(COL_RUN).cacheKey() != before
    assert view.selected_ids() == [2]     # a replaced run is not a new one


def test_thumbnail_fits_the_size_and_keeps_the_aspect(view, runs):
    runs.add(record(shape=(300, 900, 3)))
    runs.add(record(shape=(5000, 3, 1)))
    wide = view.tree.topLevelItem(0).icon(COL_RUN).availableSizes()[0]
    strip = view.tree.topLevelItem(1).icon(COL_RUN).availableSizes()[0]
    assert (wide.width(), wide.height()) == (THUMB, round(THUMB / 3))
    assert (strip.width(), strip.height()) == (1, THUMB)


# ---- curves ------------------------------------------------------------------------
def test_curve_plot_shows_one_curve_per_selected_run(view, runs):
    for s in range(3):
        runs.add(record(seed=s))
    plot = view.plot.getPlotItem()
    assert sorted(view.curves) == [3]           # the newest is selected
    view.select_ids([1, 2, 3])
    assert sorted(view.curves) == [1, 2, 3]
    assert len(plot.listDataItems()) == 3
    colours = {view.curves[i].opts["pen"].color().name() for i in (1, 2, 3)}
    assert colours == {run_colour(i).name() for i in (1, 2, 3)} and len(colours) == 3
    xs, ys = view.curves[2].getOriginalDataset()
    np.testing.assert_array_equal(xs, runs.get(2).curve_steps)
    np.testing.assert_allclose(ys, runs.get(2).curve_loss)
    view.select_ids([2])
    assert list(view.curves) == [2] and len(plot.listDataItems()) == 1
    view.select_ids([])
    assert view.curves == {} and plot.listDataItems() == []


def test_curve_plot_is_log_scale_and_skips_runs_without_a_curve(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    runs.add(average_record(runs, [1, 2]))
    view.select_ids([1, 3])
    assert list(view.curves) == [1]
    assert view.plot.getPlotItem().ctrl.logYCheck.isChecked()


def test_removing_a_selected_run_takes_its_curve_away(view, runs):
    for s in range(2):
        runs.add(record(seed=s))
    view.select_ids([1, 2])
    runs.remove(1)
    assert list(view.curves) == [2]
    assert len(view.plot.getPlotItem().listDataItems()) == 1


# ---- lifetime ----------------------------------------------------------------------
def test_a_deleted_view_stops_listening(qtbot, runs):
    v = RunListView(runs)
    runs.add(record(seed=1))
    assert v.tree.topLevelItemCount() == 1
    shiboken6.delete(v)
    runs.add(record(seed=2))       # must not call into the deleted widget
    assert len(runs.changed) == 0


def test_show_and_compare_need_the_runs_images(view, runs):
    runs.add(record(seed=1))
    runs.add(record(seed=2))
    a, b = runs.records
    a.result = None                       # dropped for the memory budget
    runs.notify()
    view.select_ids([a.id])
    assert not view.show_button.isEnabled() and view.remove_button.isEnabled()
    view.select_ids([a.id, b.id])
    assert not view.compare_button.isEnabled()
    view.select_ids([b.id])
    assert view.show_button.isEnabled()
