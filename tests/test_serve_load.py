"""A bounded load-and-abuse run of the real server on 127.0.0.1: zero errors, and it stays up."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("PIL")

REPO = Path(__file__).resolve().parents[1]


def test_200_requests_from_8_clients_with_abuse_interleaved(model_file):
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "load_test.py"), str(model_file),
                        "--requests", "200", "--clients", "8"],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "200 good requests from 8 clients" in r.stdout and "errors: 0" in r.stdout
    assert "/health afterwards: 200" in r.stdout
