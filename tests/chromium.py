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
