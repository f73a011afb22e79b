"""The drawing page's faults found in review, each in a real browser (test_serve_browser's server and helpers):
a slow reading of the number held back the digit, a request never answered stopped the page for good, the pad
kept its first shape when the layout changed, Esc in the middle of a stroke left ink that was never read, and a
missing icon was a 404 on every load, a failed reading of the number left the older one up; and the 30 s after
which a request is given up. Waits are on the page's own
events and texts, never on the clock (the 30 s pass on Playwright's clock, moved on by the test)."""
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from test_serve_browser import (  # noqa: E402  (after the importorskip call above; it skips without Chromium)
    ONE,
    PAD_INK,
    SEVEN,
    draw_with_mouse,
    open_page,
    serve_in_thread,
)


@pytest.fixture(scope="module")
def server(model_file):
    yield from serve_in_thread(model_file)


def hold(page, pattern):
    """Requests matching pattern are held unanswered (the list of their routes) until the test lets them go."""
    held = []
    page.route(pattern, lambda route: held.append(route))
    return held


def test_a_slow_reading_of_the_number_does_not_hold_back_the_digit(browser, server):
    """The page asked /api/predict and /api/read together and showed neither until both had answered: a half-drawn
    7 that /api/read took 3-4 s to cut kept the page on its older answer that long."""
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760})
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    held = hold(page, "**/api/read")
    draw_with_mouse(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7", timeout=15_000)  # while every reading is held
    assert held and page.locator("#reading").inner_text() == "–"
    for route in held:
        route.continue_()
    page.unroute("**/api/read")
    sync_api.expect(page.locator("#reading")).to_have_text("7", timeout=15_000)
    assert problems == [] and failed == []  # nor a 404 for /favicon.ico on loading
    context.close()


def test_a_request_never_answered_does_not_stop_the_page(browser, server):
    """A request that never got an answer (a connection gone silent) kept the page from sending anything again,
    Clear included, with nothing said; Clear now lets go of it, and a new drawing is read."""
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760})
    held = hold(page, "**/api/*")
    with page.expect_request("**/api/read", timeout=15_000):
        draw_with_mouse(page, SEVEN)
    page.unroute("**/api/*")  # later requests are answered; the first ones never are
    page.click("#clear")
    draw_with_mouse(page, ONE)
    sync_api.expect(page.locator("#digit")).to_have_text("1", timeout=15_000)
    sync_api.expect(page.locator("#reading")).to_have_text("1", timeout=15_000)
    assert held and problems == []
    context.close()


def test_a_reading_that_fails_takes_the_old_one_down(browser, server):
    """A read of the number that failed (a dropped connection, or given up after 30 s) left the older drawing's
    reading and boxes up, with nothing said: a 1 drawn, then a 7 beside it, still read "1"."""
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760})
    draw_with_mouse(page, ONE)
    sync_api.expect(page.locator("#reading")).to_have_text("1", timeout=15_000)
    page.route("**/api/read", lambda route: route.abort())
    with page.expect_request("**/api/read", timeout=15_000):
        draw_with_mouse(page, SEVEN)
    sync_api.expect(page.locator("#reading")).to_have_text("–", timeout=15_000)
    assert page.locator("#digit").inner_text() != ""  # the digit still answers
    context.close()


def test_a_request_unanswered_for_30_s_is_given_up_and_said(browser, server):
    """The page gives up a request that has had no answer for 30 s (a server stopped without closing its
    connections) and says so; the clock is moved on, not waited for."""
    context, page, problems = open_page(browser, server, clock=True, viewport={"width": 1000, "height": 760})
    held = hold(page, "**/api/*")
    with page.expect_request("**/api/predict", timeout=15_000):
        draw_with_mouse(page, SEVEN)
    page.clock.fast_forward(29_000)
    assert "did not answer" not in page.locator("#status").inner_text()
    page.clock.fast_forward(2_000)
    sync_api.expect(page.locator("#status")).to_have_text(
        "The server did not answer in 30 s: is it still running?", timeout=15_000)
    assert held and problems == []
    context.close()


def test_the_header_says_which_nets_answer_together(browser, model_file):
    """With several nets answering (`digitnet serve` with no model named), the header named only the one "Look
    inside" shows, with its own test accuracy, as if it answered alone; it now says how many read the digit
    together, and its tooltip names them for the digit and for the number."""
    import digitnet

    net = digitnet.load_model(model_file)[0]
    names = {"predict": ["first", "second"], "read": ["first", "third"]}
    for url in serve_in_thread(model_file, readers=[net, net], classifiers=[net, net], committees=names):
        context, page, problems = open_page(browser, url)
        header = page.locator("#model")
        sync_api.expect(header).to_contain_text("the digit read by 2 nets together")
        tip = header.get_attribute("title")
        assert "digit: first + second" in tip and "number: first + third" in tip and problems == []
        context.close()


def test_the_pad_follows_its_shape_when_the_layout_changes(browser, server):
    """Turned from a phone's portrait to landscape (the layout's 640 px breakpoint: a square pad becomes 2:1), the
    pad kept its square drawing units, so every stroke after reached the server stretched (a round 0 at 0.41 its
    width); now it takes the new shape, cleared, and says so."""
    context, page, problems = open_page(browser, server, viewport={"width": 390, "height": 800})
    shape = ("(() => { const c = document.getElementById('pad');"
             " return [c.width / c.height, c.clientWidth / c.clientHeight]; })()")
    bitmap, shown = page.evaluate(shape)
    assert abs(bitmap - 1) < 0.01 and abs(shown - 1) < 0.02
    draw_with_mouse(page, ONE)
    sync_api.expect(page.locator("#digit")).to_have_text("1", timeout=15_000)
    page.set_viewport_size({"width": 900, "height": 500})
    sync_api.expect(page.locator("#status")).to_have_text("The pad changed shape: draw again.")
    bitmap, shown = page.evaluate(shape)
    assert abs(shown - 2) < 0.05 and abs(bitmap - shown) < 0.05, (bitmap, shown)
    assert page.evaluate(PAD_INK) == 0 and page.locator("#digit").inner_text() == "–"
    draw_with_mouse(page, SEVEN)
    sync_api.expect(page.locator("#digit")).to_have_text("7", timeout=15_000)
    page.screenshot(full_page=True)  # lays the pad out at 0 x 0 a moment (as a minimised window): no new shape
    assert page.evaluate(PAD_INK) > 0 and page.locator("#status").inner_text() == ""
    assert problems == []
    context.close()


def test_escape_in_the_middle_of_a_stroke_ends_it(browser, server):
    """Esc (or Clear tapped with another finger) while drawing cleared the pad but left the stroke going: the rest
    of it was drawn and never read. Now it ends the stroke: the pad stays clear until the next one."""
    context, page, problems = open_page(browser, server, viewport={"width": 1000, "height": 760})
    box = page.locator("#pad").bounding_box()
    at = lambda x, y: (box["x"] + (box["width"] - box["height"]) / 2 + x * box["height"], box["y"] + y * box["height"])
    page.mouse.move(*at(0.3, 0.2))
    page.mouse.down()
    page.mouse.move(*at(0.4, 0.2), steps=3)
    page.keyboard.press("Escape")
    page.mouse.move(*at(0.72, 0.2), steps=12)
    page.mouse.move(*at(0.44, 0.86), steps=12)
    page.mouse.up()
    assert page.evaluate(PAD_INK) == 0 and page.locator("#digit").inner_text() == "–"
    draw_with_mouse(page, SEVEN)  # the next stroke draws and is read as ever
    sync_api.expect(page.locator("#digit")).to_have_text("7", timeout=15_000)
    assert problems == []
    context.close()
