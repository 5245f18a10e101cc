"""The Linux desktop entry (``dip-studio --install-desktop-entry``): DIP Studio in the
application menu with its icon, and as an "Open with" choice for images and projects.

Only on request, only in the user's own data folder ($XDG_DATA_HOME, else
~/.local/share), and removed again by ``--uninstall-desktop-entry``. No Qt, no torch: it
runs before either is imported (main.py).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

APP_ID = "dip-studio"   # the .desktop file's and the icon's name; also QGuiApplication.desktopFileName
MIME_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/bmp", "image/webp")
ICON_SIZE = 256         # resources/icon.png's size, the hicolor folder it goes to


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def installed_paths(home: Path | None = None) -> tuple[Path, Path, Path]:
    """Where the entry, the PNG icon and the SVG icon go: (desktop file, png, svg)."""
    home = home or data_home()
    icons = home / "icons" / "hicolor"
    return (home / "applications" / f"{APP_ID}.desktop",
            icons / f"{ICON_SIZE}x{ICON_SIZE}" / "apps" / f"{APP_ID}.png",
            icons / "scalable" / "apps" / f"{APP_ID}.svg")


def launcher() -> list[str]:
    """The command that started this process, as the menu should repeat it: the bundle's
    executable, the installed ``dip-studio`` script, or ``python main.py`` from a checkout."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.argv[0]).absolute()
    if script.suffix == ".py":
        return [sys.executable, str(script)]
    gui = script.with_name(APP_ID)   # `dip --install-desktop-entry` still registers the GUI script
    return [str(gui if gui.exists() else script)]


def _exec_arg(arg: str) -> str:
    # the Desktop Entry spec: an argument with a reserved character is double-quoted, with
    # " ` $ \ escaped inside; then the file's own string escaping doubles every backslash
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return quoted.replace("\\", "\\\\")


def entry_text(command: list[str]) -> str:
    exec_line = " ".join(_exec_arg(a) for a in command) + " %f"
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=DIP Studio",
        "GenericName=Image Restoration",
        "Comment=Restore a photo with Deep Image Prior: denoise, inpaint, super-resolve",
        f"Exec={exec_line}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Graphics;RasterGraphics;Photography;",
        "MimeType=" + "".join(f"{m};" for m in MIME_TYPES),
        f"StartupWMClass={APP_ID}",
        "",
    ])


def install(command: list[str] | None = None, home: Path | None = None) -> list[Path]:
    """Write the entry and its icons; returns the paths written."""
    from resources import ICON_PNG, ICON_SVG, path

    desktop, png, svg = installed_paths(home)
    for target in (desktop, png, svg):
        target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path(ICON_PNG), png)
    shutil.copyfile(path(ICON_SVG), svg)
    tmp = desktop.with_suffix(".tmp")
    tmp.write_text(entry_text(command or launcher()), encoding="utf-8")
    os.replace(tmp, desktop)
    _refresh(desktop.parent)
    return [desktop, png, svg]


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; returns the paths removed (none: nothing was there)."""
    removed = []
    for target in installed_paths(home):
        if target.exists():
            target.unlink()
            removed.append(target)
    if removed:
        _refresh(installed_paths(home)[0].parent)
    return removed


def _refresh(applications: Path) -> None:
    # menus pick a new entry up by themselves; the MIME cache ("Open with") needs this tool
    tool = shutil.which("update-desktop-database")
    if tool:
        subprocess.run([tool, "-q", str(applications)], check=False, capture_output=True, timeout=30)


def main(flag: str) -> int:
    if sys.platform in ("win32", "darwin"):
        print(f"{flag}: desktop entries are a Linux (freedesktop) thing; nothing to do on this system",
              file=sys.stderr)
        return 2
    try:
        if flag == "--install-desktop-entry":
            for p in install():
                print(f"wrote {p}")
        else:
            removed = uninstall()
            for p in removed:
                print(f"removed {p}")
            if not removed:
                print(f"no DIP Studio desktop entry in {data_home()}")
    except OSError as exc:
        print(f"{flag}: {exc}", file=sys.stderr)
        return 2
    return 0
