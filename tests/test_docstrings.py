"""The public API's docstrings, which the documentation site's API reference is built from: each public name
(digitnet.__all__, the names digitnet.book adds, digitnet.pretrained's) has a description, an Args entry for
every parameter and an example, and every example runs and prints what it says (doctest)."""
import doctest
import importlib
import inspect
import re

import pytest

import digitnet
import digitnet.book

PRETRAINED = importlib.import_module("digitnet.pretrained")  # digitnet.pretrained is the function


def public_objects():
    """{qualified name: object}, each object once (digitnet.book re-exports many of digitnet's names)."""
    found = {}
    for module, names in ((digitnet, digitnet.__all__), (digitnet.book, digitnet.book.__all__),
                          (PRETRAINED, PRETRAINED.__all__)):
        for name in names:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or any(obj is seen for seen in found.values()):
                continue  # digitnet.book's np; a name already listed
            found[f"{module.__name__}.{name}"] = obj
    return found


OBJECTS = public_objects()


def parameters(obj):
    """The names a caller passes: the signature's, less self and *args / **kwargs."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]


def test_the_list_covers_the_public_api():
    assert len(OBJECTS) >= 55
    for expected in ("digitnet.SoftmaxWithLoss", "digitnet.train", "digitnet.pretrained", "digitnet.book.Trainer",
                     "digitnet.book.load_mnist", "digitnet.pretrained.bundled_models"):
        assert expected in OBJECTS


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_is_complete(name):
    obj = OBJECTS[name]
    doc = inspect.getdoc(obj) or ""
    assert doc and doc.splitlines()[0].strip(), f"{name} has no description"
    sections = re.split(r"^(Args|Returns|Raises|Examples):\s*$", doc, flags=re.M)
    named = dict(zip(sections[1::2], sections[2::2]))
    assert "Examples" in named and ">>>" in named["Examples"], f"{name} has no example"
    missing = [p for p in parameters(obj) if not re.search(rf"^\s+{p}:", named.get("Args", ""), flags=re.M)]
    assert not missing, f"{name}: no Args entry for {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_example_runs(name, monkeypatch):
    monkeypatch.setenv("DIGITNET_OFFLINE", "1")  # an example that loads MNIST never waits on the network
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(OBJECTS[name], name, globs={})
    assert tests and tests[0].examples, f"{name} has no doctest example"
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
