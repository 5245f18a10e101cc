"""The user's classifier Phi for the pre-image and activation-maximisation experiments.

A classifier is named by a spec string:

* ``PATH``: a TorchScript file (``torch.jit.save``) taking a ``1 x 3 x H x W`` float image in
  [0, 1]. Optional extra files saved with it: ``input_size`` (``"WxH"`` or one number) and
  ``classes`` (one class name per line).
* ``ARCH:WEIGHTS``: a torchvision architecture (``alexnet``, ``vgg16``) and a ``state_dict``
  file the user has (or a dict with ``state_dict`` and ``classes``). torchvision is imported
  only here, only then; weights are never downloaded. Inputs are normalised with the ImageNet
  mean and standard deviation inside, so these too take images in [0, 1].

Layers are the model's ``named_modules()`` names. ``features(x, layer)`` returns that
layer's output, differentiably: forward hooks on Python modules, and on TorchScript (whose
compiled forward ignores Python hooks) the forward graph cut at the layer's last operation.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn

from .errors import ConfigError

ARCHITECTURES = ("alexnet", "vgg16")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_SIZE = (224, 224)          # (H, W) torchvision's AlexNet and VGG-16 are trained at


def parse_spec(spec: str) -> tuple[str | None, str]:
    """``'alexnet:/w.pth'`` -> ('alexnet', '/w.pth'); ``'/m.pt'`` -> (None, '/m.pt')."""
    spec = (spec or "").strip()
    if not spec:
        raise ConfigError("no classifier given: a TorchScript file, or ARCH:WEIGHTS with ARCH alexnet or vgg16")
    head, sep, tail = spec.partition(":")
    if sep and head.lower() in ARCHITECTURES:
        if not tail:
            raise ConfigError(f"classifier '{spec}': give the weights file after '{head}:'")
        return head.lower(), tail
    return None, spec


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise ConfigError(f"{what} {path}: no such file")
    if os.path.isdir(path):
        raise ConfigError(f"{what} {path} is a folder, not a file")


class _Normalised(nn.Module):
    """[0, 1] image -> ImageNet-normalised -> the torchvision model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


class _Reached(Exception):
    """Raised by a hook once the chosen layer has run: nothing after it is computed."""


def _hierarchy_path(text: str) -> list[str]:
    """``'features(Sequential).0(Conv2d).SELF(Conv2d)'`` -> ['features', '0']."""
    parts = [re.sub(r"\(.*\)$", "", p) for p in text.split(".")] if text else []
    return [p for p in parts if p and p not in ("SELF", "UNKNOWN_INSTANCE")]


@dataclass
class Classifier:
    """A loaded Phi (eval mode, frozen) and what is known about it."""

    spec: str
    module: nn.Module
    scripted: bool
    input_size: tuple[int, int] | None = None      # (H, W), when the classifier says
    class_names: list[str] | None = None
    _cut: dict[str, Callable] = field(default_factory=dict, repr=False)

    # ---- layers --------------------------------------------------------------------
    def _root(self) -> nn.Module:
        return self.module.model if isinstance(self.module, _Normalised) else self.module

    def layers(self) -> list[str]:
        """Every named module, in definition order (the model's output is ``None``/'')."""
        return [name for name, _ in self._root().named_modules() if name]

    def check_layer(self, layer: str | None) -> None:
        if layer and layer not in set(self.layers()):
            names = self.layers()
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise ConfigError(f"layer '{layer}' is not in the classifier; its layers: {shown or '(none)'}")

    # ---- features ------------------------------------------------------------------
    def features(self, x: torch.Tensor, layer: str | None) -> torch.Tensor:
        """Phi's ``layer`` output for image ``x`` (1x3xHxW in [0, 1]); None: the output."""
        if not layer:
            return self.module(x)
        self.check_layer(layer)
        if self.scripted:
            return self._cut_graph(layer)(self.module._c, x)
        return self._hooked(x, layer)

    def _hooked(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        got: list[torch.Tensor] = []
        sub = dict(self._root().named_modules())[layer]

        def hook(_m, _inp, out):
            got.append(out)
            raise _Reached

        handle = sub.register_forward_hook(hook)
        try:
            self.module(x)
        except _Reached:
            pass
        finally:
            handle.remove()
        if not got:
            raise ConfigError(f"layer '{layer}' is not used by the classifier's forward pass")
        return got[0]

    def _cut_graph(self, layer: str) -> Callable:
        """The TorchScript forward graph ending at the last tensor op inside ``layer``."""
        fn = self._cut.get(layer)
        if fn is not None:
            return fn
        graph = self.module.inlined_graph
        want = layer.split(".")
        last = None
        for node in graph.nodes():
            if _hierarchy_path(node.getModuleHierarchy())[:len(want)] == want and node.outputsSize() == 1 \
                    and node.output().type().kind() == "TensorType":
                last = node
        if last is None:
            raise ConfigError(f"layer '{layer}' computes nothing in the classifier's forward pass")
        for _ in range(len(list(graph.outputs()))):
            graph.eraseOutput(0)
        graph.registerOutput(last.output())
        torch._C._jit_pass_dce(graph)
        fn = torch._C._create_function_from_graph(f"features_{len(self._cut)}", graph)
        self._cut[layer] = fn
        return fn

    def units_hint(self, layer: str | None) -> int | None:
        """How many units (channels or outputs) ``layer`` has, read from the modules'
        attributes without running anything (for the app's unit field); None when unknown."""
        mods = list(self._root().named_modules())
        end = len(mods) if not layer else next((i + 1 for i, (n, _) in enumerate(mods) if n == layer), 0)
        # the layer itself, else the nearest module before it that says (a ReLU keeps the channels)
        for _name, m in reversed(mods[:end]):
            for attr in ("out_channels", "out_features", "num_features"):
                try:
                    v = getattr(m, attr)
                except (AttributeError, RuntimeError):
                    continue
                if isinstance(v, int) and v > 0:
                    return v
        return None

    def to(self, device: torch.device) -> "Classifier":
        self.module = self.module.to(device)
        self._cut.clear()
        return self


def _read_size(text: str) -> tuple[int, int] | None:
    text = text.strip().lower()
    if not text:
        return None
    try:
        return parse_size(text)
    except ConfigError:
        return None


def parse_size(text: str) -> tuple[int, int]:
    """``'WxH'`` or ``'N'`` -> (H, W)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[x\u00d7,]\s*(\d+))?\s*", text or "")
    if not m:
        raise ConfigError(f"a size is WxH (e.g. 224x224) or one number, got '{text}'")
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) else w
    if not (8 <= w <= 4096 and 8 <= h <= 4096):
        raise ConfigError(f"a size must be 8..4096 px a side, got {w}x{h}")
    return h, w


def _load_script(path: str) -> Classifier:
    _check_file(path, "classifier")
    extra = {"input_size": "", "classes": ""}
    try:
        module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except Exception:  # torch raises RuntimeError, ValueError, zip errors... for a bad file
        raise ConfigError(f"classifier {path} is not a TorchScript file (save one with torch.jit.save), "
                          f"nor ARCH:WEIGHTS with ARCH alexnet or vgg16") from None
    size = _read_size(extra["input_size"].decode("utf-8", "replace")) if extra["input_size"] else None
    names = [n.strip() for n in extra["classes"].decode("utf-8", "replace").splitlines() if n.strip()] \
        if extra["classes"] else None
    return Classifier(path, module, scripted=True, input_size=size, class_names=names or None)


def _load_torchvision(arch: str, weights: str, spec: str) -> Classifier:
    _check_file(weights, "weights file")
    try:
        import torchvision.models as tvm   # optional: only this way of naming a classifier needs it
    except ImportError:
        raise ConfigError(f"classifier '{spec}' needs torchvision, which is not installed "
                          f"(pip install torchvision), or give a TorchScript file instead") from None
    except Exception as exc:   # installed but built for another torch: its operators fail to register
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ConfigError(f"classifier '{spec}' needs torchvision, which failed to import ({first}): install the "
                          f"torchvision built for torch {torch.__version__}, or give a TorchScript file") from None
    try:
        blob = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ConfigError(f"weights file {weights} is not a PyTorch state_dict ({first})") from None
    classes = None
    if isinstance(blob, dict) and "state_dict" in blob:
        classes = blob.get("classes")
        blob = blob["state_dict"]
    if not isinstance(blob, dict):
        raise ConfigError(f"weights file {weights} holds no state_dict")
    model = getattr(tvm, arch)(weights=None)    # architecture only: never downloads
    try:
        model.load_state_dict(blob, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ConfigError(f"weights file {weights} does not fit torchvision's {arch} ({first})") from None
    for m in model.modules():      # an in-place ReLU would overwrite the features a hook returned
        if hasattr(m, "inplace"):
            m.inplace = False
    names = [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None
    return Classifier(spec, _Normalised(model), scripted=False, input_size=IMAGENET_SIZE, class_names=names)


def load_classifier(spec: str, device: torch.device | str = "cpu") -> Classifier:
    """Load Phi from ``spec`` (see the module's docstring), frozen, in eval mode, on ``device``."""
    arch, path = parse_spec(spec)
    clf = _load_torchvision(arch, path, spec) if arch else _load_script(path)
    clf.module.eval()
    for p in clf.module.parameters():
        p.requires_grad_(False)
    return clf.to(torch.device(device))
