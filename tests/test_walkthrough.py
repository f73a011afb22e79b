"""docs/walkthrough.md runs as written, and docs/api.md documents the public API as it is.

The walkthrough's ```python blocks run in order in one namespace; an ```output block right after one
is what it must print (doctest rules: "..." matches anything, runs of whitespace compare equal).
"""
import ast
import contextlib
import doctest
import importlib
import inspect
import io
import re
import traceback
from pathlib import Path

import numpy as np
import pytest

import digitnet
import digitnet.data
import digitnet.layer_naive

DOCS = Path(__file__).resolve().parents[1] / "docs"
WALKTHROUGH = DOCS / "walkthrough.md"
API = DOCS / "api.md"

PUBLIC_MODULES = {"digitnet": digitnet, "digitnet.data": digitnet.data, "digitnet.layer_naive": digitnet.layer_naive}


def fenced_blocks(text):
    """[(info string, source, line number of the opening fence, text between this block and the previous one)]."""
    blocks, lines = [], text.splitlines()
    i, last_end = 0, 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        blocks.append((m.group(1), "\n".join(lines[start + 1:i]) + "\n", start + 1,
                       "\n".join(lines[last_end:start])))
        i += 1
        last_end = i
    return blocks


def headings(text):
    """Heading texts of a Markdown page, skipping fenced code (a '# comment' there is no heading)."""
    out, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            out.append(m.group(1))
    return out


def github_anchor(heading):
    """The id GitHub gives a heading: lower case, punctuation dropped (not - or _), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text):
    """Every anchor on a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen, out = {}, set()
    for h in headings(text):
        base = github_anchor(h)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def links(text, page):
    """(target page, anchor) of every Markdown link to an anchor on api.md or walkthrough.md."""
    for target, anchor in re.findall(r"\]\(((?:api|walkthrough)\.md)?#([^)\s]+)\)", text):
        yield target or page, anchor


# --- the walkthrough runs ---------------------------------------------------------------------

@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """Nothing the walkthrough does may touch the user's cache, the network or the repo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")
    saved = np.get_printoptions()
    yield
    np.set_printoptions(**saved)  # the walkthrough sets its own


def test_every_python_block_runs_in_order_and_prints_what_the_page_shows(docs_env):
    blocks = fenced_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    python = [b for b in blocks if b[0] == "python"]
    assert len(python) >= 10, "the walkthrough lost its code"
    namespace = {"__name__": "walkthrough"}
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    number = 0
    for k, (info, source, line, _) in enumerate(blocks):
        if info != "python":
            continue
        number += 1
        where = f"walkthrough.md python block {number} (line {line})"
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(source, where, "exec"), namespace)
        except Exception:
            pytest.fail(f"{where} failed:\n{source}\n{traceback.format_exc()}", pytrace=False)
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        if following and following[0] == "output" and not following[3].strip():
            want, got = following[1], printed.getvalue()
            if not checker.check_output(want, got, flags):
                pytest.fail(f"{where} printed something else than the page shows:\n{source}\n"
                            + checker.output_difference(doctest.Example(source, want), got, flags), pytrace=False)


def test_output_blocks_follow_python_blocks():
    blocks = fenced_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    for k, (info, _, line, between) in enumerate(blocks):
        if info == "output":
            assert k > 0 and blocks[k - 1][0] == "python" and not between.strip(), \
                f"the output block at line {line} must come straight after a python block"


# --- the links resolve ------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["walkthrough.md", "api.md"])
def test_every_anchor_link_resolves(page):
    targets = {name: anchors((DOCS / name).read_text(encoding="utf-8")) for name in ("walkthrough.md", "api.md")}
    found = list(links((DOCS / page).read_text(encoding="utf-8"), page))
    assert found
    broken = [f"{target}#{anchor}" for target, anchor in found if anchor not in targets[target]]
    assert not broken, f"{page} links to headings that do not exist: {broken}"


def test_the_walkthrough_links_every_digitnet_name_it_imports():
    text = WALKTHROUGH.read_text(encoding="utf-8")
    api_anchor = {h.split()[0]: github_anchor(h) for h in headings(API.read_text(encoding="utf-8"))}
    imported = set()
    for info, source, _, _ in fenced_blocks(text):
        if info == "python":
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ImportFrom) and node.module.startswith("digitnet"):
                    imported.update(alias.name for alias in node.names)
    assert {"MulLayer", "Affine", "TwoLayerNet", "train", "load_sample"} <= imported
    unlinked = sorted(name for name in imported if f"](api.md#{api_anchor.get(name)})" not in text)
    assert not unlinked, f"walkthrough.md uses these without linking their api.md entry: {unlinked}"


# --- api.md documents the public API ----------------------------------------------------------

def public_names():
    return [(module_name, name) for module_name, module in PUBLIC_MODULES.items() for name in module.__all__]


def test_every_public_name_has_a_heading():
    first_words = {h.split()[0] for h in headings(API.read_text(encoding="utf-8"))}
    missing = [f"{module}.{name}" for module, name in public_names() if name not in first_words]
    assert not missing, f"docs/api.md has no heading for {missing}"


def resolve(dotted):
    """digitnet.train -> the function (an attribute wins over a submodule of the same name)."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(".".join(parts[:i + 1]))
    return obj


def documented_signatures():
    """{dotted name: signature source} from api.md's one-signature python blocks."""
    out = {}
    for info, source, _line, _ in fenced_blocks(API.read_text(encoding="utf-8")):
        if info == "python" and source.startswith("digitnet."):
            name, params = source.split("(", 1)
            out[name.strip()] = "(" + params.strip()
    return out


def parameters_of_doc(params):
    """[(name, kind, default)] from a signature's source, defaults evaluated with np and numpy at hand."""
    args = ast.parse(f"def f{params}: pass").body[0].args
    env = {"np": np, "numpy": np}
    value = lambda node: eval(compile(ast.Expression(node), "api.md", "eval"), env)
    P = inspect.Parameter
    out = [(a.arg, P.POSITIONAL_ONLY) for a in args.posonlyargs] + [(a.arg, P.POSITIONAL_OR_KEYWORD) for a in args.args]
    defaults = [P.empty] * (len(out) - len(args.defaults)) + [value(d) for d in args.defaults]
    out = [(n, k, d) for (n, k), d in zip(out, defaults)]
    if args.vararg:
        out.append((args.vararg.arg, P.VAR_POSITIONAL, P.empty))
    out += [(a.arg, P.KEYWORD_ONLY, P.empty if d is None else value(d))
            for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        out.append((args.kwarg.arg, P.VAR_KEYWORD, P.empty))
    return out


def test_every_public_callable_has_its_signature_documented():
    documented = documented_signatures()
    missing = [f"{module}.{name}" for module, name in public_names()
               if not (isinstance(getattr(PUBLIC_MODULES[module], name), type)
                       and issubclass(getattr(PUBLIC_MODULES[module], name), Exception))
               and f"{module}.{name}" not in documented]
    assert not missing, f"docs/api.md gives no signature for {missing}"


def test_documented_signatures_match_the_code():
    wrong = []
    for name, params in documented_signatures().items():
        actual = [(p.name, p.kind, p.default) for p in inspect.signature(resolve(name)).parameters.values()]
        if parameters_of_doc(params) != actual:
            wrong.append(f"{name}{params} but the code has {name}{inspect.signature(resolve(name))}")
    assert not wrong, "docs/api.md is out of date:\n" + "\n".join(wrong)


def test_anchors_are_computed_as_github_does():
    assert github_anchor("Affine") == "affine"
    assert github_anchor("softmax (function)") == "softmax-function"
    assert github_anchor("4. The gradient check: is backprop right?") == "4-the-gradient-check-is-backprop-right"
    assert github_anchor("digitnet.data") == "digitnetdata"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


# --- the README's shell commands -------------------------------------------------------------
# They must run as written on a fresh clone, offline, with no ../shared beside it. Running them all
# takes minutes (CI's wheel check and the fresh-clone check do); here each is checked for what breaks
# a command before it starts: an option, value or argument digitnet's parser refuses, a make target,
# extra or script that does not exist, a file from the clone that is not there, a path to ../shared.

REPO = DOCS.parent


def readme_commands():
    """(line number, words) for every command in the README's ```bash blocks."""
    import shlex

    commands = []
    for info, source, line, _ in fenced_blocks((REPO / "README.md").read_text()):
        if info != "bash":
            continue
        for offset, text in enumerate(source.splitlines(), start=1):
            words = shlex.split(text, comments=True)
            if words:
                commands.append((line + offset, words))
    return commands


def check_digitnet_command(words):
    """Parse `digitnet ...` as click does when it runs it, without running it; return the problem, or None."""
    import warnings

    import click

    from digitnet.cli import main

    if "--help" in words or "-h" in words:
        return None
    try:
        parent = main.make_context("digitnet", words[1:])
        with warnings.catch_warnings():  # click 8.2+ keeps the command name apart, deprecated for 9.0
            warnings.simplefilter("ignore", DeprecationWarning)
            tokens = [*getattr(parent, "protected_args", []), *parent.args]
        name, command, args = main.resolve_command(parent, tokens)
        command.make_context(name, args, parent=parent)
    except click.ClickException as e:
        return e.format_message()
    return None


def test_readme_commands_would_start():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    commands = readme_commands()
    assert len(commands) >= 8 and any(w[:2] == ["make", "train"] for _, w in commands)
    wrong = []
    for line, words in commands:
        where = f"README.md:{line}: {' '.join(words)}"
        if any("../shared" in w for w in words):
            wrong.append(f"{where}: a user's clone has no ../shared")
        if words[0] == "make":
            wrong += [f"{where}: no make target {t!r}" for t in words[1:] if "=" not in t and t not in targets]
        elif words[0] == "pip":
            named = {e for w in words for e in re.findall(r"\[([\w,-]+)\]", w) for e in e.split(",")}
            wrong += [f"{where}: no extra {e!r} in pyproject.toml" for e in named - extras]
        elif words[0] == "digitnet":
            problem = check_digitnet_command(words)
            if problem:
                wrong.append(f"{where}: {problem}")
        elif words[0] in ("python", "python3") and words[1].endswith(".py") and not (REPO / words[1]).is_file():
            wrong.append(f"{where}: no {words[1]}")
        # Files a command reads from the clone itself must be in it.
        wrong += [f"{where}: no {w} in the clone" for w in words
                  if re.match(r"(tests|docs|scripts|bench)/", w) and not (REPO / w).exists()]
    assert not wrong, "\n".join(wrong)


def test_the_readmes_predict_example_prints_what_it_shows(tmp_path):
    """The README's Predict section shows what its command prints for the model of its Train section's command
    (`--seed 0`: the same weights, bit for bit). Its figures had gone stale (a review)."""
    import os
    import subprocess
    import sys

    blocks = [(info, source) for info, source, _, _ in fenced_blocks((REPO / "README.md").read_text())]
    train = next(source for info, source in blocks if source.startswith("digitnet train --offline --seed 0"))
    at = next(i for i, (_, source) in enumerate(blocks) if source.startswith("digitnet predict model.npz"))
    predict, shown = blocks[at][1], blocks[at + 1][1]
    env = dict(os.environ, DIGITNET_OFFLINE="1")

    def digitnet(command):
        words = [sys.executable, "-m", "digitnet", *command.split()[1:]]
        return subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    (tmp_path / "tests").symlink_to(REPO / "tests")  # the README's pictures are the clone's
    assert digitnet(train.strip()).returncode == 0
    printed = digitnet(predict.strip())
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == shown
