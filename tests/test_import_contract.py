"""engine/ must import without Qt (napari-style contract), checked in a fresh interpreter,
and its modules must not import each other in a cycle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_imports_no_qt():
    code = (
        "import sys, pkgutil, importlib, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6', 'app', 'qtpy'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine pulled in: {out.stdout.strip()}"


def test_engine_sources_do_not_mention_qt_imports():
    for path in (ROOT / "engine").rglob("*.py"):
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import ", "from ")):
                assert not any(q in s for q in ("PySide", "PyQt", "pyqtgraph", "from app", "import app")), \
                    f"{path.name}: {s}"


def _engine_import_graph(package: str = "engine") -> dict[str, set[str]]:
    """engine module -> the engine modules it imports, at the top or inside functions (a
    lazy import only hides a cycle until the wrong module is imported first)."""
    files = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        files[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in files.items():
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[:len(base) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                # `from pkg import name` imports pkg.name when name is a module
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_find_cycle_finds_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_engine_has_no_import_cycles():
    graph = _engine_import_graph()
    assert graph["engine.nets.dipnet"] >= {"engine.nets.profile", "engine.nets.common"}  # the graph sees imports
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_app_rooms_import_no_window_and_no_cycle():
    """Rooms take what they use, never the window: nothing in app/ imports main_window (the
    program's start is handed the window's builder by main.py). And no cycle among the app's
    modules, counting imports inside functions (the run's loops included: they feed a sink,
    never the worker)."""
    graph = _engine_import_graph("app")
    assert graph["app.run_view"] >= {"app.session", "app.tile_view"}   # the graph sees imports
    importers = sorted(m for m, deps in graph.items() if "app.main_window" in deps)
    assert importers == [], importers   # main.py hands app.start the window's builder
    assert graph["app.worker"] >= {"app.feed", "app.tile_worker", "app.seed_worker"}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
