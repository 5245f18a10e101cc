"""Device helpers the UI reads: which devices to offer and how much memory each has."""
import os

import pytest
import torch

import engine.device as device_mod
from engine.device import FALLBACK_MEMORY, available_devices, device_memory_bytes


def test_devices_start_with_auto_and_cpu():
    devices = available_devices()
    assert devices[:2] == ["auto", "cpu"]
    assert ("cuda" in devices) == torch.cuda.is_available()


@pytest.mark.parametrize("cuda", [True, False])
def test_cuda_offered_only_when_torch_sees_it(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert ("cuda" in available_devices()) == cuda


def test_mps_offered_when_available(monkeypatch):
    class FakeMps:
        @staticmethod
        def is_available():
            return True

    monkeypatch.setattr(torch.backends, "mps", FakeMps, raising=False)
    assert available_devices()[-1] == "mps"


def test_cpu_memory_is_the_system_memory():
    expected = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert device_memory_bytes("cpu") == expected
    assert device_memory_bytes("mps") == expected   # Apple GPUs share the system memory


def test_memory_falls_back_when_the_system_will_not_say(monkeypatch):
    def refuse(_name):
        raise ValueError("unsupported")

    monkeypatch.setattr(device_mod.os, "sysconf", refuse)
    assert device_memory_bytes("cpu") == FALLBACK_MEMORY


def test_cuda_memory_falls_back_without_a_gpu(monkeypatch):
    def no_gpu(_index):
        raise RuntimeError("no CUDA GPUs are available")

    monkeypatch.setattr(torch.cuda, "get_device_properties", no_gpu)
    assert device_memory_bytes("cuda") == FALLBACK_MEMORY


def test_cuda_memory_reads_the_gpu(monkeypatch):
    class Props:
        total_memory = 24 * 1024 ** 3

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _index: Props)
    assert device_memory_bytes("cuda") == 24 * 1024 ** 3


def test_panel_reexports_the_engine_helpers():
    # app/main_window.py still imports device_memory_bytes from the panel
    pytest.importorskip("PySide6")
    import app.settings_panel as panel

    assert panel.device_memory_bytes is device_memory_bytes
    assert panel.available_devices is available_devices
