"""A run that never fits better than flat grey writes nothing, however short (issue 22):
--lr 1e30 --iterations 20 gave NaN every other step, wrote saturated garbage and exited 0."""
import numpy as np

from engine.cli import main
from engine.imageio import save_image
from engine.presets import get_config
from engine.run import Restoration
from tests.helpers import smooth_image

TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "input_channels=8"]


def test_a_learning_rate_of_1e30_writes_nothing_and_says_why(tmp_path, capsys):
    src = tmp_path / "in.png"
    save_image(str(src), smooth_image(32, 32))
    out = tmp_path / "out.png"
    code = main(["restore", "--task", "denoise", "--input", str(src), "--output", str(out), "--lr", "1e30",
                 "--iterations", "20", "--runs", "1", "--device", "cpu", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "did not fit the image" in err and not out.exists()
    assert ": None" not in err and "reached the step limit (20)" in err


def test_a_short_healthy_run_is_not_judged_a_failure():
    cfg = get_config(None, task="denoise", iterations=5, seeds=1, device="cpu", precision="fp32",
                     channels_down=[8, 8], channels_up=[8, 8], channels_skip=[2, 2], input_channels=8)
    run = Restoration(cfg, smooth_image(32, 32))
    for _ in run.steps():
        pass
    assert not run.failed_to_fit and np.isfinite(run.result("auto")).all()
