"""scripts/run_notebooks.py's choice of notebooks (the notebooks themselves run in CI: .ci/run)."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_notebooks.py"


def test_a_misspelt_notebook_name_is_refused_not_left_out(capsys):
    """`run_notebooks.py 04_reading_handwriting 03_convolutional_network` ran 04 alone and exited 0: the
    misspelt 03 was left out without a word (a review). Only a run where no name matched was refused."""
    spec = importlib.util.spec_from_file_location("run_notebooks", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    real = sorted(p.stem for p in script.NOTEBOOKS.glob("*.py"))[0]
    with pytest.raises(SystemExit) as e:
        script.main([real, "03_convolutional_network"])
    assert e.value.code == 2
    assert "no notebook named 03_convolutional_network in" in capsys.readouterr().err
