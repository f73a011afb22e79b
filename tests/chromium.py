"""What the browser tests share: Debian's Chromium driven by Playwright, headless, with the launch flags
that work in a container and on a closed network, and the folder their screenshots go to.

A test module checks chromium_present() to decide whether it can run; its fixtures `browser` and
`artifacts` are in conftest.py.
"""
import os

CHROMIUM = os.environ.get("DIGITNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def chromium_present():
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def watch(page, server):
    """The list that collects every console error, page error and request off `server` the page makes
    (those requests are refused: nothing but the local server may be asked for anything)."""
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               else (problems.append(f"request off the server: {route.request.url}"), route.abort()))
    return problems
