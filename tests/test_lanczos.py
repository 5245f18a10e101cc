import numpy as np
import torch
from PIL import Image

from engine.lanczos import Downsampler, lanczos2_kernel


def _smooth_image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    # bicubic upsampling of random values: a band-limited image like a photo's low frequencies
    chans = [np.asarray(Image.fromarray(small[:, :, c], mode="F").resize((w, h), Image.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(chans, 2), 0, 1)


def _pil_lanczos(img, f):
    h, w = img.shape[:2]
    chans = [np.asarray(Image.fromarray(img[:, :, c], mode="F").resize((w // f, h // f), Image.LANCZOS))
             for c in range(img.shape[2])]
    return np.stack(chans, 2)


def _apply(img, f):
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    return Downsampler(f, img.shape[2])(x)[0].permute(1, 2, 0).numpy()


def test_kernel_is_normalised_symmetric_and_sized():
    for f in (2, 4, 8):
        k = lanczos2_kernel(f)
        assert k.shape == (4 * f, 4 * f)
        assert abs(k.sum() - 1) < 1e-12
        np.testing.assert_allclose(k, k[::-1, ::-1])


def test_output_size_is_exactly_h_over_factor():
    for f in (2, 4, 8):
        y = Downsampler(f, 3)(torch.rand(1, 3, 8 * f, 6 * f))
        assert y.shape == (1, 3, 8, 6)


def test_constant_stays_constant():
    for f in (2, 4, 8):
        y = Downsampler(f, 1)(torch.full((1, 1, 64, 64), 0.37))
        assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-6)


def test_agrees_with_pillow_lanczos():
    img = _smooth_image(96, 96)
    for f in (2, 4):
        ours, pil = _apply(img, f), _pil_lanczos(img, f)
        mse = float(((ours - pil)[2:-2, 2:-2] ** 2).mean())
        psnr = 10 * np.log10(1 / mse)
        # Pillow uses a 3-lobe Lanczos, the paper's operator 2 lobes: close, not equal
        assert psnr > 38, (f, psnr)


def test_is_differentiable_and_not_learned():
    d = Downsampler(4, 3)
    assert list(d.parameters()) == []
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    d(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
