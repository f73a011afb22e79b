from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist-10k"


@pytest.fixture(scope="session")
def mnist_10k_dir():
    """../shared/data/mnist-10k: real MNIST (official test set + first 10k training digits); CI has it, a user's clone may not."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{SHARED_MNIST} is absent (only the project's CI and developer machines have it)")
    return SHARED_MNIST
