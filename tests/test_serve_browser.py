"""The drawing page in a real browser: uvicorn on 127.0.0.1, headless Chromium driven by Playwright.

Draws a 7 with the mouse, waits for the page to read it, checks the bars, the 28x28 preview and Clear,
then draws a 1 with touch pointer events at a phone's width. Screenshots go to $DIGITNET_ARTIFACTS
(else a temporary folder); their paths are printed (pytest -s shows them).
Skips when Playwright or /usr/bin/chromium is absent (Playwright's own browser download is not used).
"""
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("PIL")
pytest.importorskip("python_multipart")
sync_api = pytest.importorskip("playwright.sync_api")

from digitnet.serve import create_app  # noqa: E402

CHROMIUM = os.environ.get("DIGITNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(model_file):
    """The real app under uvicorn on 127.0.0.1, on a free port, in a background thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(model_file), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = os.environ.get("DIGITNET_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)  # the browser talks to 127.0.0.1 only, never through a proxy
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        yield b
        b.close()


def open_page(browser, server, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # nothing but the local server may be asked for anything
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
               else (problems.append(f"request off the server: {route.request.url}"), route.abort()))
    page.goto(server + "/")
    sync_api.expect(page.locator("#model")).to_contain_text("two-layer")
    return context, page, problems


def draw_with_mouse(page, strokes):
    """Each stroke a list of (x, y) in 0..1 of the pad, drawn as a mouse drag."""
    box = page.locator("#pad").bounding_box()
    to_px = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])  # noqa: E731
    for stroke in strokes:
        page.mouse.move(*to_px(*stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*to_px(*point), steps=12)
        page.mouse.up()


def draw_with_touch(page, strokes):
    """The same with touch pointer events (what a finger on a phone sends), dispatched on the pad."""
    page.evaluate("""strokes => {
        const pad = document.getElementById('pad');
        const r = pad.getBoundingClientRect();
        const send = (type, x, y) => pad.dispatchEvent(new PointerEvent(type, {
            pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true, cancelable: true,
            clientX: r.left + x * r.width, clientY: r.top + y * r.height, button: 0, buttons: 1, pressure: 0.5}));
        for (const stroke of strokes) {
            send('pointerdown', ...stroke[0]);
            for (let i = 1; i < stroke.length; i++) {
                const [x0, y0] = stroke[i - 1], [x1, y1] = stroke[i];
                for (let s = 1; s <= 12; s++) send('pointermove', x0 + (x1 - x0) * s / 12, y0 + (y1 - y0) * s / 12);
            }
            send('pointerup', ...stroke[stroke.length - 1]);
        }
    }""", strokes)


# MNIST-like: thick (the page's marker), centred, most of the pad's height
SEVEN = [[(0.28, 0.2), (0.72, 0.2)], [(0.72, 0.2), (0.44, 0.86)]]
ONE = [[(0.54, 0.14), (0.46, 0.86)]]

SEEN_INK = "(() => { const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;" \
           " let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 64; return n; })()"
PAD_INK = "(() => { const c = document.getElementById('pad'); const d = c.getContext('2d')" \
          ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] < 128;" \
          " return n; })()"


def test_draw_a_seven_read_it_and_clear(browser, server, artifacts):
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760})
    expect = sync_api.expect
    bars = page.locator("#bars .bar")
    expect(bars).to_have_count(10)
    assert page.locator("#pad").evaluate("c => getComputedStyle(c).touchAction") == "none"

    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    draw_with_mouse(page, SEVEN)  # 2 presses, 24 moves, 2 releases
    expect(page.locator("#digit")).to_have_text("7", timeout=15_000)
    page.wait_for_timeout(300)
    assert posts and set(posts) == {server + "/api/predict"}
    assert len(posts) < 20, f"{len(posts)} requests for 28 pointer events: not throttled"
    expect(bars).to_have_count(10)
    expect(page.locator("#bars .bar.top")).to_have_attribute("data-digit", "7")
    percents = [t.strip() for t in page.locator("#bars .bar .pct").all_inner_texts()]
    assert len(percents) == 10 and all(p.endswith("%") for p in percents), percents
    assert float(percents[7][:-1]) > 50 and abs(sum(float(p[:-1]) for p in percents) - 100) < 1
    page.wait_for_timeout(400)  # let the bars' transition settle
    width = "d => document.querySelector(`#bars .bar[data-digit='${d}'] .fill`).getBoundingClientRect().width"
    track = page.locator("#bars .bar .track").first.evaluate("e => e.getBoundingClientRect().width")
    assert page.evaluate(width, 7) > 0.5 * track > 5 * page.evaluate(width, 0)
    tops = page.evaluate("[...document.querySelectorAll('#bars .bar')].map(e => e.getBoundingClientRect().top)")
    steps = np.diff(tops)
    assert steps.min() > 10 and steps.max() - steps.min() < 1, tops  # ten evenly spaced rows
    assert page.evaluate(SEEN_INK) > 40  # the 28x28 preview shows the digit
    shot = artifacts / "serve_page_seven.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")

    page.click("#clear")
    expect(page.locator("#digit")).to_have_text("–")
    assert page.evaluate(PAD_INK) == 0
    assert page.evaluate(SEEN_INK) == 0
    assert page.locator("#bars .bar.top").count() == 0
    assert all(t.strip() == "" for t in page.locator("#bars .bar .pct").all_inner_texts())
    expect(bars).to_have_count(10)
    assert problems == []
    context.close()


def test_a_finger_at_phone_width(browser, server, artifacts):
    context, page, problems = open_page(browser, server, viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
    # the layout fits the phone: nothing wider than the screen, the pad fills most of the width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pad = page.locator("#pad").bounding_box()
    assert 280 <= pad["width"] <= 390 and abs(pad["width"] - pad["height"]) < 2

    draw_with_touch(page, ONE)
    sync_api.expect(page.locator("#digit")).to_have_text("1", timeout=15_000)
    assert page.evaluate("window.scrollY") == 0
    page.wait_for_timeout(400)
    shot = artifacts / "serve_page_phone_one.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#digit")).to_have_text("–")
    assert problems == []
    context.close()

