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


if __name__ == "__main__":
    sys.exit(main())
