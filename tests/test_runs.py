"""app/runs.py: the run list (ids, memory budget, listeners) and averaging, without Qt."""
from __future__ import annotations

import numpy as np
import pytest

from app.runs import (RunList, RunRecord, average_record, average_results, averaging_problem,
                      settings_summary, stop_summary)
from engine.config import NetConfig, RunConfig

IMG = (8, 8, 3)
IMG_BYTES = int(np.prod(IMG)) * 4      # float32


def rec(value: float = 0.5, shape=IMG, seed: int = 0, **kw) -> RunRecord:
    return RunRecord(id=0, config=RunConfig(seed=seed).to_dict(),
                     result=np.full(shape, value, np.float32), **kw)


# ---- RunList ---------------------------------------------------------------------
def test_add_gives_consecutive_ids_and_keeps_order():
    runs = RunList()
    a, b, c = (runs.add(rec(seed=s)) for s in (5, 6, 7))
    assert [a.id, b.id, c.id] == [1, 2, 3]
    assert [r.id for r in runs] == [1, 2, 3]
    assert runs.get(2) is b and runs.get(4) is None
    assert runs.next_id() == 4
    assert b.label == "Run 2 (seed 6)"


def test_add_overrides_whatever_id_the_record_had():
    runs = RunList()
    r = runs.add(RunRecord(id=99, config={}))
    assert r.id == 1 and runs.next_id() == 2


def test_budget_drops_the_oldest_images_and_keeps_the_records():
    runs = RunList(budget_bytes=2 * IMG_BYTES)
    for s in range(4):
        runs.add(rec(seed=s))
    assert len(runs) == 4
    assert [r.result is not None for r in runs] == [False, False, True, True]
    assert runs.nbytes == 2 * IMG_BYTES
    # what was tried stays readable
    assert [r.seed for r in runs] == [0, 1, 2, 3]


def test_budget_never_drops_the_newest_image_even_when_it_alone_is_too_big():
    runs = RunList(budget_bytes=IMG_BYTES // 2)
    runs.add(rec())
    newest = runs.add(rec())
    assert newest.result is not None
    assert runs.get(1).result is None


def test_budget_skips_runs_already_without_image():
    runs = RunList(budget_bytes=2 * IMG_BYTES)
    runs.add(RunRecord(id=0, config={}))              # no image at all
    runs.add(rec())
    runs.add(rec())
    assert [r.result is not None for r in runs] == [False, True, True]


def test_restore_keeps_ids_and_continues_after_the_highest():
    runs = RunList()
    records = [rec(), rec(), rec()]
    for r, i in zip(records, (2, 5, 9)):
        r.id = i
    runs.restore(records)
    assert [r.id for r in runs] == [2, 5, 9]
    assert runs.add(rec()).id == 10


def test_restore_fits_the_budget_without_dropping_the_newest():
    # below one image: only "never the newest" keeps the last one
    runs = RunList(budget_bytes=IMG_BYTES // 2)
    records = [rec(), rec(), rec()]
    for i, r in enumerate(records, 1):
        r.id = i
    runs.restore(records)
    assert [r.result is not None for r in runs] == [False, False, True]


def test_replace_puts_the_record_in_its_place_and_tells_listeners():
    runs = RunList()
    for s in range(3):
        runs.add(rec(seed=s))
    calls = []
    runs.changed.connect(lambda: calls.append(1))
    again = rec(0.9, seed=1)
    again.id = 2
    runs.replace(again)
    assert [r.id for r in runs] == [1, 2, 3]
    assert runs.get(2) is again and calls == [1]
    assert runs.next_id() == 4
    lost = rec()
    lost.id = 8
    with pytest.raises(KeyError, match="no run 8"):
        runs.replace(lost)
    assert calls == [1]


def test_replace_keeps_the_replaced_image_and_the_newest():
    runs = RunList(budget_bytes=2 * IMG_BYTES)
    for s in range(3):
        runs.add(rec(seed=s))
    assert runs.get(1).result is None
    first = runs.get(1)
    first.result = np.zeros(IMG, np.float32)     # a continued run's new pick
    runs.replace(first)
    assert [r.result is not None for r in runs] == [True, False, True]


def test_listeners_are_told_of_every_change_until_unsubscribed():
    runs = RunList()
    calls = []

    def listener():
        calls.append(len(runs))

    runs.changed.connect(listener)
    runs.add(rec())
    runs.add(rec())
    runs.remove(1)
    runs.restore([rec()])
    runs.notify()
    runs.clear()
    assert calls == [1, 2, 1, 1, 1, 0]
    runs.changed.disconnect(listener)
    runs.add(rec())
    assert calls == [1, 2, 1, 1, 1, 0]
    runs.changed.disconnect(listener)    # twice is harmless


def test_a_listener_may_unsubscribe_itself_while_being_told():
    runs = RunList()
    calls = []

    def once():
        calls.append("once")
        runs.changed.disconnect(once)

    runs.changed.connect(once)
    runs.changed.connect(lambda: calls.append("always"))
    runs.add(rec())
    runs.add(rec())
    assert calls == ["once", "always", "always"]


def test_remove_unknown_id_changes_nothing_and_tells_no_one():
    runs = RunList()
    runs.add(rec())
    calls = []
    runs.changed.connect(lambda: calls.append(1))
    assert runs.remove(7) is False
    assert runs.remove(1) is True
    assert len(runs) == 0 and calls == [1]


def test_removed_ids_are_not_reused_but_clear_starts_over():
    runs = RunList()
    runs.add(rec())
    runs.add(rec())
    runs.remove(2)
    assert runs.add(rec()).id == 3
    runs.clear()
    assert len(runs) == 0
    assert runs.add(rec()).id == 1


def test_records_is_a_copy():
    runs = RunList()
    runs.add(rec())
    runs.records.clear()
    assert len(runs) == 1


# ---- averaging -------------------------------------------------------------------
def test_average_results_is_the_pixel_mean_in_float32():
    a, b, c = rec(0.1), rec(0.2), rec(0.6)
    out = average_results([a, b, c])
    assert out.dtype == np.float32 and out.shape == IMG
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_average_record_builds_but_does_not_add():
    runs = RunList()
    a = runs.add(rec(0.2, seed=3, stop_how="rule", steps=400, psnr=30.0))
    b = runs.add(rec(0.4, seed=4))
    calls = []
    runs.changed.connect(lambda: calls.append(1))
    avg = average_record(runs, [a.id, b.id])
    assert len(runs) == 2 and calls == []
    np.testing.assert_allclose(avg.result, 0.3, atol=1e-6)
    assert avg.sources == [1, 2]
    assert avg.stop_how == "average" and avg.result_kind == "average"
    assert avg.psnr is None
    assert avg.config == a.config and avg.config is not a.config
    assert avg.label == "Average of 1, 2"
    added = runs.add(avg)
    assert added.id == 3 and added.label == "Average of 1, 2"


def test_average_record_config_is_a_deep_copy():
    runs = RunList()
    a = runs.add(rec())
    runs.add(rec())
    avg = average_record(runs, [1, 2])
    avg.config["net"]["channels_down"][0] = 1
    assert a.config["net"]["channels_down"][0] == 128


def test_average_of_different_shapes_is_refused_with_the_sizes():
    runs = RunList()
    runs.add(rec(shape=(8, 8, 3)))
    runs.add(rec(shape=(16, 16, 3)))
    with pytest.raises(ValueError, match=r"differ in size \(\(8, 8, 3\), \(16, 16, 3\)\)"):
        average_record(runs, [1, 2])


def test_average_with_a_dropped_image_is_refused_naming_the_run():
    runs = RunList(budget_bytes=2 * IMG_BYTES)
    runs.add(rec(seed=11))
    runs.add(rec())
    runs.add(rec())
    assert runs.get(1).result is None
    with pytest.raises(ValueError, match=r"Run 1 \(seed 11\) was dropped"):
        average_record(runs, [1, 2])


@pytest.mark.parametrize("ids, words", [([1], "at least two"), ([1, 1], "twice"), ([1, 5], "no run 5")])
def test_average_record_refuses_bad_id_lists(ids, words):
    runs = RunList()
    runs.add(rec())
    runs.add(rec())
    with pytest.raises(ValueError, match=words):
        average_record(runs, ids)


def test_averaging_problem_is_none_exactly_when_averaging_works():
    good = [rec(), rec()]
    assert averaging_problem(good) is None
    assert "two" in averaging_problem(good[:1])
    assert "size" in averaging_problem([rec(), rec(shape=(8, 8, 1))])


# ---- words -----------------------------------------------------------------------
def test_settings_summary_of_a_run_config():
    cfg = RunConfig(lr=0.01, seed=7, net=NetConfig(channels_down=[64, 32], channels_up=[64, 32],
                                                   channels_skip=[4, 4], upsample="nearest"))
    assert settings_summary(cfg.to_dict()) == "skip 64 ch, nearest, lr 0.01, seed 7"


def test_settings_summary_of_per_level_upsampling_and_resnet():
    mixed = RunConfig(net=NetConfig(channels_down=[8, 8], channels_up=[8, 8], channels_skip=[0, 0],
                                    upsample=["bilinear", "nearest"]), seed=1)
    assert "bilinear/nearest" in settings_summary(mixed.to_dict())
    same = mixed.replace(upsample=["nearest", "nearest"])
    assert "nearest," in settings_summary(same.to_dict())
    res = RunConfig(lr=0.001, seed=2, net=NetConfig(arch="resnet", resnet_blocks=4, resnet_channels=32))
    assert settings_summary(res.to_dict()) == "resnet 4x32 ch, lr 0.001, seed 2"
    assert settings_summary({}) == ""


@pytest.mark.parametrize("how, steps, words", [
    ("rule", 412, "stopped itself at 412"),
    ("limit", 3000, "limit 3000"),
    ("request", 250, "you stopped it at 250"),
])
def test_stop_summary(how, steps, words):
    assert stop_summary(RunRecord(id=1, config={}, stop_how=how, steps=steps)) == words


def test_stop_summary_of_an_average():
    assert stop_summary(RunRecord(id=3, config={}, stop_how="average", sources=[1, 2])) == "average of 2 runs"


def test_a_boolean_seed_is_no_seed():
    assert RunRecord(id=4, config={"seed": True}).label == "Run 4"


def test_fit_budget_applies_a_smaller_budget_and_tells_listeners():
    rl = RunList(budget_bytes=10 ** 9)
    for _ in range(3):
        rl.add(RunRecord(id=0, config={}, result=np.zeros((10, 10, 3), np.float32)))
    calls = []
    rl.changed.connect(lambda: calls.append(1))
    rl.budget_bytes = 1300          # room for one image of 1200 bytes
    rl.fit_budget()
    assert [r.result is not None for r in rl] == [False, False, True] and calls == [1]
    rl.fit_budget()                 # nothing more to drop: no news
    assert calls == [1]
