"""keep_freed_memory: freed NumPy arrays are reused by the next ones, not handed back to the kernel and
faulted in again (counted in minor page faults, in a fresh process: the setting is process-wide)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CYCLES = """
import resource, sys
import numpy as np
from digitnet.allocator import keep_freed_memory
done = keep_freed_memory() if sys.argv[1] == "keep" else None
a = np.ones(1 << 21, np.float32); del a  # 8 MB, the size of a big activation: allocated, written, freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(1 << 21, np.float32)
    del a
print(done, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", CYCLES, mode], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt; elsewhere it answers False")
def test_freed_arrays_are_reused_not_faulted_in_again():
    done, kept = page_faults("keep")
    if done != "True":
        pytest.skip("not glibc: keep_freed_memory did nothing")
    _, default = page_faults("default")
    assert default >= 20  # without it, every 8 MB array comes back from the kernel as fresh pages
    assert kept < default / 10
