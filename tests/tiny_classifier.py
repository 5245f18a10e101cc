"""A small CNN trained in seconds on synthetic images: the classifier Phi of the pre-image and
activation-maximisation tests and benchmarks (no downloaded weights anywhere).

Four classes of 32 x 32 colour images, each drawn with a random frequency, phase and colours:
horizontal stripes, vertical stripes, a checkerboard, and a smooth blob.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

CLASSES = ("horizontal", "vertical", "checker", "blob")
SIZE = 32


def synthetic_batch(n: int, rng: np.random.Generator, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n x 3 x size x size in [0, 1]) and their labels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, 3, size, size), np.float32)
    labels = rng.integers(0, len(CLASSES), n)
    for i, k in enumerate(labels):
        f = rng.uniform(2.0, 5.0)
        ph = rng.uniform(0, 2 * np.pi)
        if k == 0:
            p = np.sin(2 * np.pi * f * yy + ph)
        elif k == 1:
            p = np.sin(2 * np.pi * f * xx + ph)
        elif k == 2:
            p = np.sign(np.sin(2 * np.pi * f * xx + ph) * np.sin(2 * np.pi * f * yy + ph))
        else:
            cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
            p = 2 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) - 1
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        img = a[:, None, None] + (b - a)[:, None, None] * (0.5 + 0.5 * p)[None]
        images[i] = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)
    return torch.from_numpy(images), torch.from_numpy(labels)


class TinyNet(nn.Module):
    """conv-relu-pool x 3, global average, linear: layers features.0 ... features.7, head."""

    def __init__(self, n_classes: int = len(CLASSES)):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))


def train_tiny(steps: int = 150, seed: int = 0) -> tuple[TinyNet, float]:
    """The trained net and its accuracy on a fresh batch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(steps):
        x, y = synthetic_batch(32, rng)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, y = synthetic_batch(128, rng)
    with torch.no_grad():
        acc = float((net(x).argmax(1) == y).float().mean())
    return net, acc


def save_torchscript(net: nn.Module, path: str, size: int = SIZE) -> str:
    """Save as TorchScript with its input size and class names, as the engine reads them."""
    scripted = torch.jit.script(net)
    scripted.save(path, _extra_files={"input_size": f"{size}x{size}", "classes": "\n".join(CLASSES)})
    return path


def sample_image(kind: int = 0, seed: int = 1, size: int = SIZE) -> np.ndarray:
    """One synthetic image (H x W x 3 float32) of class ``kind``."""
    rng = np.random.default_rng(seed)
    while True:
        x, y = synthetic_batch(1, rng, size)
        if int(y[0]) == kind:
            return x[0].permute(1, 2, 0).numpy().copy()
