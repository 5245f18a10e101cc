"""A classifier that returns the wrong thing is one line before the first step (issue 22):
a tuple, a dict, an integer or a detached tensor, NaN on the probe image; NaN later in the
run stops it at that step with the reason (it used to end "diverged: lower the learning rate"
or "the run has not produced an output yet")."""
from typing import Dict, Tuple

import pytest
import torch
import torch.nn as nn

from engine.cli import main
from engine.imageio import save_image
from tests.helpers import smooth_image


class _Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)


class Tup(_Base):
    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        return y, y


class Dct(_Base):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"out": self.conv(x).mean(dim=(2, 3))}


class Int(_Base):
    def forward(self, x):
        return (self.conv(x).mean(dim=(2, 3)) * 100).long()


class Detached(_Base):
    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)).detach()


class NaN(_Base):
    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)) * float("nan")


class LateNaN(_Base):
    """Fine on the probe, NaN from its fourth call on."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        y = self.conv(x).mean(dim=(2, 3))
        return y * float("nan") if self.calls > 3 else y


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "in.png"
    save_image(str(p), smooth_image(32, 32))
    return str(p)


def _script(tmp_path, cls):
    path = tmp_path / f"{cls.__name__}.pt"
    torch.jit.save(torch.jit.script(cls()), str(path))
    return str(path)


@pytest.mark.parametrize("cls, words", [
    (Tup, "returned a tuple of 2, not a tensor"), (Dct, "returned a dict of 1, not a tensor"),
    (Int, "returned a tensor of int64"), (Detached, "detached from its input"),
    (NaN, "returned NaN or infinite values on the input image"),
])
def test_a_model_returning_the_wrong_thing_is_one_line_before_the_first_step(tmp_path, image, capsys, cls, words):
    out = tmp_path / "out.png"
    code = main(["restore", "--task", "preimage", "--classifier", _script(tmp_path, cls), "--input", image,
                 "--output", str(out), "--iterations", "30"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert [x for x in err.strip().splitlines() if not x.startswith("step ")] == [err.strip().splitlines()[-1]]
    assert "step 1/" not in err and not out.exists()


def test_actmax_checks_the_model_on_its_canvas(tmp_path, capsys):
    code = main(["restore", "--task", "actmax", "--classifier", _script(tmp_path, NaN), "--unit", "1",
                 "--size", "32x32", "--output", str(tmp_path / "o.png"), "--iterations", "5"])
    assert code == 2 and "on a grey canvas" in capsys.readouterr().err


def test_nan_in_the_run_stops_at_that_step_with_the_reason(tmp_path, image, capsys):
    out = tmp_path / "out.png"
    code = main(["restore", "--task", "preimage", "--classifier", _script(tmp_path, LateNaN), "--input", image,
                 "--output", str(out), "--iterations", "40", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "gave NaN or infinite values" in err and "diverged" not in err and not out.exists()
