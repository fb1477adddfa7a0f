"""The house rules the linters cannot say: small functions in the runtime, tests that mirror it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edge_app"
TESTS = Path(__file__).resolve().parent
#: what runs on the kiosk (tools/ and sim/ are developer tools, held to ruff's complexity limit only)
RUNTIME = ("lane", "perception", "checkout", "devices", "store_link")
MAX_LINES = 60


def runtime_files() -> list[Path]:
    files = [PACKAGE / "events.py", PACKAGE / "config.py"]
    for part in RUNTIME:
        files += sorted((PACKAGE / part).rglob("*.py"))
    return files


def test_no_runtime_function_is_longer_than_a_screen():
    long = []
    for path in runtime_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_LINES:
                    long.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} "
                        "lines)"
                    )
    assert not long, "split these: " + ", ".join(long)


def test_every_package_has_its_tests_folder():
    packages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    assert sorted(packages) == sorted([*RUNTIME, "tools", "sim"])
    missing = [name for name in packages if not (TESTS / name / "__init__.py").exists()]
    assert not missing, f"tests/ should mirror the package; no tests/<name>/ for {missing}"
