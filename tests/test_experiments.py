"""The paper's experiments with a classifier (pre-image, activation maximisation), the TV
prior they are compared with, and the noise-impedance fits. Phi is a small CNN trained here on
synthetic images in a few seconds and saved as TorchScript: nothing is downloaded."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from engine.classifier import load_classifier, parse_size
from engine.cli import main
from engine.errors import ConfigError, DIPError
from engine.experiments import (
    IMPEDANCE_KINDS, ImpedanceDemo, canvas, feature_distance, impedance_targets, tv_config,
)
from engine.imageio import load_image, save_image
from engine.presets import get_config
from engine.run import Restoration
from engine.tasks import to_tensor
from tests.helpers import smooth_image
from tests.tiny_classifier import save_torchscript, sample_image, train_tiny


@pytest.fixture(scope="module")
def phi(tmp_path_factory):
    """(path of the TorchScript file, the eager net it was made from)."""
    torch.manual_seed(0)
    net, acc = train_tiny()
    assert acc > 0.7   # it has learnt something: its features mean something
    path = str(tmp_path_factory.mktemp("phi") / "tiny.pt")
    return save_torchscript(net, path), net


def _run(cfg, image):
    run = Restoration(cfg, image)
    first = None
    for _rec in run.steps():
        if first is None:
            first = float(run.task.last_data)
    return run, first


# ---- the classifier ------------------------------------------------------------------------
def test_layers_are_listed_and_cut_features_equal_the_eager_net(phi):
    path, net = phi
    clf = load_classifier(path)
    assert clf.layers() == ["features"] + [f"features.{i}" for i in range(8)] + ["head"]
    assert clf.input_size == (32, 32) and clf.class_names[0] == "horizontal"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for k in (0, 3, 6, 7):
            want = net.features[:k + 1](x)
            assert torch.allclose(clf.features(x, f"features.{k}"), want, atol=1e-5)
        assert torch.allclose(clf.features(x, None), net(x), atol=1e-5)
    # and differentiably: the pre-image needs the gradient with respect to the image
    x.requires_grad_(True)
    clf.features(x, "features.4").sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert clf.units_hint("features.7") == 32 and clf.units_hint(None) == 4


@pytest.mark.parametrize("spec, words", [
    ("{img}", "is not a TorchScript file"),
    ("{tmp}/missing.pt", "no such file"),
    ("vgg16:", "give the weights file"),
])
def test_a_bad_classifier_is_one_clear_line(tmp_path, spec, words):
    img = tmp_path / "x.png"
    save_image(str(img), smooth_image())
    with pytest.raises(ConfigError) as e:
        load_classifier(spec.format(img=img, tmp=tmp_path))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_torchvision_missing_says_so_in_one_line(tmp_path, monkeypatch):
    weights = tmp_path / "w.pth"
    torch.save({"x": torch.zeros(1)}, weights)
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(ConfigError, match="needs torchvision, which is not installed"):
        load_classifier(f"alexnet:{weights}")


def test_arch_weights_loads_a_torchvision_architecture_with_its_state_dict(tmp_path, monkeypatch):
    """torchvision is optional: a stand-in ``torchvision.models`` (no weights anywhere) checks
    what the engine does with it: the architecture built with weights=None, the user's
    state_dict loaded strictly, class names carried, in-place ReLUs made safe for hooks, and
    the ImageNet normalisation applied inside."""
    import types

    import torch.nn as nn

    built = []

    def alexnet(weights=None):
        built.append(weights)
        m = nn.Module()
        m.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True))
        m.classifier = nn.Linear(4, 3)
        m.forward = lambda x: m.classifier(m.features(x).mean(dim=(2, 3)))
        return m

    fake = types.ModuleType("torchvision.models")
    fake.alexnet = alexnet
    pkg = types.ModuleType("torchvision")
    pkg.models = fake
    monkeypatch.setitem(sys.modules, "torchvision", pkg)
    monkeypatch.setitem(sys.modules, "torchvision.models", fake)
    ref = alexnet()
    weights = tmp_path / "alexnet.pth"
    torch.save({"state_dict": ref.state_dict(), "classes": ["cat", "dog", "swan"]}, weights)
    clf = load_classifier(f"alexnet:{weights}")
    assert built == [None, None] and clf.class_names == ["cat", "dog", "swan"] and clf.input_size == (224, 224)
    assert clf.layers() == ["features", "features.0", "features.1", "classifier"]
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        conv = ref.features[0]((x - mean) / std)
        # the conv's own output, not overwritten by the in-place ReLU after it
        assert torch.allclose(clf.features(x, "features.0"), conv, atol=1e-5)
        assert (conv < 0).any()
        assert torch.allclose(clf.features(x, None), ref((x - mean) / std), atol=1e-5)
    wrong = tmp_path / "wrong.pth"
    torch.save({"other": torch.zeros(2)}, wrong)
    with pytest.raises(ConfigError, match="does not fit torchvision's alexnet"):
        load_classifier(f"alexnet:{wrong}")


def test_unknown_layer_and_unit_out_of_range(phi):
    path, _ = phi
    with pytest.raises(ConfigError, match="layer 'conv9' is not in the classifier"):
        Restoration(get_config("preimage-fast", classifier=path, layer="conv9"), sample_image(0))
    with pytest.raises(ConfigError, match=r"unit 32 is out of range: layer 'features.6' has 32 units \(0..31\)"):
        Restoration(get_config("actmax-fast", classifier=path, layer="features.6", unit=32), canvas(32, 32))
    with pytest.raises(ConfigError, match="needs a classifier"):
        Restoration(get_config("actmax-fast"), canvas(32, 32))
    assert parse_size("48x32") == (32, 48)


# ---- pre-image -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["features.1", "features.7"])
def test_preimage_features_come_much_closer_to_the_target(phi, layer):
    path, net = phi
    x0 = sample_image(0)
    run, start = _run(get_config("preimage-fast", classifier=path, layer=layer, iterations=120), x0)
    out = run.result("last")
    with torch.no_grad():
        f0 = net.features[:int(layer.split(".")[1]) + 1](to_tensor(x0, "cpu"))
        f = net.features[:int(layer.split(".")[1]) + 1](to_tensor(out, "cpu"))
    end = float(feature_distance(f, f0))   # measured with the eager net, not the run's own number
    assert end < 0.05 * start and end < 0.02
    # the image is not the target copied: only its features are asked for
    assert out.shape == x0.shape and np.isfinite(out).all()


def test_tv_prior_comparison_runs_the_same_way(phi):
    path, _ = phi
    cfg = tv_config(get_config("preimage-fast", classifier=path, layer="features.4", seed=3))
    assert cfg.prior == "tv" and cfg.classifier == path and cfg.seed == 3 and cfg.tv_weight > 0
    run, start = _run(cfg.replace(iterations=150), sample_image(0))
    assert run.param_count == 3 * 32 * 32             # the pixels are the parameters
    assert float(run.task.last_data) < 0.2 * start


# ---- activation maximisation ---------------------------------------------------------------
@pytest.mark.parametrize("layer", [None, "features.6"])
def test_actmax_unit_rises_above_every_other_unit(phi, layer):
    path, _ = phi
    # the unit: the one the grey canvas excites least among those that can move (a logit, or
    # a convolution channel before its ReLU), so it has to overtake all the others
    probe = Restoration(get_config("actmax-fast", classifier=path, layer=layer, unit=0), canvas(32, 32))
    start = probe.task.all_units(probe.task.target)
    unit = int(np.argmin(start)) if layer is None else 16
    assert start[unit] < start.max()
    cfg = get_config("actmax-fast", classifier=path, layer=layer, unit=unit, iterations=120, lr=0.01)
    run, _ = _run(cfg, canvas(32, 32))
    end = run.task.all_units(to_tensor(run.result("last"), "cpu"))
    assert end[unit] > start[unit] + 1.0
    assert end[unit] == end.max() and end[unit] > np.delete(end, unit).max()


# ---- the command line ----------------------------------------------------------------------
def test_cli_preimage_and_actmax_write_image_and_metrics(phi, tmp_path):
    path, _ = phi
    x0 = tmp_path / "x0.png"
    save_image(str(x0), sample_image(0))
    out, m = tmp_path / "pre.png", tmp_path / "pre.json"
    assert main(["restore", "--task", "preimage", "--classifier", path, "--layer", "features.4", "--input", str(x0),
                 "--output", str(out), "--iterations", "60", "--metrics", str(m), "--quiet"]) == 0
    rep = json.loads(m.read_text())
    fd = rep["feature_distance"]
    assert rep["layer"] == "features.4" and fd["written"] < 0.2 * fd["start"] and len(fd["curve"]) >= 10
    assert load_image(str(out)).array.shape == (32, 32, 3)

    out, m = tmp_path / "am.png", tmp_path / "am.json"
    assert main(["restore", "--task", "actmax", "--classifier", path, "--unit", "2", "--output", str(out),
                 "--size", "40x24", "--iterations", "40", "--metrics", str(m), "--quiet"]) == 0
    act = json.loads(m.read_text())["activation"]
    assert act["unit"] == 2 and act["class"] == "checker" and act["written"] > act["start"]
    assert act["curve"][-1][1] > act["curve"][0][1] and act["units"] == 4
    assert load_image(str(out)).array.shape == (24, 40, 3)


@pytest.mark.parametrize("args, words", [
    (["--task", "actmax", "--unit", "99", "--classifier", "{phi}"], "unit 99 is out of range"),
    (["--task", "actmax", "--classifier", "{phi}"], "needs --unit"),
    (["--task", "preimage", "--classifier", "{phi}", "--layer", "nope", "--input", "{img}"], "layer 'nope'"),
    (["--task", "preimage", "--classifier", "{img}", "--input", "{img}"], "not a TorchScript file"),
    (["--task", "preimage", "--layer", "features.1", "--input", "{img}"], "needs --classifier"),
    (["--task", "denoise", "--classifier", "{phi}", "--input", "{img}"], "only used by --task preimage"),
    (["--task", "denoise"], "needs --input"),
    (["--task", "actmax", "--classifier", "{phi}", "--unit", "1", "--tile", "128"], "--tile is not used"),
    (["--task", "actmax", "--classifier", "{phi}", "--unit", "1", "--input", "{img}"], "drop --input"),
    (["--task", "actmax", "--classifier", "{phi}", "--unit", "1", "--size", "3x3"], "8..4096 px"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(phi, tmp_path, capsys, args, words):
    img = tmp_path / "x.png"
    save_image(str(img), sample_image(0))
    out = tmp_path / "o.png"
    argv = ["restore", *[a.format(phi=phi[0], img=img) for a in args], "--output", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and not out.exists()


# ---- noise impedance -----------------------------------------------------------------------
def test_impedance_curves_come_out_in_the_papers_order():
    img = load_image("resources/sample_clean.png").array[40:72, 100:132]   # 32 x 32
    targets = impedance_targets(img, seed=0)
    shuffled = targets["image shuffled"].reshape(-1, 3)
    assert np.array_equal(np.sort(shuffled, axis=0), np.sort(img.reshape(-1, 3), axis=0))   # same pixels...
    assert not np.array_equal(shuffled, img.reshape(-1, 3))                                # ...moved
    demo = ImpedanceDemo(img, steps=200, seed=0)
    seen = [s.step for s in demo.steps()]
    assert seen == list(range(1, 201))
    mean_log = [float(np.mean(np.log10(demo.curves[k]))) for k in IMPEDANCE_KINDS]
    last = [demo.curves[k][-1] for k in IMPEDANCE_KINDS]
    # image fastest, then image + noise, then shuffled pixels, pure noise slowest
    assert mean_log == sorted(mean_log) and last == sorted(last)
    assert last[0] < 0.3 * last[2]
    assert set(demo.outputs()) == set(IMPEDANCE_KINDS)


def test_config_round_trips_the_new_fields(phi):
    cfg = get_config("actmax", classifier=phi[0], layer="features.6", unit=3)
    assert cfg.net.pad == "zero" and cfg.lr == 0.001 and cfg.iterations == 3100
    assert get_config("preimage").net.pad == "zero"
    from engine.config import RunConfig
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).validate() == cfg
    with pytest.raises(ConfigError, match="prior is for preimage and actmax"):
        get_config("denoise-fast", prior="tv")
    with pytest.raises(DIPError):
        tv_config(get_config("denoise-fast"))
