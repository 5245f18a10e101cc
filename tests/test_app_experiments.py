"""The app's side of the paper's experiments: the classifier picker in the settings panel, a
pre-image run with its live curve and the TV comparison in the run list, and the
noise-impedance dialog (Help > Why early stopping works)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch

from engine.imageio import save_image
from engine.presets import get_config
from tests.qt_helpers import answers, window  # noqa: F401  (pytest fixtures)
from tests.tiny_classifier import save_torchscript, sample_image, train_tiny

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


@pytest.fixture(scope="module")
def phi(tmp_path_factory):
    torch.manual_seed(0)
    net, _ = train_tiny(steps=60)
    return save_torchscript(net, str(tmp_path_factory.mktemp("phi") / "tiny.pt"))


def test_picker_lists_layers_units_and_class_names_and_gates_run(window, phi, tmp_path):
    panel = window.panel
    fields = panel.classifier_fields
    panel.set_task("actmax")
    assert fields.isVisible() and fields.unit_row.isVisible()
    assert not panel.is_valid() and "choose a classifier" in panel.error_message()
    bad = tmp_path / "not_a_model.pt"
    bad.write_bytes(b"hello")
    fields.set_classifier(str(bad))
    assert not panel.is_valid() and "is not a TorchScript file" in fields.status_label.text()
    fields.set_classifier(phi)
    assert panel.is_valid(), panel.error_message()
    layers = [fields.layer_combo.itemData(i) for i in range(fields.layer_combo.count())]
    assert layers[0] is None and "features.6" in layers and "head" in layers
    # the output's units are the classes, by name
    assert fields.class_combo.isVisible() and fields.class_combo.count() == 4
    fields.class_combo.setCurrentIndex(2)
    assert fields.unit_spin.value() == 2
    cfg = panel.config()
    assert (cfg.task, cfg.classifier, cfg.layer, cfg.unit) == ("actmax", phi, None, 2)
    fields.layer_combo.setCurrentIndex(fields.layer_combo.findData("features.6"))
    assert fields.unit_spin.maximum() == 31 and not fields.class_combo.isVisible()
    assert panel.config().layer == "features.6"
    panel.set_task("denoise")
    assert not fields.isVisible() and panel.config().classifier is None


def test_preimage_run_curve_and_tv_comparison_in_the_run_list(qtbot, window, phi, tmp_path):
    path = tmp_path / "x0.png"
    save_image(str(path), sample_image(0))
    assert window.open_path(str(path))
    panel = window.panel
    panel.set_task("preimage")
    panel.classifier_fields.set_classifier(phi)
    cfg = get_config("preimage-fast", classifier=phi, layer="features.4", iterations=40, preview_every=10,
                     snapshot_every=10)
    panel.set_config(cfg)
    assert panel.config().layer == "features.4"
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.start_run()
    curve = panel.classifier_fields.curve
    qtbot.waitUntil(lambda: len(curve.values) == 40, timeout=10_000)
    assert curve.values[-1] < 0.2 * curve.values[0]      # the feature distance came down, live
    qtbot.waitUntil(lambda: len(window.doc.runs) == 1, timeout=10_000)
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.experiments.run_tv()
    qtbot.waitUntil(lambda: len(window.doc.runs) == 2, timeout=10_000)
    priors = [r.config["prior"] for r in window.doc.runs]
    assert priors == ["dip", "tv"]


def test_impedance_dialog_says_its_duration_then_plots_four_curves(qtbot, window):
    dialog = window.experiments.show_impedance()
    assert dialog is not None and "about" in dialog.intro.text() and "the sample photo" in dialog.intro.text()
    dialog.close()
    dialog = window.experiments.show_impedance()
    dialog.steps = 30
    with qtbot.waitSignal(dialog.start_button.clicked, timeout=1000):
        dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running and dialog.start_button.isEnabled(), timeout=120_000)
    assert all(len(dialog.data[k][1]) == 30 for k in dialog.data)
    assert all(np.isfinite(dialog.data[k][1]).all() for k in dialog.data)
    assert dialog.status.text().startswith("done")
    assert all(not t.pixmap().isNull() for t in dialog.thumbs.values())
    dialog.close()


def _run_actmax(qtbot, window, phi, tmp_path, iterations: int) -> None:
    """An activation-maximisation run of unit 2 on a 32 px image, to its end."""
    path = tmp_path / "any.png"
    save_image(str(path), sample_image(1))
    assert window.open_path(str(path))
    window.panel.set_task("actmax")
    window.panel.classifier_fields.set_classifier(phi)
    window.panel.set_config(get_config("actmax-fast", classifier=phi, unit=2, iterations=iterations, lr=0.01,
                                       preview_every=10, snapshot_every=10))
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        assert window.start_run()


def test_actmax_run_shows_a_rising_activation_and_the_loss_plot_copes(qtbot, window, phi, tmp_path):
    _run_actmax(qtbot, window, phi, tmp_path, 30)
    curve = window.panel.classifier_fields.curve
    qtbot.waitUntil(lambda: len(curve.values) == 30, timeout=10_000)
    assert curve.values[-1] > curve.values[0] + 1.0          # the activation, not the (negative) loss
    window.plots.flush()                                     # a log axis given negative losses: no error
    assert window.result is not None and window.result.shape == (32, 32, 3)


def test_actmax_run_records_and_exports_its_negative_loss(qtbot, window, phi, tmp_path):
    # the plot floors the loss for its log axis; what is recorded and exported is the raw curve
    _run_actmax(qtbot, window, phi, tmp_path, 20)
    qtbot.waitUntil(lambda: len(window.doc.runs) == 1, timeout=10_000)
    rec = window.doc.runs.records[0]
    assert len(rec.curve_loss) == 20 and (rec.curve_loss < 0).any()
    out = tmp_path / "loss.csv"
    assert window.export_csv(str(out))
    losses = [float(line.split(",")[1]) for line in out.read_text().splitlines()[1:]]
    assert np.allclose(losses, rec.curve_loss, rtol=1e-6) and min(losses) < 0
