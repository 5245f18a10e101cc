"""An unreachable Ray cluster is given up on in one line within seconds (issue 22): --ray
127.0.0.1:1, or RAY_ADDRESS pointing nowhere with --ray auto, printed GCS warnings for
minutes. Its own module: tests/test_ray.py keeps a Ray initialised in this process, which a
RayExecutor would use instead of connecting."""
import time

import numpy as np
import ray
from PIL import Image

from engine import cli
from tests.helpers import smooth_image


def test_an_unreachable_cluster_is_given_up_on_in_one_line(tmp_path, capsys, monkeypatch):
    assert not ray.is_initialized()
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((smooth_image(32, 32) * 255).round().astype(np.uint8)).save(src / "p.png")
    # nothing listens on port 1 here: refused at once
    for ray_arg, env in ((["--ray", "127.0.0.1:1"], None), (["--ray", "auto"], "127.0.0.1:1")):
        if env:
            monkeypatch.setenv("RAY_ADDRESS", env)
        t0 = time.monotonic()
        code = cli.main(["restore", "--task", "denoise", "--input", str(src), "--output", str(tmp_path / "o"),
                         "--iterations", "2", *ray_arg])
        err = capsys.readouterr().err
        assert code == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in err and err.count("\n") == 1
        assert time.monotonic() - t0 < 30
        assert not ray.is_initialized()
