"""The documentation site's pages include the README's sections rather than copies (scripts/mkdocs_readme.py)."""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mkdocs_readme", REPO / "scripts" / "mkdocs_readme.py")
hook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hook)

README = """# tool

## Quickstart

Run `make` ([the guide](docs/guide.md), [options](#the-options)).

```bash
# a comment, not a heading
make
```

### Going further

See [the site](https://example.org) and [Going further](#going-further).

## Reference

### The options

![a picture](docs/gallery/x.png)
"""


@pytest.fixture(autouse=True)
def markdown():
    """The hook names anchors as MkDocs does, with Python-Markdown (there with mkdocs, and with tensorboard)."""
    pytest.importorskip("markdown")


def pages(**extra):
    return {"start.md": "# Start\n\n<!-- readme: Quickstart -->\n", "cli.md": "# CLI\n\n<!-- readme: Reference -->\n",
            **extra}


def test_a_section_comes_in_with_its_headings_raised_and_its_links_made_for_the_site():
    where = hook.shown_on(pages(), README)
    out = hook.include(pages()["start.md"], "start.md", README, where)
    assert "<!-- readme" not in out and "# Quickstart" not in out
    assert "[the guide](guide.md)" in out                   # docs/X is X on the site
    assert "[options](cli.md#the-options)" in out           # a heading another page shows
    assert "[Going further](#going-further)" in out         # a heading on this page
    assert "\n## Going further\n" in out                    # ### under ## becomes ##
    assert "# a comment, not a heading\nmake" in out        # a fenced block is left as it is
    assert "[the site](https://example.org)" in out


def test_a_deeper_section_is_raised_to_the_pages_level_and_images_are_rewritten_too():
    out = hook.include(pages()["cli.md"], "cli.md", README, hook.shown_on(pages(), README))
    assert "\n## The options\n" in out and "![a picture](gallery/x.png)" in out


def test_links_from_a_page_in_a_folder_climb_out_of_it():
    nested = pages(**{"more/deep.md": "<!-- readme: Quickstart -->"})
    out = hook.include(nested["more/deep.md"], "more/deep.md", README, hook.shown_on(nested, README))
    assert "[the guide](../guide.md)" in out and "[options](../cli.md#the-options)" in out


def test_an_opening_is_the_text_under_the_title_before_its_first_subheading():
    readme = README.replace("## Quickstart", "Reads digits ([how](docs/how.md)).\n\n## Quickstart")
    page = "# Home\n\n<!-- readme-opening: tool -->\n\n## More\n"
    where = hook.shown_on({**pages(), "index.md": page}, readme)
    out = hook.include(page, "index.md", readme, where)
    assert out == "# Home\n\nReads digits ([how](how.md)).\n\n## More\n"
    assert "tool" not in where and where["quickstart"] == ("start.md", None)  # its title is the page's own


@pytest.mark.parametrize("readme,page_text,message", [
    (README, "<!-- readme: Install -->", "no section called 'Install'"),
    (README.replace("(#the-options)", "(#nowhere)"), "<!-- readme: Quickstart -->", "#nowhere names a heading"),
    (README.replace("docs/guide.md", "LICENSE"), "<!-- readme: Quickstart -->", "LICENSE is outside docs/"),
])
def test_what_the_site_cannot_show_fails_with_one_line_naming_it(readme, page_text, message):
    with pytest.raises(hook.ReadmeError, match=message.replace("(", r"\(")):
        where = hook.shown_on({"p.md": page_text, "cli.md": "<!-- readme: Reference -->"}, readme)
        hook.include(page_text, "p.md", readme, where)


def test_every_page_of_this_site_finds_its_readme_sections():
    """The real README and docs/: a renamed heading or a link the site lacks fails here, not only in make docs."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    docs = {str(p.relative_to(REPO / "docs")): p.read_text(encoding="utf-8") for p in (REPO / "docs").rglob("*.md")}
    where = hook.shown_on(docs, readme)
    showing = {name: text for name, text in docs.items() if hook.MARKER.search(text)}
    assert {"index.md", "getting-started.md", "using.md", "command-line.md"} <= set(showing)
    for name, text in showing.items():
        out = hook.include(text, name, readme, where)
        assert "<!-- readme" not in out and "](docs/" not in out
    reference = hook.include(docs["command-line.md"], "command-line.md", readme, where)
    assert "digitnet read [--model NAME|PATH]" in reference


def test_the_readmes_command_line_names_every_option_of_every_command():
    """The synopsis is written by hand: an option added to the command line and not to it fails here."""
    from digitnet.cli import main

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    _, lines, _ = hook.section(readme, "The command line")
    synopsis = "\n".join(lines)
    missing = [f"{name} {opt}" for name, command in main.commands.items() for param in command.params
               for opt in getattr(param, "opts", []) if opt.startswith("--") and opt not in synopsis]
    assert not missing
    assert all(f"digitnet {name}" in synopsis for name in main.commands)
