"""Execute the notebooks: notebooks/*.py (jupytext percent format) -> OUT/NAME.ipynb with their outputs.

Each notebook is converted by jupytext and run top to bottom by nbclient in a fresh kernel of this
Python (so it imports the digitnet installed here), with the notebooks/ folder as its working
directory, as `jupyter lab notebooks/` would run it. A cell that raises stops that notebook and makes
this script exit 1; the others still run. Prints each notebook's time.

    python scripts/run_notebooks.py [--out build/notebooks] [--timeout 900] [NAME ...]

DIGITNET_QUICK=1 in the environment gives the notebooks' quick mode (the kernel inherits the environment).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def execute(source, out_dir, timeout):
    """Run one notebook; returns (seconds, error or None, the .ipynb written).

    A notebook that ran to the end is written as OUT/NAME.ipynb; one that failed as OUT/NAME.failed.ipynb
    (its outputs up to the failing cell), so that a failed run never passes for a good one."""
    import jupytext
    import nbclient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(source)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(source.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as e:  # the cell's traceback, as Jupyter shows it
        error = str(e)
    except (TimeoutError, RuntimeError) as e:  # a cell past the timeout, a kernel that died
        error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - start
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    good, failed = out_dir / (source.stem + ".ipynb"), out_dir / (source.stem + ".failed.ipynb")
    for stale in (good, failed):
        stale.unlink(missing_ok=True)
    written = failed if error else good
    nbformat.write(nb, written)
    return seconds, error, written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: every notebooks/*.py)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "notebooks")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may take")
    args = parser.parse_args(argv)
    sources = sorted(NOTEBOOKS.glob("*.py"))
    if args.names:
        unknown = [name for name in args.names if not any(name in (s.stem, s.name) for s in sources)]
        if unknown:  # before: a misspelt name among others was left out, and the run said nothing of it
            parser.error(f"no notebook named {', '.join(unknown)} in {NOTEBOOKS} "
                         f"(there are {', '.join(s.stem for s in sources)})")
        sources = [s for s in sources if s.stem in args.names or s.name in args.names]
    mode = "quick" if os.environ.get("DIGITNET_QUICK", "") == "1" else "full"
    failed = []
    for source in sources:
        print(f"{source.name}: running ({mode} mode)", flush=True)
        seconds, error, written = execute(source, args.out, args.timeout)
        if error:
            failed.append(source.name)
            print(error, file=sys.stderr)
        print(f"{source.name}: {'FAILED' if error else 'ok'} in {seconds:.1f} s -> {written}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
