import torch

from engine.earlystop import WindowedVariance


def test_variance_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    wv = WindowedVariance(5, 3, 8, 8, budget_bytes=10**8, device=torch.device("cpu"))
    frames = [torch.rand(1, 3, 8, 8, generator=g) for _ in range(23)]
    for i, f in enumerate(frames):
        v = wv.update(f)
        if i < 4:
            assert v is None
        else:
            win = torch.stack([x[0] for x in frames[i - 4:i + 1]])
            expect = win.var(0, unbiased=False).mean()
            assert torch.allclose(v, expect, atol=1e-6)


def test_minimum_where_outputs_settle_then_drift():
    wv = WindowedVariance(4, 1, 4, 4, budget_bytes=10**8, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    # noisy early, calm in the middle, noisy again (fitting noise): minimum in the calm part
    amp = [1.0] * 10 + [0.01] * 10 + [1.0] * 10
    vals = []
    for a in amp:
        v = wv.update(0.5 + a * 0.1 * torch.randn(1, 1, 4, 4, generator=g))
        vals.append(float("inf") if v is None else float(v))
    best = min(range(len(vals)), key=vals.__getitem__)
    assert 13 <= best <= 19


def test_budget_downsamples_the_window():
    wv = WindowedVariance(100, 3, 1000, 1000, budget_bytes=50 * 2**20, device=torch.device("cpu"))
    assert wv.factor > 1
    assert wv.nbytes <= 60 * 2**20
    assert wv.update(torch.rand(1, 3, 1000, 1000)) is None
