"""Entry point: no arguments or a path open the desktop app; ``restore`` / ``degrade`` run
the headless command line. Thin on purpose: the logic lives in engine/ and app/."""
from __future__ import annotations

import sys

CLI_COMMANDS = {"restore", "degrade", "-h", "--help"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in CLI_COMMANDS:
        from engine.cli import main as cli_main
        return cli_main(argv) if argv[0] not in ("-h", "--help") else cli_main([])
    if len(argv) > 1:
        print("usage: python main.py [IMAGE]  |  python main.py restore|degrade ...", file=sys.stderr)
        return 2
    from app.main_window import run_app
    return run_app(argv[0] if argv else None)


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


if __name__ == "__main__":
    import signal

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
