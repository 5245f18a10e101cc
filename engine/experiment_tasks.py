"""The two tasks of the paper's experiments with a classifier Phi, and the TV prior's pixels.

| task | data term E(x) | x |
|---|---|---|
| preimage | ||Phi_l(x) - Phi_l(x0)||^2 / ||Phi_l(x0)||^2 (+ tv_weight TV(x)) | f_theta(z), or pixels (prior 'tv') |
| actmax | -Phi_l(x)[unit] (+ tv_weight TV(x)) | f_theta(z), or pixels (prior 'tv') |

``Phi_l(x)[unit]`` is channel ``unit`` of layer l averaged over space, or logit ``unit`` of a
flat output (before any soft-max). The deep image prior needs no other regulariser; the
comparison (Mahendran & Vedaldi's TV prior) optimises the pixels directly with
``TV(x) = mean (|dx|^2 + |dy|^2)^(beta/2)``, beta = 2.

Importing this module adds the two tasks to ``engine.tasks.TASK_CLASSES`` (engine/run.py
imports it): the dependency runs one way, from here to tasks.py.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .classifier import Classifier, load_classifier
from .config import RunConfig
from .errors import ConfigError, ImageError
from .tasks import TASK_CLASSES, Task, to_tensor

EXPERIMENT_TASKS = ("preimage", "actmax")
TV_BETA = 2.0


def total_variation(x: torch.Tensor, beta: float = TV_BETA) -> torch.Tensor:
    """Mean over pixels of (|dx|^2 + |dy|^2)^(beta/2) (Mahendran & Vedaldi's TV^beta)."""
    dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    return (dx * dx + dy * dy + 1e-8).pow(beta / 2).mean()


def feature_distance(f: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
    """||f - f0||^2 / ||f0||^2: 1 means as far as a zero feature map, 0 identical."""
    return (f - f0).pow(2).sum() / f0.pow(2).sum().clamp_min(1e-12)


def unit_values(feat: torch.Tensor) -> torch.Tensor:
    """Every unit's activation: channels averaged over space (N x C x ...), or a flat output."""
    if feat.dim() == 2:
        return feat[0]
    if feat.dim() >= 3:
        return feat[0].flatten(1).mean(dim=1)
    raise ConfigError(f"the layer's output has shape {tuple(feat.shape)}: no units to maximise")


class PixelPrior(nn.Module):
    """The TV prior's "network": the pixels themselves, placed in the run's padded frame."""

    def __init__(self, h: int, w: int, channels: int, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        # the authors' TV comparison starts at 0.5 plus a little uniform noise
        self.pixels = nn.Parameter(0.5 + 0.1 * torch.rand(1, channels, h, w, generator=gen))

    def min_side(self, _in_channels: int) -> int:
        return 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, w = self.pixels.shape[-2:]
        hp, wp = z.shape[-2:]
        top, left = (hp - h) // 2, (wp - w) // 2
        x = self.pixels.clamp(0.0, 1.0)
        return F.pad(x, (left, wp - w - left, top, hp - h - top))


class _ClassifierTask(Task):
    """What the two tasks share: Phi, the layer, the TV term, no held-out pixels."""

    has_best = False   # no degraded pixels to hold out: the run takes its step count

    def __init__(self, cfg: RunConfig, image, mask, guide, device):
        if not cfg.classifier:
            raise ConfigError(f"{cfg.task} needs a classifier: a TorchScript file or ARCH:WEIGHTS")
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim == 3 and image.shape[2] == 1:   # Phi takes colour images
            image = np.repeat(image, 3, axis=2)
        super().__init__(cfg, image, None, None, device)
        self.phi: Classifier = load_classifier(cfg.classifier, device)
        self.spec = cfg.classifier
        self.layer = cfg.layer or None
        self.phi.check_layer(self.layer)
        self.tv_weight = float(cfg.tv_weight)
        self.last_data: torch.Tensor | None = None
        self.probe = self._probe()

    def _probe(self) -> torch.Tensor:
        """Phi's features for the task's own image, checked once before the first step: the
        run needs one floating-point tensor, finite, that depends on the image (its gradient
        is what the network follows). Returns them detached."""
        where = f"classifier {self.spec}, layer '{self.layer or 'output'}'"
        x = self.target.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            f = self._phi(x)
        if not isinstance(f, torch.Tensor):
            kind = type(f).__name__ + (f" of {len(f)}" if isinstance(f, (tuple, list, dict)) else "")
            raise ConfigError(f"{where} returned a {kind}, not a tensor: the run needs the model (or the layer) to "
                              f"return one float tensor; choose a layer or wrap the model so it does")
        if not f.is_floating_point():
            raise ConfigError(f"{where} returned a tensor of {str(f.dtype).replace('torch.', '')}: the run needs "
                              f"floating-point features (integers have no gradient)")
        if not f.requires_grad:
            raise ConfigError(f"{where} returned a tensor detached from its input (no gradient reaches the image): "
                              f"remove the .detach() / torch.no_grad() from the model's forward")
        if not bool(torch.isfinite(f).all()):
            raise ConfigError(f"{where} returned NaN or infinite values on "
                              f"{'the input image' if self.name == 'preimage' else 'a grey canvas'}: it cannot "
                              f"guide a run")
        return f.detach()

    def _phi(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.phi.features(x, self.layer)
        except ConfigError:
            raise
        except Exception as exc:   # e.g. an image too small for the classifier's pooling
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            h, w = x.shape[-2:]
            raise ImageError(f"the classifier failed on a {w}x{h} image ({first})") from None

    def data_term(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, out: torch.Tensor) -> torch.Tensor:
        d = self.data_term(out)
        # one host sync per step, the price of stopping at the first non-finite output with
        # its reason (rejected steps would otherwise end as "diverged: lower the learning rate")
        if not bool(torch.isfinite(d)):
            raise ImageError(f"classifier {self.spec}, layer '{self.layer or 'output'}' gave NaN or "
                             f"infinite values on the network's image: stopped; nothing of this run is usable")
        self.last_data = d.detach()
        return d + self.tv_weight * total_variation(out) if self.tv_weight > 0 else d


class PreImage(_ClassifierTask):
    """Find x whose features at the layer match those of the image x0."""

    name = "preimage"

    def __init__(self, cfg, image, mask, guide, device):
        super().__init__(cfg, image, mask, guide, device)
        self.f0 = self.probe
        if float(self.f0.pow(2).sum()) == 0:
            raise ConfigError(f"layer '{self.layer or 'output'}' gives all-zero features for this image: "
                              f"choose another layer")

    def data_term(self, out: torch.Tensor) -> torch.Tensor:
        return feature_distance(self._phi(out), self.f0)


class ActMax(_ClassifierTask):
    """Find x that maximises one unit of the layer (a channel's spatial mean, or a logit)."""

    name = "actmax"

    def __init__(self, cfg, image, mask, guide, device):
        super().__init__(cfg, image, mask, guide, device)
        self.unit = cfg.unit
        n = int(unit_values(self.probe).numel())
        self.units = n
        if not 0 <= self.unit < n:
            raise ConfigError(f"unit {self.unit} is out of range: layer '{self.layer or 'output'}' has {n} units "
                              f"(0..{n - 1})")

    def data_term(self, out: torch.Tensor) -> torch.Tensor:
        return -unit_values(self._phi(out))[self.unit]

    @torch.no_grad()
    def all_units(self, x: torch.Tensor) -> np.ndarray:
        return unit_values(self._phi(x)).float().cpu().numpy()


EXPERIMENT_CLASSES: dict[str, type[Task]] = {"preimage": PreImage, "actmax": ActMax}
TASK_CLASSES.update(EXPERIMENT_CLASSES)


def canvas(h: int, w: int) -> np.ndarray:
    """Activation maximisation has no input image: a grey canvas of the size to make."""
    return np.full((h, w, 3), 0.5, np.float32)


def probe_units(clf: Classifier, layer: str | None, h: int, w: int, device="cpu") -> int:
    """The number of units of ``layer`` on an h x w image (one forward pass)."""
    with torch.no_grad():
        x = to_tensor(canvas(h, w), torch.device(device))
        return int(unit_values(clf.features(x, layer)).numel())
