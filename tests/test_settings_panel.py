import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings, Qt

from app.settings_panel import SettingsPanel, available_devices
from engine.config import TASKS
from engine.errors import ConfigError
from engine.estimate import estimate_cost
from engine.nets import build_net, count_params
from engine.presets import DEFAULT_PRESET, get_config


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
        assert panel.preset_combo.toolTip().startswith(("Paper", "Narrow", "Detail")), name


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
    import app.settings_panel as sp
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
    import app.settings_panel as sp
    monkeypatch.setattr(sp, "device_memory_bytes", lambda device: 1024)   # a 1 kB machine
    _choose(panel.device_combo, "cpu")
    with qtbot.waitSignal(panel.tooLarge, timeout=10000) as sig:
        panel.set_image_size(64, 64)
    assert "cpu" in sig.args[0]
    assert "too large" in panel.estimate_label.text()
