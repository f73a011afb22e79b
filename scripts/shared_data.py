"""Where the measuring scripts find the official MNIST test set, and how they read it: the folder in
$DIGITNET_TEST_DATA, else ../shared/data/mnist-10k beside the clone (the project's copy). Any folder of MNIST's
four IDX files, gzipped or not, does. One home for accuracy.py, make_pretrained.py, read_accuracy.py and
rejection_report.py, which each looked for one gzipped file (a folder of plain files was "missing") and
gave a traceback for a folder with some files missing."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDER = Path(os.environ.get("DIGITNET_TEST_DATA") or REPO.parent / "shared" / "data" / "mnist-10k")


def official_test_set(**options):
    """(the dataset in FOLDER, None), or (None, why it cannot be read, in one line). options: load_dataset's."""
    from digitnet.data import load_dataset
    from digitnet.errors import DataError

    if not FOLDER.is_dir():
        return None, f"{FOLDER}: no such folder (set DIGITNET_TEST_DATA to a folder of MNIST's four IDX files)"
    try:
        return load_dataset(FOLDER, **options), None
    except DataError as e:
        return None, str(e)
