"""A name over 255 bytes in any path flag is one line and exit 2, not "OSError [Errno 36]"
with a traceback (issue 22); inside a batch's list it fails that photo only."""
import pytest

from engine.cli import main
from engine.imageio import save_image
from tests.helpers import smooth_image

LONG = "x" * 300
TINY = ["--set", "channels_down=[8,8]", "--set", "channels_up=[8,8]", "--set", "channels_skip=[2,2]",
        "--set", "input_channels=8", "--iterations", "2", "--device", "cpu", "--quiet"]


@pytest.fixture
def photo(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    save_image(str(d / "p.png"), smooth_image(32, 32))
    return d / "p.png"


@pytest.mark.parametrize("flag", ["--output", "--input", "--mask", "--metrics", "batch --output", "batch --input",
                                  "batch --metrics"])
def test_a_name_over_255_bytes_is_one_line(tmp_path, photo, capsys, flag):
    long = str(tmp_path / LONG)
    args = {"--input": str(photo), "--output": str(tmp_path / "o.png")}
    task = "denoise"
    if flag.startswith("batch"):
        args = {"--input": str(photo.parent), "--output": str(tmp_path / "out")}
        flag = flag.split()[1]
        args[flag] = long + (".jsonl" if flag == "--metrics" else "")
    else:
        if flag == "--mask":
            task = "inpaint"
        args[flag] = long + (".json" if flag == "--metrics" else ".png")
    argv = ["restore", "--task", task, *TINY]
    for k, v in args.items():
        argv += [k, v]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "255" in err and "Traceback" not in err
    assert flag in err


def test_a_long_name_in_a_list_fails_that_photo_only(tmp_path, photo, capsys):
    lst = tmp_path / "list.txt"
    lst.write_text(f"photos/p.png\n{LONG}.png\n")
    code = main(["restore", "--task", "denoise", *TINY, "--input", str(lst), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "1 done" in err and "1 failed" in err and "would be over 255 bytes" in err
    assert "Traceback" not in err
