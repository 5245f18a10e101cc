"""Entry point: no arguments or a path open the desktop app; ``restore`` / ``degrade`` run
the headless command line. Thin on purpose: the logic lives in engine/ and app/.

``python main.py`` and the installed ``dip`` / ``dip-studio`` scripts all go through
:func:`launch`: the same Ctrl-C note and exit status 130, the same argument handling.
"""
from __future__ import annotations

import os
import sys

CLI_COMMANDS = {"restore", "degrade", "-h", "--help"}
VERSION_FLAGS = {"--version", "-V"}
DESKTOP_FLAGS = {"--install-desktop-entry", "--uninstall-desktop-entry"}
USAGE = ("usage: dip-studio [IMAGE|PROJECT]  |  dip-studio restore|degrade ...  |  dip-studio --version\n"
         "       dip-studio --install-desktop-entry | --uninstall-desktop-entry   (Linux menus)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # before any import of Qt or torch: these answer without a display, in a blink
    if argv[:1] and argv[0] in VERSION_FLAGS and len(argv) == 1:
        from app.version import version
        print(f"DIP Studio {version()}")
        return 0
    if argv[:1] and argv[0] in DESKTOP_FLAGS and len(argv) == 1:
        from app.desktop_entry import main as desktop_main
        return desktop_main(argv[0])
    if argv and argv[0] in CLI_COMMANDS:
        from engine.cli import main as cli_main
        return cli_main(argv) if argv[0] not in ("-h", "--help") else cli_main([])
    # an unknown option is a mistake, not an image path (a file named like one: ./-x.png)
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(USAGE, file=sys.stderr)
        return 2
    from app.main_window import build_window
    from app.start import run_app
    return run_app(build_window, argv[0] if argv else None)


def _by_ctrl_c(exc: BaseException) -> bool:
    """A Ctrl-C during imports can surface as another exception (e.g. a RuntimeError from
    ``__set_name__``) with the KeyboardInterrupt as its cause."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 50:
        if isinstance(e, KeyboardInterrupt):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return _SIGINT_SEEN


_SIGINT_SEEN = False


def _on_sigint(signum, frame):  # noqa: ARG001 - the default behaviour, remembered
    global _SIGINT_SEEN
    _SIGINT_SEEN = True
    raise KeyboardInterrupt


def _interrupted() -> int:
    # Ctrl-C before the CLI or the app handle it themselves (e.g. during the first seconds
    # of imports): a one-line note, not a traceback; nothing has been written yet
    try:
        sys.stderr.write("\ninterrupted\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - stderr may be closed
        pass
    return 130


def _own_packages_first() -> None:
    """Installed from the wheel this file is dip_studio/main.py, with app/, engine/ and
    resources/ beside it (pyproject's package-dir): the only name the project takes in
    site-packages. The code imports ``engine.`` / ``app.`` absolutely, so this process (and
    the local Ray's workers it starts, through PYTHONPATH) looks in that folder first. From
    a checkout, ``python main.py`` has the folder as sys.path[0] already and nothing changes;
    run another way (``runpy.run_path`` from elsewhere) it is added, as the editable install
    no longer puts a top-level ``engine`` on every path."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)


def launch() -> None:
    """Run :func:`main` as a program and exit with its status; Ctrl-C at any point is one
    line and status 130. ``python main.py`` and every installed script start here."""
    import signal

    _own_packages_first()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - only a Ctrl-C is turned into exit 130
        if not _by_ctrl_c(exc):
            raise
        code = _interrupted()
    sys.exit(code)


if __name__ == "__main__":
    launch()
