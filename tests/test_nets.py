"""The network builders: the paper's parameter counts, shapes, ranges, gradients, seeding,
and clear errors for settings or frames that cannot be built or run."""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import engine.nets
from engine.config import NetConfig
from engine.errors import ConfigError
from engine.nets import DIPNet, build_net, count_parameters, count_params
from engine.nets.profile import profile

L5 = [16, 32, 64, 128, 128]
L6 = [16, 32, 64, 128, 128, 128]

# (input channels, net, parameters the authors' code reaches); output is 3 channels
PAPER_NETS = {
    "denoise": (32, NetConfig(), 2_217_831),
    "jpeg": (3, NetConfig(channels_down=[8, 16, 32, 64, 128], channels_up=[8, 16, 32, 64, 128],
                          channels_skip=[0, 0, 0, 4, 4]), 572_827),
    "hole-meshgrid": (2, NetConfig(channels_skip=[0] * 5, upsample="nearest"), 2_157_955),
    "text-inpainting": (32, NetConfig(channels_skip=[128] * 5, upsample="nearest"), 3_002_627),
    "hole-deep": (1, NetConfig(channels_down=L6, channels_up=L6, channels_skip=[0] * 6, kernel_down=5,
                               kernel_up=3, upsample="nearest", need1x1_up=False), 2_996_467),
    "drop-98": (32, NetConfig(channels_down=L5, channels_up=L5, channels_skip=[0] * 5,
                              downsample="avg"), 1_027_379),
    "flash": (3, NetConfig(upsample=["nearest", "nearest", "bilinear", "bilinear", "bilinear"]), 2_184_307),
}


class _KernelLog(TorchDispatchMode):
    """Every aten op that touches a tensor with storage (any device but meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if any(t.device.type != "meta" for t in tensors):
            self.ops.append(str(func))
        return out


@contextlib.contextmanager
def kernels_on_this_thread() -> Iterator[list[str]]:
    """The real (non-meta) torch ops the calling thread runs inside the block; dispatch
    modes are thread-local, so other threads' work is not in the list."""
    with _KernelLog() as log:
        yield log.ops


def small(arch: str, depth: int = 3, **kw) -> NetConfig:
    ch = [4, 8, 8, 8][:depth]
    return NetConfig(arch=arch, channels_down=ch, channels_up=list(reversed(ch)), channels_skip=[2] * depth,
                     resnet_blocks=2, resnet_channels=8, **kw)


ARCH_VARIANTS = [
    small("skip"),
    small("skip", depth=2, upsample=["nearest", "bilinear"], downsample="max", pad="zero", kernel_up=[3, 5]),
    small("hourglass", downsample="avg", need1x1_up=False),
    small("unet"),
    small("unet", depth=2, downsample="max", upsample="nearest", pad="zero"),
    small("resnet"),
]
IDS = ["skip", "skip-zero-max", "hourglass-avg", "unet", "unet-max", "resnet"]


@pytest.mark.parametrize("name", list(PAPER_NETS))
def test_paper_parameter_counts(name):
    c_in, net, expected = PAPER_NETS[name]
    assert count_params(build_net(net, c_in, 3)) == expected


def test_hourglass_is_skip_without_skips():
    hour = build_net(NetConfig(arch="hourglass"), 32, 3)
    plain = build_net(NetConfig(channels_skip=[0] * 5), 32, 3)
    assert count_params(hour) == count_params(plain) < count_params(build_net(NetConfig(), 32, 3))


@pytest.mark.parametrize("name", list(PAPER_NETS))
def test_count_parameters_counts_on_the_meta_device_without_kernels(name):
    c_in, net, expected = PAPER_NETS[name]
    with kernels_on_this_thread() as ops:
        assert count_parameters(net, c_in, 3) == expected
    assert ops == []
    with kernels_on_this_thread() as ops:  # the recorder sees a real build's weight init
        build_net(net, c_in, 3)
    assert ops


@pytest.mark.parametrize("net", ARCH_VARIANTS, ids=IDS)
def test_count_parameters_agrees_with_a_built_net(net):
    assert count_parameters(net, 5, 2) == count_params(build_net(net, 5, 2))
    with pytest.raises(ConfigError):
        count_parameters(dataclasses.replace(net, arch="densenet"), 5, 2)


def test_public_api_and_the_shape_walk_of_the_wrapper():
    assert {"build_net", "count_params", "count_parameters", "DIPNet"} <= set(engine.nets.__all__)
    model = build_net(small("skip"), 3, 3)
    assert isinstance(model, DIPNet)
    # the network is walked as its body: its frame checks cost nothing
    whole, body = profile(model, 3, 32, 32), profile(model.body, 3, 32, 32)
    assert whole.flops == body.flops > 0 and whole.saved_bytes == body.saved_bytes > 0
    assert whole.problems == body.problems == []
    assert profile(model, 3, 8, 8).problems


def test_count_params_skips_frozen():
    net = build_net(small("skip"), 3, 3)
    total = count_params(net)
    first = next(p for p in net.parameters())
    first.requires_grad_(False)
    assert count_params(net) == total - first.numel()


@pytest.mark.parametrize("net", ARCH_VARIANTS, ids=IDS)
@pytest.mark.parametrize("hw", [(32, 32), (64, 48)])
def test_shape_and_range(net, hw):
    torch.manual_seed(0)
    model = build_net(net, 3, 2).train()
    x = torch.rand(1, 3, *hw)
    y = model(x)
    assert y.shape == (1, 2, *hw)
    assert torch.isfinite(y).all()
    assert (y > 0).all() and (y < 1).all()


@pytest.mark.parametrize("net", ARCH_VARIANTS, ids=IDS)
def test_odd_size_after_padding_to_the_multiple(net):
    h, w = 37, 29
    m = net.size_multiple()
    hp, wp = -(-h // m) * m, -(-w // m) * m
    x = torch.rand(1, 1, h, w)
    xp = F.pad(x, (0, wp - w, 0, hp - h), mode="reflect")
    y = build_net(net, 1, 3)(xp)
    assert y.shape == (1, 3, hp, wp)
    assert y[..., :h, :w].shape == (1, 3, h, w)


def test_size_multiple():
    assert small("skip").size_multiple() == 8
    assert small("unet", depth=2).size_multiple() == 4
    assert small("resnet").size_multiple() == 1
    assert build_net(small("resnet"), 3, 3)(torch.rand(1, 3, 13, 11)).shape == (1, 3, 13, 11)


@pytest.mark.parametrize("net", ARCH_VARIANTS, ids=IDS)
def test_gradients_reach_the_first_layer(net):
    model = build_net(net, 3, 3)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    loss = (model(torch.rand(1, 3, 32, 32)) - 0.5).pow(2).mean()
    loss.backward()
    assert first.weight.grad is not None
    assert first.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_same_seed_same_weights_and_different_seed_different():
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return [p.detach().clone() for p in build_net(small("skip"), 3, 3).parameters()]

    a, b, c = weights(7), weights(7), weights(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_skip_branch_order_and_bn_over_concat():
    # level 0 holds cat[skip, deeper] then a BN over n_s + n_u[1] channels
    net = NetConfig(channels_down=[4, 6], channels_up=[5, 7], channels_skip=[3, 2])
    model = build_net(net, 2, 1)
    bns = [m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert 3 + 7 in bns and 2 + 6 in bns


@pytest.mark.parametrize("field,value", [
    ("channels_up", [4, 8]),
    ("channels_skip", [2, 2, 2, 2]),
    ("kernel_down", [3, 3]),
    ("kernel_up", [3, 3, 3, 3]),
    ("kernel_skip", [1]),
    ("upsample", ["nearest", "bilinear"]),
])
@pytest.mark.parametrize("arch", ["skip", "unet"])
def test_wrong_length_lists_raise_config_error(arch, field, value):
    net = dataclasses.replace(small(arch), **{field: value})
    if arch == "unet" and field in ("channels_skip", "kernel_skip"):
        build_net(net, 3, 3)  # the U-Net has no skip settings to get wrong
        return
    with pytest.raises(ConfigError):
        build_net(net, 3, 3)


@pytest.mark.parametrize("change", [
    dict(arch="densenet"),
    dict(kernel_down=4),
    dict(kernel_up=0),
    dict(upsample="bicubic"),
    dict(downsample="strided"),
    dict(pad="replicate"),
    dict(channels_down=[4, 0, 8]),
    dict(channels_skip=[2, -1, 2]),
    dict(channels_down=[], channels_up=[], channels_skip=[]),
    dict(channels_down=[4] * 9, channels_up=[4] * 9, channels_skip=[0] * 9),
])
def test_unbuildable_settings_raise_config_error(change):
    with pytest.raises(ConfigError):
        build_net(dataclasses.replace(small("skip"), **change), 3, 3)


def test_bad_resnet_and_channel_counts_raise_config_error():
    with pytest.raises(ConfigError):
        build_net(dataclasses.replace(small("resnet"), resnet_blocks=0), 3, 3)
    with pytest.raises(ConfigError):
        build_net(small("skip"), 0, 3)


def test_frame_not_a_multiple_raises_config_error():
    with pytest.raises(ConfigError, match="multiples of 8"):
        build_net(small("skip"), 3, 3)(torch.rand(1, 3, 32, 36))


def test_frame_too_small_raises_config_error_and_min_side_runs():
    # depth 3 on 8x8 leaves a 1x1 deepest map: reflection padding and BatchNorm cannot run
    model = build_net(small("skip"), 3, 3)
    with pytest.raises(ConfigError, match="too small"):
        model(torch.rand(1, 3, 8, 8))
    side = model.min_side(3)
    assert side == 16
    assert model(torch.rand(1, 3, side, side)).shape == (1, 3, side, side)
    # a 5x5 kernel needs a deeper map still
    deep = build_net(dataclasses.replace(small("skip"), kernel_down=5), 3, 3)
    assert deep.min_side(3) == 24
    with pytest.raises(ConfigError):
        deep(torch.rand(1, 3, 16, 16))
    deep(torch.rand(1, 3, 24, 24))
