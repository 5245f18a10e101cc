"""Choosing the device, its CPU threads (and torch's other per-process state: its default
generator), and turning its failures into messages a user can act on."""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

import torch

from .errors import ConfigError, OutOfMemory

# What device_memory_bytes answers when the system will not say: a common laptop's RAM,
# so the "too large" warning still fires for the truly huge requests.
FALLBACK_MEMORY = 8 * 1024 ** 3


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """torch's CPU thread count set to ``n`` (at least 1) for the block, then given back:
    the count is per process and new threads inherit it, so whoever changes it for a while
    (a unit of work, seeds side by side) must leave it as it found it. Yields what it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield before
    finally:
        torch.set_num_threads(before)


_DEFAULT_GENERATOR = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's default CPU generator seeded with ``seed`` for the block, then given back as it
    was. A net's layers draw their first weights from it, and it is one per process: runs
    built at once in several threads (lanes side by side, a batch beside the app's run) take
    turns here, or one's draws land in another's weights."""
    with _DEFAULT_GENERATOR, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def available_devices() -> list[str]:
    """The device names a user may choose here: 'auto' and 'cpu', then the GPUs torch sees."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def device_memory_bytes(device: str) -> int:
    """Total memory of ``device`` ('cpu', 'cuda', 'mps'); MPS shares the system memory."""
    if device == "cuda":
        try:
            return int(torch.cuda.get_device_properties(0).total_memory)
        except (RuntimeError, AssertionError):
            return FALLBACK_MEMORY
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("MPS was requested but is not available; use --device cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device '{name}': choose auto, cpu, cuda or mps")
    return torch.device(name)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def oom_error(device: torch.device, hw: tuple[int, int], params: int) -> OutOfMemory:
    h, w = hw
    where = "GPU" if device.type != "cpu" else "memory"
    return OutOfMemory(
        f"{device.type} ran out of {where} at {w}x{h} with a {params / 1e6:.1f} M-parameter network: "
        f"try the CPU (--device cpu), a smaller image or region, or fewer channels")
