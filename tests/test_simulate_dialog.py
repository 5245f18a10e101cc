import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from app.simulate_dialog import Simulated, SimulateDialog, simulate
from engine import degrade


@pytest.fixture
def clean() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.random((37, 50, 3), dtype=np.float32)   # sides not multiples of 2, 4 or 8


@pytest.fixture
def dialog(qtbot, clean):
    d = SimulateDialog(clean)
    qtbot.addWidget(d)
    return d


def test_noise_default_sigma_25(dialog, clean):
    dialog.set_kind("noise")
    sim = dialog.result_data()
    assert isinstance(sim, Simulated)
    assert sim.task == "denoise" and sim.mask is None and sim.scale is None
    assert sim.degraded.shape == clean.shape and sim.degraded.dtype == np.float32
    np.testing.assert_array_equal(sim.reference, clean)
    # sigma 25/255 ~ 0.098 before clipping: the residual std is close to it
    assert 0.06 < float(np.std(sim.degraded - clean)) < 0.11
    np.testing.assert_array_equal(sim.degraded, degrade.add_noise(clean, 25.0, 0))


def test_noise_seed_changes_result(dialog):
    dialog.set_kind("noise")
    a = dialog.result_data().degraded
    dialog.seed_spin.setValue(7)
    b = dialog.result_data().degraded
    assert not np.array_equal(a, b)


def test_drop_returns_mask_and_inpaint(dialog, clean):
    dialog.set_kind("drop")
    dialog.fraction_spin.setValue(0.7)
    sim = dialog.result_data()
    assert sim.task == "inpaint" and sim.scale is None
    assert sim.mask is not None and sim.mask.dtype == bool and sim.mask.shape == clean.shape[:2]
    assert sim.degraded.shape == clean.shape
    assert 0.2 < sim.mask.mean() < 0.4            # about 30 % kept
    np.testing.assert_array_equal(sim.degraded[sim.mask], clean[sim.mask])
    assert np.all(sim.degraded[~sim.mask] == 0)


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_downscale_crops_reference(dialog, clean, factor):
    dialog.set_kind("downscale")
    dialog.factor_combo.setCurrentIndex(dialog.factor_combo.findData(factor))
    sim = dialog.result_data()
    hr_h, hr_w = (37 // factor) * factor, (50 // factor) * factor
    assert sim.task == "superres" and sim.scale == factor and sim.mask is None
    assert sim.reference.shape == (hr_h, hr_w, 3)
    assert sim.degraded.shape == (hr_h // factor, hr_w // factor, 3)
    np.testing.assert_array_equal(sim.reference, clean[:hr_h, :hr_w])


def test_jpeg_quality(dialog, clean):
    dialog.set_kind("jpeg")
    assert dialog.quality_spin.value() == 10
    sim = dialog.result_data()
    assert sim.task == "jpeg" and sim.mask is None and sim.scale is None
    assert sim.degraded.shape == clean.shape
    dialog.quality_spin.setValue(95)
    better = dialog.result_data()
    assert np.abs(better.degraded - clean).mean() < np.abs(sim.degraded - clean).mean()


def test_fields_follow_kind(dialog):
    dialog.show()
    expected = {"noise": dialog.sigma_spin, "drop": dialog.fraction_spin,
                "downscale": dialog.factor_combo, "jpeg": dialog.quality_spin}
    for kind, shown in expected.items():
        dialog.set_kind(kind)
        for other in expected.values():
            assert other.isVisible() == (other is shown), kind
        assert dialog.seed_spin.isVisible() == (kind in ("noise", "drop"))


def test_defaults_and_ranges(dialog):
    assert dialog.sigma_spin.value() == 25 and dialog.sigma_spin.maximum() == 100
    assert dialog.fraction_spin.value() == 0.5
    assert (dialog.fraction_spin.minimum(), dialog.fraction_spin.maximum()) == (0.05, 0.99)
    assert [dialog.factor_combo.itemData(i) for i in range(dialog.factor_combo.count())] == [2, 3, 4, 8]
    assert (dialog.quality_spin.minimum(), dialog.quality_spin.maximum()) == (1, 95)


def test_preview_shows_result(qtbot, dialog):
    dialog.set_kind("downscale")
    qtbot.waitUntil(lambda: "downscaled" in dialog.info_label.text(), timeout=2000)
    assert not dialog.preview_label.pixmap().isNull()


def test_too_small_for_factor_disables_ok(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox
    d = SimulateDialog(np.zeros((5, 5, 1), np.float32))
    qtbot.addWidget(d)
    d.set_kind("downscale")
    d.factor_combo.setCurrentIndex(d.factor_combo.findData(8))
    assert d.result_data() is None
    ok = d.buttons.button(QDialogButtonBox.Ok)
    qtbot.waitUntil(lambda: not ok.isEnabled(), timeout=2000)


def test_grayscale_input_keeps_channel_axis():
    sim = simulate(np.full((16, 16), 0.5, np.float32), "noise", sigma=10, seed=1)
    assert sim.degraded.shape == (16, 16, 1) and sim.reference.shape == (16, 16, 1)


def test_accept_returns_data(qtbot, dialog):
    dialog.set_kind("drop")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.result_data().mask is not None
