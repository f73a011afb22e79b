"""House rules that ruff and import-linter do not check (both run in `make lint`):
no module outside digitnet/cli imports click, no function over 60 lines and no module over 400 without a
reason written beside it, and every `noqa` says why."""
import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "digitnet"
SOURCES = sorted(p for folder in ("digitnet", "tests", "scripts", "bench") for p in (REPO / folder).rglob("*.py"))
MAX_FUNCTION_LINES, MAX_MODULE_LINES = 60, 400  # lines of code: docstrings (the API reference's text) do not count
# A reason beside a long function: a comment on its def line or the line above it that starts "long:".
LONG_REASON = re.compile(r"#\s*long:\s*\S")


def relative(path):
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name


def imported_roots(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", [p for p in SOURCES if p.is_relative_to(PACKAGE)], ids=relative)
def test_only_the_command_line_imports_click(path):
    if path.is_relative_to(PACKAGE / "cli"):
        return
    assert "click" not in set(imported_roots(ast.parse(path.read_text()))), \
        f"{relative(path)} imports click: command-line code belongs in digitnet/cli"


def docstring_lines(node):
    """How many lines the docstring of a module, class or function takes (0 without one)."""
    first = node.body[0] if getattr(node, "body", None) else None
    is_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
        and isinstance(first.value.value, str)
    return first.end_lineno - first.lineno + 1 if is_doc else 0


def code_lines(tree, text):
    """The module's lines less every docstring in it."""
    docs = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return text.count("\n") - sum(docstring_lines(n) for n in ast.walk(tree) if isinstance(n, docs))


def long_functions(path):
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1 - docstring_lines(node)
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            beside = " ".join(lines[max(start - 2, 0):node.lineno])
            if length > MAX_FUNCTION_LINES and not LONG_REASON.search(beside):
                yield f"{relative(path)}:{node.lineno} {node.name}() is {length} lines"


def test_no_function_is_over_60_lines_without_a_reason():
    found = [f for path in SOURCES for f in long_functions(path)]
    assert not found, "split these, or write `# long: why` beside the def:\n" + "\n".join(found)


def test_no_module_is_over_400_lines_without_a_reason():
    found = []
    for path in SOURCES:
        text = path.read_text()
        if not path.is_relative_to(PACKAGE) or LONG_REASON.search(text[:2000]):
            continue
        if (length := code_lines(ast.parse(text), text)) > MAX_MODULE_LINES:
            found.append(f"{relative(path)}: {length} lines of code")
    assert not found, "split these, or say `# long: why` near the top:\n" + "\n".join(found)


NOQA = re.compile(r"#\s*noqa(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)$")


def bare_noqas(path):
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = NOQA.search(line)
        if match and not re.search(r"[A-Za-z]{3}", match.group("rest")):
            yield f"{relative(path)}:{number}: {line.strip()}"


def test_every_noqa_says_why():
    bare = [b for path in SOURCES if path.name != "test_style.py" for b in bare_noqas(path)]
    assert not bare, "give each noqa a reason after it, e.g. `# noqa: E402  (sys.path is set above)`:\n" + \
        "\n".join(bare)


def test_the_checks_see_a_long_function_and_a_bare_noqa(tmp_path):
    """The rules above catch what they are for, and let a written reason through."""
    sample = tmp_path / "sample.py"
    body = "    x = 1\n" * 61
    sample.write_text(f"def f():\n{body}import os  # noqa: F401\n")
    assert [f.split(" ", 1)[1] for f in long_functions(sample)] == ["f() is 62 lines"]
    assert list(bare_noqas(sample)) == ["sample.py:63: import os  # noqa: F401"]
    sample.write_text(f"# long: one table, read top to bottom\ndef f():\n{body}import os  # noqa: F401  (for a test)\n")
    assert list(long_functions(sample)) == [] and list(bare_noqas(sample)) == []
    doc = '    """' + "A docstring line.\n" * 30 + '    """\n'
    sample.write_text(f"def f():\n{doc}{body[:10 * 10]}")  # 32 lines of docstring, 10 of code
    assert list(long_functions(sample)) == []
    assert code_lines(ast.parse(sample.read_text()), sample.read_text()) == 11
