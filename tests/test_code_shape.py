"""House rules for the code under lib/: a module stays under 400 lines and a function under 60, so that each can
be read in one sitting. A function may be longer when a ``# long: <why>`` comment on the line above its ``def``
says why."""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(LIB.rglob("*.py"))


def test_modules_stay_under_400_lines() -> None:
    long = {str(p.relative_to(LIB)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules: {long}"


def test_functions_stay_under_60_lines_unless_a_comment_says_why() -> None:
    found = {}
    for path in _sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.end_lineno - node.lineno + 1 <= MAX_FUNCTION_LINES:
                continue
            if first >= 2 and lines[first - 2].strip().startswith("# long:"):
                continue
            found[f"{path.relative_to(LIB)}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    assert found == {}, f"shorten these functions or say why above them (# long: ...): {found}"
