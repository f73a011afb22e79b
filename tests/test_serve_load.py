"""scripts/load_test.py, bounded for CI: the real server (`digitnet serve` in a subprocess on 127.0.0.1)
under 200 good requests from 8 concurrent clients, every abusive kind sent once among them; zero errors,
every abusive request answered with its status, /health still answering afterwards."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("PIL")
pytest.importorskip("python_multipart")

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "load_test.py"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
       "OPENBLAS_NUM_THREADS": "1"}


def load_test_module():
    spec = importlib.util.spec_from_file_location("load_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, timeout=90):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=REPO)


def test_200_requests_from_8_clients_with_every_abuse_once(model_file, tmp_path):
    report_path = tmp_path / "report.json"
    r = run_script(model_file, "--requests", 200, "--clients", 8, "--kind", "mix", "--time-limit", 60,
                   "--json", report_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "errors: 0" in r.stdout and "result: ok" in r.stdout
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0 and report["error_samples"] == []
    assert report["architecture"] == "two-layer" and report["clients"] == 8
    assert report["good_ok"] == report["good_requests"] == 200
    assert report["served_accuracy"] >= 0.8  # the model reads about 90 % of the sample's test digits
    assert report["health_after"] and report["prediction_after"] and report["server_alive_at_end"]
    assert report["server_5xx_in_log"] == 0 and report["server_tracebacks"] == 0
    assert report["server_exit_status"] is not None  # the server was stopped, not left running

    abuse = report["abuse"]
    assert len(abuse) == 27
    for name, seen in abuse.items():
        assert seen["count"] == 1, name  # 200 // 20 < the number of kinds: each kind exactly once
        assert seen["statuses"] == {str(seen["expected"]): 1}, (name, seen)
    expected = {name: seen["expected"] for name, seen in abuse.items()}
    assert {expected[n] for n in ("oversize-declared", "oversize-chunked", "bomb-header", "bomb-real")} == {413}
    assert {expected[n] for n in ("json-783", "json-28x27", "json-nan", "truncated-png")} == {422}
    assert expected["not-an-image"] == 415 and expected["slow-body"] == 200 and expected["slow-abandon"] is None
    # the client that hung up half-way is one line in the server's log, not a traceback
    assert report["server_hang_ups_logged"] == 1


def test_a_model_the_server_cannot_load_is_exit_status_2(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    log = tmp_path / "server.log"  # a failed run keeps the server's log; here, not in the system's temp folder
    r = run_script(bad, "--requests", 10, "--clients", 2, "--time-limit", 60, "--server-log", log)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "server exited" in r.stderr and str(bad) in r.stderr and str(bad) in log.read_text()


def test_the_plan_spreads_each_abusive_kind_among_the_good_requests():
    lt = load_test_module()
    plan = lt.make_plan(200, 27, 20)
    assert sum(kind == "good" for kind, _ in plan) == 200
    assert sorted(i for kind, i in plan if kind == "abuse") == list(range(27))
    positions = [n for n, (kind, _) in enumerate(plan) if kind == "abuse"]
    assert positions[0] < 10 and positions[-1] > len(plan) - 10  # spread over the run, not bunched
    plan = lt.make_plan(2000, 27, 20)
    assert sum(kind == "abuse" for kind, _ in plan) == 100
    assert lt.make_plan(50, 27, 0) == [("good", i) for i in range(50)]
