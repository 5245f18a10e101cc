"""The cost estimate: exact against torch's own counters, linear in pixels, calibrated to
the measured CPU steps, and cheap for any image size."""
from __future__ import annotations

import dataclasses
import resource
import time

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from engine.config import NetConfig, RunConfig
from engine.errors import ConfigError
from engine.estimate import Estimate, estimate_cost
from engine.nets import build_net, count_params
from engine.nets.profile import profile


def cfg_with(**net) -> RunConfig:
    c = RunConfig()
    return dataclasses.replace(c, net=dataclasses.replace(c.net, **net))


SMALL = [
    NetConfig(channels_down=[4, 8, 8], channels_up=[8, 8, 4], channels_skip=[2, 0, 2]),
    NetConfig(arch="hourglass", channels_down=[4, 8, 8], channels_up=[8, 8, 4], channels_skip=[2] * 3,
              downsample="max", upsample="nearest"),
    NetConfig(channels_down=[4, 8], channels_up=[4, 8], channels_skip=[2, 2], kernel_skip=3,
              downsample="avg", pad="zero", need1x1_up=False),
    NetConfig(arch="unet", channels_down=[4, 8, 8], channels_up=[8, 8, 4], downsample="avg"),
    NetConfig(arch="unet", channels_down=[4, 8], channels_up=[4, 8], kernel_down=5, pad="zero"),
    NetConfig(arch="resnet", resnet_blocks=2, resnet_channels=6),
]


def torch_counts(net: torch.nn.Module, c: int, h: int, w: int) -> tuple[int, int, int]:
    """FLOPs (forward, total) by FlopCounterMode, and the bytes of distinct activation
    storages autograd saves, on a real forward+backward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.nn.Parameter) and t.dim() == 4:
            s = t.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
        return t

    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = net(torch.rand(1, c, h, w))
        fwd = counter.get_total_flops()
        out.sum().backward()
    return fwd, counter.get_total_flops(), sum(storages.values())


@pytest.mark.parametrize("net", SMALL, ids=lambda n: f"{n.arch}-{n.downsample}-{n.pad}")
def test_profile_matches_torch_counters(net):
    torch.manual_seed(0)
    model = build_net(net, 5, 3)
    fwd, total, saved = torch_counts(model, 5, 32, 48)
    p = profile(model, 5, 32, 48)
    assert p.flops_fwd == fwd
    assert p.flops == total
    assert p.saved_bytes == saved
    assert p.problems == []
    assert (p.out.c, p.out.h, p.out.w) == (3, 32, 48)


def test_default_net_flops_match_the_measured_counts():
    # the reference facts: 9.7 / 28.8 GFLOP (forward / forward+backward) at 128x128
    with torch.device("meta"):
        model = build_net(NetConfig(), 32, 3)
    p = profile(model, 32, 128, 128)
    assert p.flops_fwd == pytest.approx(9.7e9, rel=0.01)
    assert p.flops == pytest.approx(28.8e9, rel=0.01)


def test_fields_and_params_equal_count_params():
    for net in [NetConfig(), *SMALL]:
        cfg = dataclasses.replace(RunConfig(), net=net, input_channels=5)
        e = estimate_cost(cfg, 64, 64)
        assert isinstance(e, Estimate)
        assert e.params == count_params(build_net(net, 5, 3))
        assert e.bytes > e.params * 16 and e.seconds_per_step > 0 and e.flops_per_step > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.params = 1  # type: ignore[misc]


def test_meshgrid_input_counts_two_channels():
    cfg = dataclasses.replace(RunConfig(), input_kind="meshgrid", input_channels=32)
    assert estimate_cost(cfg, 64, 64).params == count_params(build_net(cfg.net, 2, 3))


def test_grows_about_linearly_with_pixels():
    cfg = RunConfig()
    e1, e2, e3 = (estimate_cost(cfg, s, s) for s in (256, 512, 1024))
    assert e2.flops_per_step == pytest.approx(4 * e1.flops_per_step, rel=1e-9)
    assert e3.flops_per_step == pytest.approx(4 * e2.flops_per_step, rel=1e-9)
    # memory: a fixed part plus a part proportional to the pixels
    assert (e3.bytes - e2.bytes) / (e2.bytes - e1.bytes) == pytest.approx(4, rel=0.02)
    # time: about 4x per 4x pixels (a bit more while the caches still help)
    for a, b in ((e1, e2), (e2, e3)):
        assert 3.5 < b.seconds_per_step / a.seconds_per_step < 5.5


def test_output_size_is_padded_to_the_multiple():
    cfg = RunConfig()
    a, b = estimate_cost(cfg, 100, 70), estimate_cost(cfg, 128, 96)
    assert a.padded == b.padded == (128, 96)
    assert a.flops_per_step == b.flops_per_step
    r = estimate_cost(cfg_with(arch="resnet"), 100, 70)
    assert r.padded == (100, 70)


@pytest.mark.parametrize("size,seconds,gb", [(128, 0.177, 0.63), (256, 0.913, 1.09)])
def test_cpu_anchors_of_the_denoise_net(size, seconds, gb):
    e = estimate_cost(RunConfig(), size, size, "cpu")
    assert e.params == 2_217_831
    assert seconds / 1.2 < e.seconds_per_step < seconds * 1.2
    assert gb / 1.5 < e.bytes / 1e9 < gb * 1.5


# One step of each preset on the team's 2-core Xeon, 2 threads (ms, median; engine/estimate.py)
MEASURED_STEPS = [
    ("denoise-fast", 128, "fp32", 35.6), ("denoise-fast", 128, "bf16", 31.7),
    ("denoise-fast", 256, "fp32", 128.0), ("denoise-fast", 256, "bf16", 92.7),
    ("denoise-fast", 384, "bf16", 204.8), ("denoise-fast", 768, "fp32", 2003.3),
    ("denoise-fast", 768, "bf16", 1264.6), ("denoise", 128, "bf16", 121.0),
    ("denoise", 384, "bf16", 1400.9), ("sr-fast", 512, "bf16", 419.2),
    ("jpeg", 128, "fp32", 21.2), ("inpaint-text", 128, "bf16", 161.9),
]


@pytest.mark.parametrize("preset,size,precision,ms", MEASURED_STEPS, ids=lambda v: str(v))
def test_step_seconds_follow_the_measured_steps(preset, size, precision, ms):
    from engine.presets import get_config
    e = estimate_cost(get_config(preset, precision=precision), size, size, "cpu")
    assert ms / 1.2 < 1e3 * e.seconds_per_step < ms * 1.2


def test_narrow_nets_are_cheaper_but_not_by_the_flop_ratio():
    # measured: 177 ms (128 ch), 35.6 ms (32) at 128x128, float32
    base = estimate_cost(RunConfig(), 128, 128)
    narrow = estimate_cost(dataclasses.replace(RunConfig(), net=RunConfig().net.with_width(5, 32)), 128, 128)
    assert narrow.flops_per_step < base.flops_per_step / 10
    assert 0.0356 / 1.2 < narrow.seconds_per_step < 0.0356 * 1.2
    assert base.seconds_per_step / narrow.seconds_per_step < 6


def test_bf16_gains_most_on_wide_nets():
    from engine.presets import get_config
    gain = {p: estimate_cost(get_config(p, precision="fp32"), 256, 256).seconds_per_step
            / estimate_cost(get_config(p, precision="bf16"), 256, 256).seconds_per_step
            for p in ("denoise", "denoise-fast")}
    assert gain["denoise"] > 1.5 > gain["denoise-fast"] > 1.1


def test_cuda_is_much_faster_and_needs_no_gpu():
    cpu = estimate_cost(RunConfig(), 512, 512, "cpu")
    gpu = estimate_cost(RunConfig(), 512, 512, "cuda")
    assert gpu.flops_per_step == cpu.flops_per_step and gpu.params == cpu.params
    assert 20 < cpu.seconds_per_step / gpu.seconds_per_step < 60
    assert estimate_cost(RunConfig(), 64, 64, torch.device("cuda", 0)).seconds_per_step > 0


def test_unknown_device_and_bad_size_raise_config_error():
    with pytest.raises(ConfigError):
        estimate_cost(RunConfig(), 64, 64, "tpu")
    with pytest.raises(ConfigError):
        estimate_cost(RunConfig(), 0, 64)


def test_too_small_frame_is_reported():
    assert estimate_cost(RunConfig(), 20, 20).problem is not None
    assert estimate_cost(RunConfig(), 64, 64).problem is None


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any torch op creates off the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self.largest = max(self.largest, t.numel() * t.element_size())
        return out


@pytest.mark.parametrize("arch", ["skip", "unet", "resnet"])
def test_huge_request_is_fast_and_allocates_nothing_large(arch):
    # a fresh network shape, so the build is part of the timing (no cache hit)
    cfg = cfg_with(arch=arch, channels_down=[96] * 5, channels_up=[96] * 5, resnet_channels=48)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spy = _LargestTensor()
    start = time.perf_counter()
    with spy:
        e = estimate_cost(cfg, 3000, 4000)
    elapsed = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert elapsed < 0.5
    assert spy.largest < 1 << 20
    assert grown_mb < 200
    assert e.bytes > 10e9  # a 12 MP frame of a 5-level net keeps tens of GB of activations
    assert e.padded[0] * e.padded[1] >= 3000 * 4000
