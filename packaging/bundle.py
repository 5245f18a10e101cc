"""Build DIP Studio as a one-folder app (PyInstaller) and check that it starts.

    python -m venv /tmp/bundle-venv && . /tmp/bundle-venv/bin/activate
    pip install torch==2.13.0 && pip install . pyinstaller     # the torch build you want to ship;
                                                               # `.`: the version the bundle reports
    python packaging/bundle.py                 # -> dist/dip-studio/ (its size, then the smoke check)
    python packaging/bundle.py --check-only    # the smoke check of a bundle built before

The folder holds its own Python, torch, Qt, the app and its samples: copy it anywhere and
run ``dist/dip-studio/dip-studio``. It is built for the machine's OS and the torch that is
installed (a CUDA torch makes a CUDA bundle, several GB). Nothing of it is committed
(dist/ and build/ are ignored).

The smoke check runs the bundle three ways, each from another directory, and fails loudly:
``--version``; ``restore`` of the bundled sample for a few steps; the window, offscreen,
with the sample open, quitting by itself (DIP_STUDIO_QUIT_AFTER) and saying what it shows.
The window's start is timed (the cold start reported in the README).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "dip-studio"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
# optional imports of the app's libraries that the app never makes: kept out of the bundle
EXCLUDE = ("ray", "skimage", "bm3d", "scipy", "matplotlib", "pytest", "IPython", "tkinter", "PyQt5", "PyQt6",
           "PySide2", "torchvision", "tensorboard", "triton")
# the wheel's package data (pyproject): the bundle carries the same files
RESOURCE_FILES = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "tool"]["setuptools"]["package-data"]["dip_studio.resources"]
# what torch's wheel ships for its own C++ tests (gtest binaries, protoc; 130 MB of 890): never
# run by the app. torch/bin/torch_shm_manager (shared memory between processes) stays.
PRUNE = ("torch/test", "torch/bin/*Test", "torch/bin/test_*", "torch/bin/protoc*", "torch/bin/*.ptl")
EXPECTED_WINDOW = "DIP Studio: window shown, sample_noisy.png 256x192"


def build() -> Path:
    try:
        import PyInstaller.__main__ as pyinstaller
    except ImportError:
        sys.exit("PyInstaller is not installed here: pip install pyinstaller")
    args = [str(ROOT / "main.py"), "--name", NAME, "--onedir", "--noconfirm", "--clean",
            "--distpath", str(DIST), "--workpath", str(WORK), "--specpath", str(WORK),
            "--paths", str(ROOT),
            "--copy-metadata", "dip-studio",   # --version and Help > About read the installed version
            # the samples and the icon, where importlib.resources finds them (resources/__init__.py)
            *[a for pattern in RESOURCE_FILES for a in ("--add-data", f"{ROOT / 'resources' / pattern}:resources")],
            "--icon", str(ROOT / "resources" / "icon.png"),   # the executable's icon (Windows, macOS)
            *[a for m in EXCLUDE for a in ("--exclude-module", m)]]
    pyinstaller.run(args)
    folder = DIST / NAME
    internal = folder / "_internal"
    for pattern in PRUNE:
        for p in internal.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    return folder


def _run(cmd: list[str], env: dict | None = None, timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    with tempfile.TemporaryDirectory(prefix="dip-bundle-") as elsewhere:
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"bundle check failed: {' '.join(cmd)} -> exit {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out, seconds


def check(folder: Path) -> dict:
    exe = folder / (NAME + (".exe" if os.name == "nt" else ""))
    if not exe.exists():
        sys.exit(f"no bundle at {folder}: build it first (python packaging/bundle.py)")
    samples = [p for p in folder.rglob("sample_noisy.png")]
    if not samples:
        sys.exit(f"the bundle has no resources/sample_noisy.png under {folder}")
    home = Path(tempfile.mkdtemp(prefix="dip-bundle-home-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))

    version, _ = _run([str(exe), "--version"], env)
    print(version.stdout.strip())
    with tempfile.TemporaryDirectory(prefix="dip-bundle-out-") as out_dir:
        out = Path(out_dir) / "restored.png"
        _run([str(exe), "restore", "--task", "denoise", "--input", str(samples[0]), "--output", str(out),
              "--iterations", "5", "--runs", "1", "--device", "cpu", "--quiet"], env)
        if not out.is_file():
            sys.exit("bundle check failed: restore wrote no file")
        print(f"restore of the bundled sample: wrote {out.stat().st_size} bytes")
    window, seconds = _run([str(exe)], {**env, "QT_QPA_PLATFORM": "offscreen", "DIP_STUDIO_QUIT_AFTER": "0"})
    if EXPECTED_WINDOW not in window.stdout.splitlines():
        sys.exit(f"bundle check failed: the window did not show the sample\n{window.stdout}\n{window.stderr}")
    print(f"{EXPECTED_WINDOW} (start to quit: {seconds:.1f} s)")
    shutil.rmtree(home, ignore_errors=True)
    return {"seconds": seconds}


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-only", action="store_true", help="check the bundle in dist/ without building")
    args = parser.parse_args()
    t0 = time.perf_counter()
    folder = DIST / NAME if args.check_only else build()
    if not args.check_only:
        print(f"built {folder} in {time.perf_counter() - t0:.0f} s: {size_mb(folder):.0f} MB")
    check(folder)
    print("bundle OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
