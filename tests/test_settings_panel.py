import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.settings_panel import (LONG_RUN_SECONDS, SettingsPanel, available_devices, format_duration,
                                wall_time_sentence)
from engine.config import TASKS
from engine.errors import ConfigError
from engine.seeds import AUTO_SEEDS, seeds_time_factor
from engine.estimate import estimate_cost, wall_seconds
from engine.nets import build_net, count_params
from engine.noise import measure_noise
from engine.presets import DEFAULT_PRESET, PRESETS, get_config
from tests.helpers import blurred_noise, flat_scene


@pytest.fixture
def panel(qtbot):
    p = SettingsPanel()
    qtbot.addWidget(p)
    p.show()
    return p


def _choose(combo, data) -> None:
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_starts_on_default_denoise_preset(panel):
    assert panel.task() == "denoise"
    assert panel.config() == get_config(DEFAULT_PRESET["denoise"])
    assert panel.is_valid()


@pytest.mark.parametrize("task", TASKS)
def test_task_shows_its_fields(qtbot, panel, task):
    if task != panel.task():
        with qtbot.waitSignal(panel.taskChanged) as sig:
            panel.set_task(task)
        assert sig.args == [task]
    assert panel.task() == task
    assert panel.scale_combo.isVisible() == (task == "superres")
    assert panel.guide_button.isVisible() == (task == "flash")
    panel.set_advanced_visible(True)
    assert panel.input_combo.isVisible()
    if task == "flash":
        assert panel.input_combo.currentData() == "guide" and not panel.input_combo.isEnabled()
    else:
        assert panel.input_combo.isEnabled()
    assert panel.config().task == task
    assert panel.preset() == DEFAULT_PRESET[task]


def test_task_combo_loads_default_preset(panel):
    _choose(panel.task_combo, "inpaint")
    assert panel.config() == get_config(DEFAULT_PRESET["inpaint"])


@pytest.mark.parametrize("task", TASKS)
def test_every_preset_round_trips(panel, task):
    panel.set_task(task)
    names = [panel.preset_combo.itemData(i) for i in range(panel.preset_combo.count())]
    assert names
    for name in reversed(names):   # the default comes first: start elsewhere so each one loads
        _choose(panel.preset_combo, name)
        cfg, ref = panel.config(), get_config(name, task=task)
        for field in ("task", "preset", "input_kind", "input_channels", "sigma_p", "lr",
                      "iterations", "ema", "backtrack_db", "pick"):
            assert getattr(cfg, field) == getattr(ref, field), (name, field)
        assert cfg.net == ref.net, name
        if task == "superres":
            assert cfg.scale == ref.scale, name
        assert panel.preset_combo.toolTip() == PRESETS[name].summary, name


def test_preset_fills_fields(panel):
    panel.set_task("inpaint")
    _choose(panel.preset_combo, "inpaint-hole-deep")
    assert panel.depth_spin.value() == 6
    assert panel.skip_spin.value() == 0
    assert panel.iterations_spin.value() == get_config("inpaint-hole-deep").iterations
    assert float(panel.lr_edit.text()) == get_config("inpaint-hole-deep").lr
    assert panel.sigma_spin.value() == 0.0
    assert panel.input_combo.currentData() == "noise"
    assert panel.per_level_edit.isVisible()
    assert "[16, 32, 64, 128, 128, 128]" in panel.per_level_edit.text()
    _choose(panel.preset_combo, "inpaint-hole")
    assert panel.input_combo.currentData() == "meshgrid"
    assert panel.channels_spin.value() == 128 and panel.depth_spin.value() == 5
    assert not panel.per_level_edit.isVisible()


def test_editing_width_makes_levels_uniform(panel):
    panel.set_task("jpeg")
    assert panel.per_level_edit.isVisible()
    assert panel.config().net.channels_skip == [0, 0, 0, 4, 4]
    panel.channels_spin.setValue(48)
    assert not panel.per_level_edit.isVisible()
    net = panel.config().net
    assert net.channels_down == [48] * 5 and net.channels_up == [48] * 5
    assert net.channels_skip == [4] * 5


def test_depth_change_keeps_per_level_upsample_valid(panel):
    panel.set_task("flash")
    panel.depth_spin.setValue(3)
    cfg = panel.config()
    assert cfg.net.channels_down == [128] * 3
    assert isinstance(cfg.net.upsample, str) or len(cfg.net.upsample) == 3
    assert panel.is_valid()


def test_resnet_fields(panel):
    channels = panel.channels_spin.value()   # the default preset's width
    _choose(panel.arch_combo, "resnet")
    assert panel.blocks_spin.isVisible()
    assert not panel.depth_spin.isVisible() and not panel.skip_spin.isVisible()
    panel.blocks_spin.setValue(3)
    panel.channels_spin.setValue(16)
    net = panel.config().net
    assert (net.arch, net.resnet_blocks, net.resnet_channels) == ("resnet", 3, 16)
    _choose(panel.arch_combo, "skip")
    assert panel.depth_spin.isVisible() and panel.channels_spin.value() == channels


@pytest.mark.parametrize("arch", ["hourglass", "unet"])
def test_skip_channels_only_for_skip_net(panel, arch):
    assert panel.skip_spin.isVisible()
    _choose(panel.arch_combo, arch)
    assert not panel.skip_spin.isVisible() and panel.depth_spin.isVisible()
    assert panel.config().net.arch == arch


def test_parameter_count_follows_channels(qtbot, panel):
    qtbot.waitUntil(lambda: "M)" in panel.params_label.text(), timeout=5000)
    before = panel.params_label.text()
    panel.depth_spin.setValue(2)
    panel.channels_spin.setValue(8)
    qtbot.waitUntil(lambda: panel.params_label.text() != before, timeout=5000)
    cfg = panel.config()
    expected = count_params(build_net(cfg.net, cfg.input_channels, 3))
    assert panel.params_label.text().startswith(f"{expected:,} ")
    assert expected < 20_000


def test_invalid_lr_disables_validity(qtbot, panel):
    panel.set_advanced_visible(True)
    with qtbot.waitSignal(panel.validityChanged) as sig:
        panel.lr_edit.setText("0")
    assert sig.args == [False]
    assert not panel.is_valid()
    assert "border" in panel.lr_edit.styleSheet()
    with pytest.raises(ConfigError):
        panel.config()
    with qtbot.waitSignal(panel.validityChanged) as sig:
        panel.lr_edit.setText("0.005")
    assert sig.args == [True]
    assert panel.config().lr == 0.005
    assert panel.lr_edit.styleSheet() == ""


def test_typed_lr_goes_through_validator(qtbot, panel):
    panel.set_advanced_visible(True)
    panel.lr_edit.clear()
    qtbot.keyClicks(panel.lr_edit, "abc")     # rejected by the validator: nothing typed
    assert panel.lr_edit.text() == ""
    assert not panel.is_valid()
    qtbot.keyClicks(panel.lr_edit, "0.002")
    assert panel.is_valid() and panel.config().lr == 0.002


def test_advanced_fields_reach_config(panel):
    panel.set_advanced_visible(True)
    panel.sigma_spin.setValue(0.05)
    panel.ema_spin.setValue(0.9)
    panel.seed_spin.setValue(11)
    panel.iterations_spin.setValue(42)
    panel.preview_spin.setValue(5)
    panel.snapshot_spin.setValue(7)
    panel.memory_spin.setValue(256)
    panel.input_channels_spin.setValue(8)
    panel.backtrack_off.setChecked(True)
    cfg = panel.config()
    assert (cfg.sigma_p, cfg.ema, cfg.seed, cfg.iterations) == (0.05, 0.9, 11, 42)
    assert (cfg.preview_every, cfg.snapshot_every, cfg.memory_budget_mb) == (5, 7, 256)
    assert cfg.input_channels == 8 and cfg.backtrack_db is None
    assert not panel.backtrack_spin.isEnabled()


def test_tile_pace_is_a_setting_where_it_changes_the_tiles(panel):
    # the fast denoiser's tiles run at the quick pace unless the photo's noise is a camera's: the
    # box says so and can turn it off
    panel.set_advanced_visible(True)
    box = panel.advanced_box
    assert box.pace_combo.currentData() == "auto" and box.pace_combo.isEnabled()
    assert "camera's correlated noise" in box.pace_combo.toolTip()
    _choose(box.pace_combo, "same")
    assert panel.config().tile_pace == "same"
    panel.set_config(get_config("denoise-fast"))
    assert box.pace_combo.currentData() == "auto"
    # a preset with a schedule of its own keeps it in tiles: the choice would change nothing
    _choose(panel.task_combo, "inpaint")
    assert not box.pace_combo.isEnabled() and "schedule of its own" in box.pace_combo.toolTip()
    _choose(panel.task_combo, "denoise")
    assert box.pace_combo.isEnabled()


def test_the_plan_follows_the_photos_noise(panel):
    # auto: a camera's correlated noise keeps one run's pace in tiles; a new image forgets the noise
    clean = flat_scene(384)
    camera = measure_noise(np.clip(clean + blurred_noise(clean.shape, 8 / 255, 1), 0, 1))
    _choose(panel.task_combo, "denoise")
    panel.set_image_size(384, 384)
    assert panel.plan().quick
    panel.set_noise(camera)
    plan = panel.plan()
    assert plan.tiled and not plan.quick and plan.camera_pace
    panel.set_image_size(384, 384)
    assert panel.plan().quick


def test_set_config_round_trips(qtbot, panel):
    cfg = get_config("sr-fast", scale=8, seed=5, lr=0.002, iterations=77, backtrack_db=None,
                     es_window=30, pick="auto", device="cpu")
    with qtbot.waitSignal(panel.taskChanged):
        panel.set_config(cfg)
    assert panel.config() == cfg
    assert panel.scale_combo.currentData() == 8 and panel.scale_combo.isVisible()


def test_new_preset_keeps_device_and_seed(panel):
    _choose(panel.device_combo, "cpu")
    panel.seed_spin.setValue(9)
    _choose(panel.preset_combo, "denoise-fast")
    panel.set_task("inpaint")
    cfg = panel.config()
    assert cfg.device == "cpu" and cfg.seed == 9


def test_guide_button_and_name(qtbot, panel):
    panel.set_task("flash")
    with qtbot.waitSignal(panel.guideRequested):
        qtbot.mouseClick(panel.guide_button, Qt.LeftButton)
    panel.set_guide_name("flash.png")
    assert panel.guide_label.text() == "flash.png"
    panel.set_guide_name(None)
    assert panel.guide_label.text() != "flash.png"


def test_state_round_trip(qtbot, tmp_path):
    path = str(tmp_path / "state.ini")
    a = SettingsPanel()
    qtbot.addWidget(a)
    a.set_task("superres")
    _choose(a.preset_combo, "sr-fast")
    _choose(a.device_combo, "cpu")
    a.save_state(QSettings(path, QSettings.IniFormat))

    b = SettingsPanel()
    qtbot.addWidget(b)
    assert b.task() == "denoise"
    b.restore_state(QSettings(path, QSettings.IniFormat))
    assert (b.task(), b.preset(), b.device_combo.currentData()) == ("superres", "sr-fast", "cpu")
    assert b.config().net == get_config("sr-fast").net


def test_restore_ignores_unknown_values(qtbot, tmp_path):
    s = QSettings(str(tmp_path / "bad.ini"), QSettings.IniFormat)
    s.setValue("settings_panel/task", "nonsense")
    s.setValue("settings_panel/device", "tpu")
    p = SettingsPanel()
    qtbot.addWidget(p)
    p.restore_state(s)
    assert p.task() == "denoise" and p.device_combo.currentData() in available_devices()


def test_set_running_blocks_editing(panel):
    panel.set_running(True)
    assert not panel.task_combo.isEnabled() and not panel.channels_spin.isEnabled()
    panel.set_running(False)
    assert panel.task_combo.isEnabled()


def test_config_changed_on_edit(qtbot, panel):
    with qtbot.waitSignal(panel.configChanged):
        panel.iterations_spin.setValue(123)


def test_estimate_uses_output_size(qtbot, panel, monkeypatch):
    import app.run_cost as sp   # the cost model, Qt-free
    calls = []

    def spy(cfg, h, w, device="cpu", **kw):
        calls.append((h, w, device))
        return estimate_cost(cfg, h, w, device, **kw)

    monkeypatch.setattr(sp, "estimate_cost", spy)
    _choose(panel.device_combo, "cpu")
    panel.set_task("superres")
    _choose(panel.preset_combo, "sr-fast")
    _choose(panel.scale_combo, 2)
    panel.set_image_size(16, 24)
    qtbot.waitUntil(lambda: "s/step" in panel.estimate_label.text(), timeout=10000)
    assert calls[-1] == (32, 48, "cpu")          # the high-resolution output
    est = estimate_cost(panel.config(), 32, 48, "cpu")
    assert f"~{est.seconds_per_step:.2f} s/step" in panel.estimate_label.text()


def test_too_large_image_warns(qtbot, panel, monkeypatch):
    import app.run_cost as sp   # the cost model, Qt-free
    monkeypatch.setattr(sp, "device_memory_bytes", lambda device: 1024)   # a 1 kB machine
    _choose(panel.device_combo, "cpu")
    with qtbot.waitSignal(panel.tooLarge, timeout=10000) as sig:
        panel.set_image_size(64, 64)
    assert "cpu" in sig.args[0]
    assert "too large" in panel.estimate_label.text()


# ---------------------------------------------------------------- expected wall time
def _on_cpu(panel) -> None:
    # estimates differ per device: pin the CPU so the numbers do not depend on the machine
    _choose(panel.device_combo, "cpu")


def _wall_text(panel) -> str:
    return panel.wall_time_label.text() if panel.wall_time_label.isVisible() else ""


def test_expected_seconds_none_without_image(qtbot, panel):
    _on_cpu(panel)
    assert panel.expected_seconds() is None
    qtbot.wait(300)   # past the debounce: still nothing to say
    assert not panel.wall_time_label.isVisible()
    panel.set_image_size(32, 32)
    assert panel.expected_seconds() is not None
    qtbot.waitUntil(lambda: _wall_text(panel) != "", timeout=10000)
    panel.set_image_size(None)
    assert panel.expected_seconds() is None
    qtbot.waitUntil(lambda: not panel.wall_time_label.isVisible(), timeout=10000)


def test_wall_time_sentence_follows_size_and_steps(qtbot, panel):
    _on_cpu(panel)
    panel.set_image_size(64, 64)
    qtbot.waitUntil(lambda: _wall_text(panel) != "", timeout=10000)
    cfg = panel.config()
    small = panel.expected_seconds()
    # a small image averages the preset's seeds: the watched one, then the others side by side
    seeds = 1 + seeds_time_factor(AUTO_SEEDS - 1, "cpu", 64 * 64)
    assert 1 < seeds < AUTO_SEEDS
    step = estimate_cost(cfg, 64, 64, "cpu").seconds_per_step
    one = step * cfg.iterations
    assert small == pytest.approx(wall_seconds(step, cfg.iterations, "cpu", seeds))   # set-up included
    first = panel.wall_time_label.text()
    assert "this CPU" in first and first.startswith("At most about")   # the automatic stop is on
    assert "stops sooner" in first and f"{AUTO_SEEDS} seeds averaged" in first

    panel.set_image_size(256, 256)
    qtbot.waitUntil(lambda: _wall_text(panel) not in ("", first), timeout=10000)
    large = panel.expected_seconds()
    assert large > 2 * one and "seeds" not in panel.wall_time_label.text()
    assert format_duration(large) in panel.wall_time_label.text()

    before = panel.wall_time_label.text()
    panel.iterations_spin.setValue(cfg.iterations // 10)
    qtbot.waitUntil(lambda: panel.wall_time_label.text() != before, timeout=10000)
    step = estimate_cost(cfg, 256, 256, "cpu").seconds_per_step
    assert large == pytest.approx(wall_seconds(step, cfg.iterations, "cpu"))
    assert panel.expected_seconds() == pytest.approx(wall_seconds(step, cfg.iterations // 10, "cpu"))

    panel.auto_stop_check.setChecked(False)   # every step runs: no longer an upper bound
    qtbot.waitUntil(lambda: panel.wall_time_label.text().startswith("About "), timeout=10000)
    assert "stops sooner" not in panel.wall_time_label.text()


def test_wall_time_sentence_words():
    assert wall_time_sentence(40, "cuda", auto_stop=False) == "about 40 s on the GPU"
    assert wall_time_sentence(25 * 60, "cpu", auto_stop=False) == "about 25 min on this CPU"
    assert wall_time_sentence(180, "cpu", auto_stop=True) == \
        "at most about 3 min on this CPU (it usually stops sooner, at its best iterate)"
    assert wall_time_sentence(180, "cpu", auto_stop=True, seeds=4) == \
        "at most about 3 min on this CPU, 4 seeds averaged (it usually stops sooner, at its best iterate)"


@pytest.mark.parametrize("seconds, words", [
    (0.2, "1 s"), (7.4, "7 s"), (42, "40 s"), (59, "1 min"), (25 * 60 + 10, "25 min"),
    (5400, "1.5 h"), (15 * 3600, "15 h"), (4 * 86400, "4 days"),
])
def test_format_duration(seconds, words):
    assert format_duration(seconds) == words


def _long_run(qtbot, panel, preset: str, hw=(512, 512)) -> None:
    _on_cpu(panel)
    _choose(panel.preset_combo, preset)
    panel.set_image_size(*hw)
    qtbot.waitUntil(lambda: panel.faster_box.isVisible(), timeout=10000)
    assert panel.expected_seconds() > LONG_RUN_SECONDS


def test_long_run_offers_fast_preset(qtbot, panel):
    panel.auto_stop_check.setChecked(False)
    _long_run(qtbot, panel, "denoise")
    assert panel.fast_preset_button.isVisible()
    assert "denoise-fast" in panel.fast_preset_button.text()
    assert panel.region_button.isVisible() and panel.downscale_button.isVisible()
    before = panel.expected_seconds()

    qtbot.mouseClick(panel.fast_preset_button, Qt.LeftButton)
    assert panel.preset() == "denoise-fast"
    cfg = panel.config()
    assert cfg.net == get_config("denoise-fast").net
    assert cfg.device == "cpu" and cfg.stop == "never"      # the user's choices survive
    after = panel.expected_seconds()
    assert after < 0.5 * before
    # still long at 512x512, but the fast preset is what is loaded now: not offered again
    qtbot.waitUntil(lambda: not panel.fast_preset_button.isVisible(), timeout=10000)
    assert panel.faster_box.isVisible() and panel.region_button.isVisible()
    assert format_duration(after) in panel.wall_time_label.text()


def test_offer_hidden_under_threshold(qtbot, panel):
    _long_run(qtbot, panel, "denoise")
    panel.set_image_size(32, 32)
    qtbot.waitUntil(lambda: not panel.faster_box.isVisible(), timeout=10000)
    assert panel.expected_seconds() < LONG_RUN_SECONDS
    assert panel.wall_time_label.isVisible()


def test_offer_follows_threshold_constant(qtbot, panel, monkeypatch):
    import app.run_cost as sp   # the cost model, Qt-free
    _long_run(qtbot, panel, "denoise")
    monkeypatch.setattr(sp, "LONG_RUN_SECONDS", 10 * panel.expected_seconds())
    panel.iterations_spin.setValue(panel.iterations_spin.value() + 1)
    qtbot.waitUntil(lambda: not panel.faster_box.isVisible(), timeout=10000)


def test_region_and_downscale_emit(qtbot, panel):
    _long_run(qtbot, panel, "denoise")
    with qtbot.waitSignal(panel.regionRequested, timeout=2000):
        qtbot.mouseClick(panel.region_button, Qt.LeftButton)
    with qtbot.waitSignal(panel.downscaleRequested, timeout=2000):
        qtbot.mouseClick(panel.downscale_button, Qt.LeftButton)


def test_offer_shows_only_what_applies(qtbot, panel):
    panel.set_task("superres")
    _long_run(qtbot, panel, "sr4")
    # a smaller super-resolution input throws away what the run should build
    assert panel.region_button.isVisible() and not panel.downscale_button.isVisible()
    assert panel.fast_preset_button.isVisible() and "sr-fast" in panel.fast_preset_button.text()

    before = panel.wall_time_label.text()
    panel.set_task("flash")            # no faster flash preset
    panel.set_image_size(640, 640)
    qtbot.waitUntil(lambda: _wall_text(panel) not in ("", before), timeout=10000)
    assert panel.expected_seconds() > LONG_RUN_SECONDS and panel.faster_box.isVisible()
    assert not panel.fast_preset_button.isVisible()
    assert panel.region_button.isVisible() and panel.downscale_button.isVisible()


def test_small_image_offers_no_shrinking(qtbot, panel):
    # a tiny image that takes long because of its step count: only fewer steps would help
    _on_cpu(panel)
    _choose(panel.preset_combo, "denoise-fast")
    panel.iterations_spin.setValue(1_000_000)
    panel.set_image_size(64, 64)
    qtbot.waitUntil(lambda: _wall_text(panel) != "", timeout=10000)
    assert panel.expected_seconds() > LONG_RUN_SECONDS
    qtbot.wait(300)
    assert not panel.faster_box.isVisible()


def test_panel_runs_no_torch_kernels(qtbot):
    """Parameters, estimates and the offer come from the meta device: no tensor with storage
    is made on the GUI thread (a real net would run weight init and start OpenMP here)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Devices(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.real: list[str] = []
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.ops += 1
            for t in torch.utils._pytree.tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.device.type != "meta":
                    self.real.append(f"{func} on {t.device}")
            return out

    with Devices() as seen:
        p = SettingsPanel()
        qtbot.addWidget(p)
        p.show()
        _choose(p.device_combo, "cpu")
        _choose(p.preset_combo, "denoise")
        p.depth_spin.setValue(4)          # a network no cache has seen
        p.set_image_size(512, 512)
        qtbot.waitUntil(lambda: p.faster_box.isVisible() and "M)" in p.params_label.text(),
                        timeout=10000)
    assert seen.ops > 0            # the mode did see the meta-device build
    assert seen.real == []
