"""The drawing page in a real browser: uvicorn on 127.0.0.1, headless Chromium driven by Playwright.

Draws a 7 with the mouse, waits for the page to read it, checks the bars, the 28x28 preview and Clear,
then draws a 1 with touch pointer events at a phone's width; writes whole numbers (a 4 in two strokes,
touching digits) and checks the reading and its boxes. Screenshots go to $DIGITNET_ARTIFACTS
(else a temporary folder); their paths are printed (pytest -s shows them).
Skips when Playwright or /usr/bin/chromium is absent (Playwright's own browser download is not used).
"""
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("PIL")
pytest.importorskip("python_multipart")
sync_api = pytest.importorskip("playwright.sync_api")

from chromium import CHROMIUM, chromium_present, watch  # noqa: E402  (after the importorskip calls above)

from digitnet.serve import create_app  # noqa: E402  (after the importorskip calls above)

if not chromium_present():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)", allow_module_level=True)



def serve_in_thread(model, **app_options):
    """The real app for model (create_app(model, **app_options)) under uvicorn on 127.0.0.1, on a free port, in a
    background thread: yields its URL while it runs."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(model, **app_options), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:  # uvicorn sets it when it listens; the loop ends on that event or a dead thread
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)

@pytest.fixture(scope="module")
def server(model_file):
    """The real app under uvicorn on 127.0.0.1, on a free port, in a background thread."""
    yield from serve_in_thread(model_file)


def open_page(browser, server, model_name="two-layer", clock=False, **context_options):
    """A new page on server, every console error and off-server request collected in problems; returns
    once the page names model_name. clock: the page's timers on Playwright's clock, which the test can move on."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    problems = watch(page, server)
    if clock:
        page.clock.install()
    page.goto(server + "/")
    sync_api.expect(page.locator("#model")).to_contain_text(model_name)
    return context, page, problems


def track_posts(page):
    """Lists of the POST requests the page starts and of those that have their answer."""
    sent, answered = [], []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    for event in ("requestfinished", "requestfailed"):
        page.on(event, lambda r: answered.append(r.url) if r.method == "POST" else None)
    return sent, answered


def wait_until_answered(page, sent, answered):
    """Until every request the page sent has its answer (events, no fixed wait): nothing left in flight."""
    while len(answered) < len(sent):
        page.wait_for_event("requestfinished", timeout=30_000)


def draw_with_mouse(page, strokes, square=True):
    """Each stroke a list of (x, y) in 0..1 of the pad (square: of the square in the middle of the pad, as
    high as the pad: where one digit is drawn on a wide pad), drawn as a mouse drag."""
    box = page.locator("#pad").bounding_box()
    side = box["height"] if square else box["width"]
    left = box["x"] + (box["width"] - side) / 2
    to_px = lambda x, y: (left + x * side, box["y"] + y * box["height"])
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
        const r = pad.getBoundingClientRect(), left = r.left + (r.width - r.height) / 2;
        const send = (type, x, y) => pad.dispatchEvent(new PointerEvent(type, {
            pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true, cancelable: true,
            clientX: left + x * r.height, clientY: r.top + y * r.height, button: 0, buttons: 1, pressure: 0.5}));
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
          ".getImageData(0, 0, c.width, c.height).data; let n = 0;" \
          " for (let i = 0; i < d.length; i += 4) n += d[i] < 128;" \
          " return n; })()"


def test_draw_a_seven_read_it_and_clear(browser, server, artifacts):
    # reduced motion: the bars take their width at once, with no transition to wait out
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760},
                                        reduced_motion="reduce")
    expect = sync_api.expect
    bars = page.locator("#bars .bar")
    expect(bars).to_have_count(10)
    assert page.locator("#pad").evaluate("c => getComputedStyle(c).touchAction") == "none"

    posts, answered = track_posts(page)
    draw_with_mouse(page, SEVEN)  # 2 presses, 24 moves, 2 releases
    expect(page.locator("#digit")).to_have_text("7", timeout=15_000)
    wait_until_answered(page, posts, answered)
    assert posts and set(posts) == {server + "/api/predict", server + "/api/read"}  # the digit, and the number
    predicts, reads = posts.count(server + "/api/predict"), posts.count(server + "/api/read")
    # each asked apart (a slow reading must not hold back the digit), each throttled
    assert 0 < predicts < 20 and 0 < reads < 20, f"{predicts} and {reads} requests for 28 pointer events"
    expect(bars).to_have_count(10)
    expect(page.locator("#bars .bar.top")).to_have_attribute("data-digit", "7")
    percents = [t.strip() for t in page.locator("#bars .bar .pct").all_inner_texts()]
    assert len(percents) == 10 and all(p.endswith("%") for p in percents), percents
    assert float(percents[7][:-1]) > 50 and abs(sum(float(p[:-1]) for p in percents) - 100) < 1
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
                                        device_scale_factor=2, is_mobile=True, has_touch=True,
                                        reduced_motion="reduce")
    posts, answered = track_posts(page)
    # the layout fits the phone: nothing wider than the screen, the pad fills most of the width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pad = page.locator("#pad").bounding_box()
    assert 280 <= pad["width"] <= 390 and abs(pad["width"] - pad["height"]) < 2

    draw_with_touch(page, ONE)
    sync_api.expect(page.locator("#digit")).to_have_text("1", timeout=15_000)
    assert page.evaluate("window.scrollY") == 0
    wait_until_answered(page, posts, answered)  # the screenshot shows the last answer, bars at their width
    shot = artifacts / "serve_page_phone_one.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#digit")).to_have_text("–")
    assert problems == []
    context.close()



# ------------------------------------------------------------------ the bundled model and the look-inside panel

@pytest.fixture(scope="module")
def bundled_server():
    """The page serving the best bundled model, as `digitnet serve` with no MODEL does."""
    from digitnet.pretrained import resolve_model

    yield from serve_in_thread(resolve_model(None)[0])


def open_bundled_page(browser, server, **context_options):
    from digitnet.pretrained import best_model_name

    return open_page(browser, server, best_model_name(), **context_options)


WHY_PIXELS = "[...document.getElementById('why').getContext('2d').getImageData(0, 0, 28, 28).data]"


def explained(page, action, target, score="logit"):
    """Run action() and return the /api/explain answer it caused, once the panel shows that target and score."""
    with page.expect_response(lambda r: "/api/explain" in r.url and r.status == 200
                              and f"score={score}" in r.url, timeout=30_000) as info:
        action()
    sync_api.expect(page.locator(f"#inside[data-target='{target}'][data-score='{score}']")).to_be_attached(timeout=30_000)
    return info.value.json()


def check_why_canvas(page, answer):
    """The page's 'why' canvas is explain.gradient_rgb of the answer's input and gradient (the same colours)."""
    from digitnet.explain import gradient_rgb

    want = gradient_rgb(np.reshape(answer["preprocessed"], (28, 28)), np.reshape(answer["gradient"], (28, 28)))
    got = np.array(page.evaluate(WHY_PIXELS), dtype=int).reshape(28, 28, 4)[..., :3]
    assert np.abs(got - want.astype(int)).max() <= 1
    red = np.all(want == (214, 39, 40), axis=-1) | (want[..., 0] > want[..., 2] + 40)
    blue = want[..., 2] > want[..., 0] + 40
    assert red.sum() > 5 and blue.sum() > 5  # both directions appear


def test_look_inside_on_a_desktop(browser, bundled_server, artifacts):
    from digitnet.pretrained import best_model_name, pretrained

    context, page, problems = open_bundled_page(browser, bundled_server, viewport={"width": 1100, "height": 900})
    expect = sync_api.expect
    draw_with_mouse(page, SEVEN)
    expect(page.locator("#digit")).to_have_text("7", timeout=30_000)
    expect(page.locator("#inside")).to_be_hidden()

    answer = explained(page, lambda: page.click("#inside-toggle"), 7)
    expect(page.locator("#inside")).to_be_visible()
    expect(page.locator("#why-caption")).to_contain_text("logit of 7")
    net = pretrained(best_model_name())
    n_blocks = sum(type(layer).__name__ in ("Convolution", "Affine", "Pooling") for layer in net.layers.values())
    layers = page.locator("#layers .layer")
    expect(layers).to_have_count(n_blocks)
    assert [layer["name"] for layer in answer["layers"]] == layers.evaluate_all("els => els.map(e => e.dataset.name)")
    page.wait_for_function("[...document.querySelectorAll('#layers img')].every(i => i.complete && i.naturalWidth > 0)")
    if page.locator("#layers .layer.conv").count():  # a conv net: its first maps are tiles of 28x28
        first = page.locator("#layers .layer.conv img").first
        assert first.evaluate("i => i.naturalWidth") >= 8 * 28 and first.bounding_box()["width"] >= 2 * 8 * 28 - 1
    check_why_canvas(page, answer)

    # another digit's bar: what would push this drawing toward a 1
    answer = explained(page, lambda: page.click("#bars .bar[data-digit='1']"), 1)
    assert answer["target"] == 1 and answer["digit"] == 7
    expect(page.locator("#why-caption")).to_contain_text("logit of 1")
    expect(page.locator("#bars .bar.chosen")).to_have_attribute("data-digit", "1")
    check_why_canvas(page, answer)

    answer = explained(page, lambda: page.check("input[value='log-probability']"), 1, "log-probability")
    expect(page.locator("#why-caption")).to_contain_text("log-probability of 1")
    check_why_canvas(page, answer)
    shot = artifacts / "look_inside_desktop.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")

    page.keyboard.press("Escape")
    expect(page.locator("#digit")).to_have_text("–")
    expect(page.locator("#layers .layer")).to_have_count(0)
    assert problems == []
    context.close()


def test_look_inside_at_phone_width(browser, bundled_server, artifacts):
    context, page, problems = open_bundled_page(browser, bundled_server, viewport={"width": 390, "height": 844},
                                                device_scale_factor=2, is_mobile=True, has_touch=True)
    draw_with_touch(page, ONE)
    sync_api.expect(page.locator("#digit")).to_have_text("1", timeout=30_000)
    answer = explained(page, lambda: page.tap("#inside-toggle"), 1)
    check_why_canvas(page, answer)
    page.wait_for_function("[...document.querySelectorAll('#layers img')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    shot = artifacts / "look_inside_phone.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert problems == []
    context.close()


# ------------------------------------------------------------------ a new set of drawings: a pen, varying pressure

def _curve(points, n=40):
    """n points along a polyline through `points`, evenly by length."""
    p = np.array(points, dtype=float)
    seg = np.r_[0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    s = np.linspace(0, seg[-1], n)
    return np.c_[np.interp(s, seg, p[:, 0]), np.interp(s, seg, p[:, 1])].tolist()


def _ellipse(cx, cy, rx, ry, start=0.0, turn=1.0, n=48):
    t = start + np.linspace(0, 2 * np.pi * turn, n)
    return np.c_[cx + rx * np.sin(t), cy - ry * np.cos(t)].tolist()


PEN_DIGITS = {
    0: [_ellipse(0.5, 0.5, 0.2, 0.33)],
    1: [_curve([(0.40, 0.26), (0.55, 0.13), (0.52, 0.87)])],
    2: [_curve([(0.30, 0.30), (0.40, 0.17), (0.55, 0.14), (0.68, 0.22), (0.68, 0.38), (0.30, 0.84), (0.74, 0.84)])],
    3: [_curve([(0.30, 0.20), (0.55, 0.14), (0.68, 0.26), (0.62, 0.42), (0.45, 0.48), (0.65, 0.56), (0.70, 0.72),
                (0.58, 0.85), (0.30, 0.82)])],
    4: [_curve([(0.56, 0.14), (0.28, 0.60), (0.76, 0.60)]), _curve([(0.62, 0.32), (0.60, 0.88)])],
    5: [_curve([(0.70, 0.15), (0.36, 0.15), (0.33, 0.45), (0.52, 0.40), (0.68, 0.52), (0.68, 0.74), (0.55, 0.85),
                (0.30, 0.82)])],
    6: [_curve([(0.64, 0.14), (0.45, 0.28), (0.34, 0.50), (0.34, 0.72), (0.46, 0.85), (0.62, 0.82), (0.68, 0.66),
                (0.56, 0.53), (0.40, 0.56), (0.34, 0.66)])],
    7: [_curve([(0.28, 0.18), (0.72, 0.18), (0.44, 0.86)])],
    8: [np.c_[0.5 + 0.17 * np.sin(2 * np.linspace(0, 2 * np.pi, 60)),
              0.5 - 0.34 * np.cos(np.linspace(0, 2 * np.pi, 60))].tolist()],
    9: [_ellipse(0.5, 0.32, 0.17, 0.17, start=np.pi / 2, turn=1.0), _curve([(0.67, 0.32), (0.62, 0.87)])],
}
# (pressure along each stroke, transform of the pad's 0..1 coordinates): light-to-heavy upright, heavy-to-light
# slanted, and small and off-centre with a trembling pressure
PEN_STYLES = {
    "ramp": (lambda s: 0.15 + 0.8 * s, lambda x, y: (x, y)),
    "slant": (lambda s: 0.95 - 0.7 * s,
              lambda x, y: (0.5 + 0.85 * (x - 0.5) + 0.18 * (0.5 - y), 0.5 + 0.9 * (y - 0.5))),
    "small": (lambda s: 0.5 + 0.4 * np.sin(9 * s), lambda x, y: (0.3 + 0.55 * x, 0.25 + 0.55 * y)),
}


def draw_with_pen(page, strokes, pressure, transform):
    strokes = [[list(transform(x, y)) for x, y in stroke] for stroke in strokes]
    pressures = [[float(pressure(i / max(len(s) - 1, 1))) for i in range(len(s))] for s in strokes]
    page.evaluate("""([strokes, pressures]) => {
        const pad = document.getElementById('pad');
        const r = pad.getBoundingClientRect(), left = r.left + (r.width - r.height) / 2;
        const send = (type, [x, y], p) => pad.dispatchEvent(new PointerEvent(type, {
            pointerId: 9, pointerType: 'pen', isPrimary: true, bubbles: true, cancelable: true,
            clientX: left + x * r.height, clientY: r.top + y * r.height,
            button: 0, buttons: type === 'pointerup' ? 0 : 1,
            pressure: type === 'pointerup' ? 0 : p}));
        strokes.forEach((stroke, k) => {
            send('pointerdown', stroke[0], pressures[k][0]);
            for (let i = 1; i < stroke.length; i++) send('pointermove', stroke[i], pressures[k][i]);
            send('pointerup', stroke[stroke.length - 1], 0);
        });
    }""", [strokes, pressures])


def test_a_new_set_of_pen_drawings_with_varying_pressure(browser, bundled_server, artifacts):
    """Draws 30 digits with pen pointer events whose pressure varies along each stroke (the pad thins and
    thickens the line with it), saves each pad as a PNG, and reads them with the bundled model, as
    `digitnet predict FOLDER` would. Prints what it gets; the bar is well above chance, below perfect."""
    import base64

    from digitnet.predict import predict_images
    from digitnet.pretrained import best_model_name, pretrained

    context, page, problems = open_bundled_page(browser, bundled_server, viewport={"width": 1000, "height": 760})
    folder = artifacts / "pen_drawings"
    folder.mkdir(exist_ok=True)
    files = []
    widths = set()
    for style, (pressure, transform) in PEN_STYLES.items():
        for digit, strokes in PEN_DIGITS.items():
            page.keyboard.press("Escape")
            draw_with_pen(page, strokes, pressure, transform)
            widths.add(page.evaluate("document.getElementById('pad').getContext('2d').lineWidth"))
            data = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
            path = folder / f"{digit}_pen_{style}.png"
            path.write_bytes(base64.b64decode(data.split(",", 1)[1]))
            files.append(path)
    assert len(widths) > 1  # the pressure changed the stroke's width
    results = predict_images(pretrained(best_model_name()), files)
    wrong = [(p.name, r["digit"]) for p, r in zip(files, results) if r["digit"] != int(p.name[0])]
    right = len(files) - len(wrong)
    print(f"\npen drawings ({folder}): {right}/{len(files)} read right by {best_model_name()}; "
          f"missed: {', '.join(f'{n} as {d}' for n, d in wrong) or 'none'}")
    assert right >= 0.8 * len(files), wrong
    assert problems == []
    context.close()


# ------------------------------------------------------------------ whole numbers on the wide pad

def _number_strokes(digits, lefts, top=0.18, height=0.64):
    """Strokes in 0..1 of the whole pad (2:1): digit k's square drawing (PEN_DIGITS) scaled to `height` of
    the pad and placed with its square's left edge at lefts[k] (a fraction of the pad's width)."""
    out = []
    for digit, left in zip(digits, lefts):
        for stroke in PEN_DIGITS[digit]:
            out.append([(left + x * height / 2, top + y * height) for x, y in stroke])
    return out


BOXES_INK = "(() => { const c = document.getElementById('boxes'); const d = c.getContext('2d')" \
            ".getImageData(0, 0, c.width, c.height).data; let n = 0;" \
            " for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; })()"


def test_write_a_number_with_a_broken_four_and_touching_digits(browser, bundled_server, artifacts):
    """2024 with the mouse on the wide pad: the 4 drawn in two strokes that do not touch; then 2024 again
    with its last two digits close enough that their strokes touch. The reading and its boxes follow."""
    from digitnet.reader import read

    context, page, problems = open_bundled_page(browser, bundled_server, viewport={"width": 1100, "height": 900},
                                                reduced_motion="reduce")
    expect = sync_api.expect
    pad = page.locator("#pad").bounding_box()
    assert pad["width"] > 1.9 * pad["height"]  # a wide pad: room for a number
    posts, answered = track_posts(page)
    for name, lefts in (("separated", (0.04, 0.24, 0.44, 0.64)), ("touching", (0.04, 0.22, 0.38, 0.545))):
        page.keyboard.press("Escape")
        expect(page.locator("#reading")).to_have_text("–")
        for k, digit in enumerate((2, 0, 2, 4)):  # digit by digit: the reading grows as you write
            draw_with_mouse(page, _number_strokes([digit], [lefts[k]]), square=False)
            try:
                expect(page.locator("#reading")).to_have_attribute("data-text", "2024"[:k + 1], timeout=30_000)
            finally:
                page.screenshot(path=str(artifacts / f"serve_number_{name}.png"), full_page=True)
        wait_until_answered(page, posts, answered)
        boxes = page.evaluate("[...document.querySelectorAll('#reading .read-digit')].map(e => e.textContent)")
        assert boxes == ["2", "0", "2", "4"]
        assert page.evaluate(BOXES_INK) > 500  # the boxes are drawn over the pad
        shot = artifacts / f"serve_number_{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        if name == "touching":  # the pad's own pixels: the 2 and the 4 really touch, and read() splits them
            import base64
            import io

            from PIL import Image
            from scipy import ndimage

            data = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
            ink = np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("L")) < 128
            labels, n = ndimage.label(ink, structure=np.ones((3, 3)))
            assert n <= 4  # five strokes (the 4 has two), fewer pieces of ink: some touch
            assert read(np.where(ink, 0, 255).astype(np.uint8)).text == "2024"
    page.keyboard.press("Escape")
    expect(page.locator("#reading")).to_have_text("–")
    assert page.evaluate(BOXES_INK) == 0
    assert problems == []
    context.close()


@pytest.fixture(scope="module")
def wary_server():
    """deep-cnn with a rejection threshold so high that some digits of a drawn number fall under it."""
    from digitnet.calibration import Confidence
    from digitnet.model_io import load_model
    from digitnet.pretrained import bundled_path

    net, header = load_model(bundled_path("deep-cnn"))
    net.confidence = Confidence(threshold=0.999999)
    yield from serve_in_thread((net, header))


def test_a_digit_the_model_is_not_sure_of_is_marked(browser, wary_server, artifacts):
    context, page, problems = open_page(browser, wary_server, "deep-cnn", viewport={"width": 1100, "height": 900},
                                        reduced_motion="reduce")
    posts, answered = track_posts(page)
    draw_with_mouse(page, _number_strokes([2, 0, 2, 4], (0.04, 0.24, 0.44, 0.64)), square=False)
    sync_api.expect(page.locator("#unsure")).to_be_visible(timeout=30_000)
    wait_until_answered(page, posts, answered)
    text = page.locator("#reading").get_attribute("data-text")
    shown = page.evaluate("[...document.querySelectorAll('#reading .read-digit')].map(e => e.textContent)")
    assert len(text) == 4 and "?" in text and shown == list(text)
    assert all(c in "2?" for c in text[0::2]) and text[1] in "0?" and text[3] in "4?"
    rejected = page.locator("#reading .read-digit.rejected")
    assert rejected.count() == text.count("?") and "not sure" in rejected.first.get_attribute("title")
    red = "(() => { const c = document.getElementById('boxes'); const d = c.getContext('2d')" \
          ".getImageData(0, 0, c.width, c.height).data; let n = 0;" \
          " for (let i = 0; i < d.length; i += 4) n += d[i + 3] > 0 && d[i] > 150 && d[i + 1] < 100; return n; })()"
    assert page.evaluate(red) > 100  # the rejected digits' boxes are red
    shot = artifacts / "serve_number_not_sure.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert problems == []
    context.close()
