import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The one place the tests (and bench/, scripts/) learn where real MNIST is: the official test set and
# the first 10,000 training digits. $DIGITNET_TEST_DATA, else ../shared/data/mnist-10k beside the clone,
# which the project's CI and developer machines have and a user's clone does not.
TEST_DATA = Path(os.environ.get("DIGITNET_TEST_DATA") or REPO.parent / "shared" / "data" / "mnist-10k")


@pytest.fixture(scope="session")
def held_out_digits():
    """The bundled sample's 2,000 held-out digits as 28x28 uint8 images, and their labels: what the reading tests
    compose numbers from (the official test set may not be copied into the repository)."""
    from digitnet.data import load_sample

    sample = load_sample(flatten=False)
    return sample.x_test.reshape(-1, 28, 28), sample.t_test


@pytest.fixture(scope="session")
def mnist_10k_dir():
    """The real-MNIST folder above; tests that need it skip without it, unless DIGITNET_REQUIRE_TEST_DATA=1
    (CI's first run) turns the skip into a failure, so a lost folder cannot make that run pass quietly."""
    if not (TEST_DATA / "t10k-images-idx3-ubyte.gz").is_file():
        message = f"{TEST_DATA} is absent (set DIGITNET_TEST_DATA to a folder with real MNIST)"
        if os.environ.get("DIGITNET_REQUIRE_TEST_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return TEST_DATA


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No test may touch the real cache or reach past 127.0.0.1: a fresh DIGITNET_CACHE_DIR,
    no proxies (urllib would send even 127.0.0.1 requests to one), DIGITNET_OFFLINE unset, and
    DIGITNET_MNIST_MIRRORS pointing at a closed local port so a test that forgets to pass
    mirrors= fails fast instead of going to the internet."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DIGITNET_CACHE_DIR", str(cache))
    monkeypatch.setenv("DIGITNET_MNIST_MIRRORS", dead_url())
    for var in ("DIGITNET_OFFLINE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return cache


def dead_url():
    """An http:// URL on 127.0.0.1 whose port was just free, so connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def dead_mirror():
    """A mirror URL on 127.0.0.1 that refuses connections."""
    return dead_url()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """The book's two-layer net (784-100-10) trained in-process on the bundled sample: 1,500 steps, seeded."""
    import numpy as np

    import digitnet
    from digitnet.data import load_sample

    sample = load_sample()
    rng = np.random.default_rng(0)
    net = digitnet.TwoLayerNet(784, 100, 10, rng=rng, dtype=np.float32)
    history = digitnet.train(net, sample.x_train, sample.t_train, sample.x_test, sample.t_test,
                             iters=1500, rng=rng, train_eval_size=1000)
    path = tmp_path_factory.mktemp("served-model") / "model.npz"
    digitnet.save_model(path, net, {"dataset": sample.describe(), "accuracy": {"test": history[-1]["test_acc"]}})
    return path


# ------------------------------------------------------------------ the browser tests' fixtures (chromium.py)

@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """$DIGITNET_ARTIFACTS (CI keeps the screenshots there), else a temporary folder."""
    folder = os.environ.get("DIGITNET_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a module's tests."""
    from chromium import CHROMIUM, CHROMIUM_ARGS
    from playwright import sync_api

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)  # the browser talks to 127.0.0.1 only, never through a proxy
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        yield b
        b.close()
