"""MkDocs hook: a page of the site that shows a section of the README includes it rather than keeping a copy.

A line `<!-- readme: Heading -->` in a page under docs/ is replaced by the body of the README's section with
that heading (its text up to the next heading of the same or a higher level), and `<!-- readme-opening:
Heading -->` by its opening only (its text up to its first subheading: the README's first paragraphs, under
its title), so that the README stays the one home of what both show and the two cannot drift apart. On the
site:
  - the section's subheadings are raised so that the first level under it is `##`;
  - links are rewritten: `docs/X` becomes X (relative to the page), and `#anchor` (a heading of the README)
    names the page that shows that heading;
  - a heading that is not in the README, an anchor no page shows, or a link to a file outside docs/ fails
    the build (`mkdocs build --strict` or not), naming the page and the link.
mkdocs.yml lists this file under `hooks:`.
"""
import posixpath
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = re.compile(r"^<!-- readme(-opening)?: (.+?) -->[ \t]*$", re.M)
HEADING = re.compile(r"^(#{1,6}) +(.+?)[ \t#]*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^ {0,3}(```|~~~)")


class ReadmeError(ValueError):
    """A page asks for what the README does not have, or a link cannot be made to work on the site."""


def github_slug(title):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def site_slug(title):
    """The anchor MkDocs gives a heading: Python-Markdown's toc.slugify, its default."""
    from markdown.extensions.toc import slugify

    return slugify(title, "-")


def headings(lines):
    """(line index, level, title) of every heading outside fenced code blocks."""
    found, fenced = [], False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.append((i, len(m.group(1)), m.group(2)))
    return found


def section(readme, title, opening=False):
    """(level, body lines, [(level, title)] of its subheadings) of the README's section called title; with
    opening, only its text before its first subheading (and so no subheadings)."""
    lines = readme.splitlines()
    marks = headings(lines)
    for n, (start, level, name) in enumerate(marks):
        if name == title:
            end = next((i for i, lv, _ in marks[n + 1:] if lv <= level or opening), len(lines))
            subs = [(lv, t) for i, lv, t in marks[n + 1:] if i < end]
            return level, lines[start + 1:end], subs
    raise ReadmeError(f"the README has no section called {title!r}")


def shown_on(pages, readme):
    """{README anchor: (page, anchor on that page or None)} for every heading the pages include.

    pages: {page path under docs/: its markdown}."""
    where = {}
    for page, text in pages.items():
        for opening, title in MARKER.findall(text):
            _, _, subs = section(readme, title, bool(opening))
            if not opening:  # an opening shows no heading of the README, so no anchor leads to it
                where[github_slug(title)] = (page, None)
            where.update({github_slug(t): (page, site_slug(t)) for _, t in subs})
    return where


def rewrite_link(target, page, where):
    """A README link as the site page `page` must write it."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
        return target
    if target.startswith("#"):
        if target[1:] not in where:
            raise ReadmeError(f"{page}: the README's link {target} names a heading no page of the site shows")
        to, anchor = where[target[1:]]
        path = "" if to == page else posixpath.relpath(to, posixpath.dirname(page) or ".")
        return path + (f"#{anchor}" if anchor else "") if path or anchor else "#"
    if not target.startswith("docs/"):
        raise ReadmeError(f"{page}: the README's link {target} is outside docs/, which the site does not have")
    return posixpath.relpath(target[len("docs/"):], posixpath.dirname(page) or ".")


def include(markdown, page, readme, where):
    """The page's markdown with each marker replaced by its README section, made to work on the site."""
    def body(match):
        level, lines, _ = section(readme, match.group(2), bool(match.group(1)))
        out, fenced = [], False
        for line in lines:
            if FENCE.match(line):
                fenced = not fenced
            elif not fenced:
                if m := HEADING.match(line):
                    line = "#" * (len(m.group(1)) - level + 1) + " " + m.group(2)
                line = LINK.sub(lambda m: f"]({rewrite_link(m.group(1), page, where)})", line)
            out.append(line)
        return "\n".join(out).strip("\n")
    return MARKER.sub(body, markdown)


WHERE = {}  # shown_on() for the build under way, made once by on_files


def on_files(files, config):
    """MkDocs' hook: find which page shows which of the README's headings."""
    from mkdocs.exceptions import PluginError

    docs = Path(config["docs_dir"])
    pages = {f.src_uri: (docs / f.src_uri).read_text(encoding="utf-8") for f in files.documentation_pages()}
    try:
        WHERE.clear()
        WHERE.update(shown_on(pages, README.read_text(encoding="utf-8")))
    except ReadmeError as e:
        raise PluginError(str(e)) from None
    return files


def on_page_markdown(markdown, page, config, files):
    """MkDocs' hook: include the README's sections in this page."""
    from mkdocs.exceptions import PluginError

    try:
        return include(markdown, page.file.src_uri, README.read_text(encoding="utf-8"), WHERE)
    except ReadmeError as e:
        raise PluginError(str(e)) from None
