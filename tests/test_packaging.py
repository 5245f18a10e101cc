"""The app as installed: the wheel's layout (everything under dip_studio/), its resources
found through importlib.resources, the entry points' shared start (launch: --version
without Qt or torch, Ctrl-C), the icon, Help > About and the Linux desktop entry.

The wheel itself is built and installed into a fresh environment by .ci/run (too slow for
the suite); here the installed layout is imitated by a ``dip_studio`` link to the checkout.
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

import main
import resources
from app import desktop_entry
from app.settings_store import tile_parts_directory
from app.version import version
from tests.qt_helpers import answers, window  # noqa: F401 - fixtures
from tests.test_hostile_cli import interrupted_restore

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
HEAVY = ("torch", "PySide6", "shiboken6", "numpy", "engine", "pyqtgraph")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def _installed_layout(tmp_path: Path) -> Path:
    """A folder holding ``dip_studio`` -> the checkout: what site-packages holds after
    installing the wheel (pyproject's package-dir maps dip_studio to the project root)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "dip_studio").symlink_to(ROOT, target_is_directory=True)
    return site


# ------------------------------------------------------------------ --version and arguments

@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_without_importing_qt_or_torch(flag):
    code = ("import sys, main; rc = main.main([%r]); "
            "print('loaded:', sorted(m for m in %r if m in sys.modules)); sys.exit(rc)" % (flag, HEAVY))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    first, loaded = out.stdout.splitlines()
    assert first == f"DIP Studio {version()}"
    assert loaded == "loaded: []"


def test_version_of_the_script_needs_no_display(tmp_path):
    # `python main.py -V` with no display at all: before, a path for the GUI and Qt's abort (134)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "-V"], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, f"DIP Studio {version()}"), out.stderr


def test_the_version_is_the_distributions():
    from importlib import metadata

    assert version() == metadata.version("dip-studio") == PYPROJECT["project"]["version"]


def test_an_unknown_option_is_a_usage_error_not_an_image(capsys):
    assert main.main(["--frobnicate"]) == 2
    assert main.main(["--version", "extra"]) == 2
    assert "usage:" in capsys.readouterr().err


# ------------------------------------------------------------------ the wheel's layout

def test_every_entry_point_starts_through_launch():
    scripts = {**PYPROJECT["project"]["scripts"], **PYPROJECT["project"]["gui-scripts"]}
    assert scripts == {"dip": "dip_studio.main:launch", "dip-studio": "dip_studio.main:launch"}


def test_the_wheel_installs_one_name_and_every_package_of_the_checkout():
    setup = PYPROJECT["tool"]["setuptools"]
    assert setup["package-dir"] == {"dip_studio": "."}
    listed = set(setup["packages"])
    assert {p.split(".")[0] for p in listed} == {"dip_studio"}
    on_disk = {"dip_studio." + ".".join(init.parent.relative_to(ROOT).parts)
               for top in ("app", "engine", "resources") for init in (ROOT / top).rglob("__init__.py")}
    assert on_disk | {"dip_studio"} == listed


def test_every_bundled_resource_is_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["dip_studio.resources"]
    names = [resources.SAMPLE_NOISY, resources.SAMPLE_CLEAN, resources.SAMPLE_TEXT, resources.SAMPLE_TEXT_MASK,
             resources.ICON_PNG, resources.ICON_SVG]
    for name in names:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
        assert resources.path(name).is_file(), name
        assert resources.path(name) == Path(str(files("resources") / name))


def test_the_app_takes_its_samples_from_the_resources_package():
    from app.main_window import SAMPLE_IMAGE, SAMPLE_REFERENCE

    assert SAMPLE_IMAGE == resources.path(resources.SAMPLE_NOISY) and SAMPLE_IMAGE.is_file()
    assert SAMPLE_REFERENCE == resources.path(resources.SAMPLE_CLEAN) and SAMPLE_REFERENCE.is_file()


def test_installed_layout_finds_its_own_packages_and_samples(tmp_path):
    site = _installed_layout(tmp_path)
    code = ("import sys; import dip_studio.main as m; m._own_packages_first(); "
            "import engine, app, resources, os; "
            "print(os.path.dirname(engine.__file__)); print(resources.path(resources.SAMPLE_NOISY)); "
            "print(os.environ['PYTHONPATH'].split(os.pathsep)[0])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(PYTHONPATH=str(site)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    engine_dir, sample, pythonpath = out.stdout.splitlines()
    here = site / "dip_studio"
    assert Path(engine_dir) == here / "engine"
    assert Path(sample) == here / "resources" / "sample_noisy.png"
    assert Path(pythonpath) == here     # the local Ray's workers find engine.units the same way


def test_the_installed_scripts_ctrl_c_is_one_line_and_exit_130(tmp_path):
    """`dip` calls dip_studio.main:launch, the same start as `python main.py`."""
    site = _installed_layout(tmp_path)
    # 'up' once the script's module is imported: the signal lands in launch()'s imports or run
    code = ("import sys; sys.argv = ['dip', *sys.argv[1:]]; from dip_studio.main import launch; "
            "print('up', flush=True); launch()")
    returncode, err = interrupted_restore(code, [], tmp_path, 1.0, env=_env(PYTHONPATH=str(site)))
    assert returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted"), err
    assert not (tmp_path / "out.png").exists()


# ------------------------------------------------------------------ the window: sample, icon, About

def test_the_app_opens_the_sample_and_quits_by_itself(tmp_path):
    env = _env(QT_QPA_PLATFORM="offscreen", DIP_STUDIO_QUIT_AFTER="0", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "DIP Studio: window shown, sample_noisy.png 256x192" in out.stdout.splitlines(), out.stdout


def test_the_app_icon_is_drawn_and_readable(qapp):
    from app.start import app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert icon.pixmap(256, 256).width() == 256


def test_help_about_shows_versions_device_and_where_files_live(window):
    import PySide6
    import torch
    from PySide6.QtCore import QSettings, qVersion
    from PySide6.QtGui import QGuiApplication

    assert window.act_about in window.menuBar().actions()[-1].menu().actions()
    dialog = window.show_about()
    rows = dict(dialog.rows)
    assert rows["Version"] == version()
    assert rows["PyTorch"].startswith(torch.__version__)
    assert rows["Qt"] == f"{qVersion()} (PySide6 {PySide6.__version__})"
    assert rows["Device"] == window.device_text() and rows["Device"].startswith("cpu (")
    assert rows["Settings"] == QSettings().fileName()
    assert rows["Autosaves"] == str(window.autosave.directory)
    assert rows["Finished tiles"] == str(tile_parts_directory())
    dialog.copy()
    assert QGuiApplication.clipboard().text().splitlines()[0] == f"Version: {version()}"
    dialog.close()


# ------------------------------------------------------------------ the Linux desktop entry

def test_desktop_entry_installs_and_uninstalls(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "bin" / "dip-studio")])
    assert main.main(["--install-desktop-entry"]) == 0
    entry, png, svg = desktop_entry.installed_paths()
    assert entry == tmp_path / "data" / "applications" / "dip-studio.desktop"
    text = entry.read_text(encoding="utf-8")
    assert text.startswith("[Desktop Entry]\n")
    assert f"Exec={tmp_path / 'bin' / 'dip-studio'} %f\n" in text
    assert "Icon=dip-studio\n" in text and "MimeType=image/png;" in text
    assert png.read_bytes() == resources.path(resources.ICON_PNG).read_bytes()
    assert svg.read_bytes() == resources.path(resources.ICON_SVG).read_bytes()
    assert str(entry) in capsys.readouterr().out

    assert main.main(["--uninstall-desktop-entry"]) == 0
    assert not any(p.exists() for p in (entry, png, svg))
    assert main.main(["--uninstall-desktop-entry"]) == 0
    assert "no DIP Studio desktop entry" in capsys.readouterr().out


def test_desktop_entry_quotes_a_command_with_spaces():
    text = desktop_entry.entry_text(["/opt/my apps/python", "/home/a b/main.py"])
    # the spec's quoting, then the file's string escaping (none needed here)
    assert 'Exec="/opt/my apps/python" "/home/a b/main.py" %f\n' in text
    assert desktop_entry._exec_arg('/x/$HOME"') == '"/x/\\\\$HOME\\\\""'


def test_desktop_entry_from_a_checkout_repeats_python_main_py(monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(ROOT / "main.py")])
    assert desktop_entry.launcher() == [sys.executable, str(ROOT / "main.py")]
