"""docs/reliability.md's fault table promises a test for every row: each row names at least one, and each test
it names is defined in the file it names (a renamed or deleted test leaves a row without its check)."""
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
REPO = DOC.parent.parent


def table():
    text = DOC.read_text()
    key = text[text.index("Test files:"):text.index("## The fault table")]
    files = dict(re.findall(r"`([A-Z])` = (tests/[\w/]+\.py)", key))
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    return files, rows


def test_every_row_of_the_fault_table_names_tests_that_exist():
    files, rows = table()
    assert len(files) >= 5 and len(rows) >= 100  # the table and its key were found
    numbers = [int(row.split("|")[1]) for row in rows]
    assert numbers == sorted(set(numbers)), "rows out of order or numbered twice"
    missing = []
    for row in rows:
        named = re.findall(r"(tests/[\w/]+\.py|\b[A-Z])::(\w+)", row.split("|")[-2])
        if not named:
            missing.append(f"row {row.split('|')[1].strip()}: names no test")
        for file, test in named:
            source = (REPO / files.get(file, file)).read_text()
            if not re.search(rf"^(async )?def {test}\(", source, re.MULTILINE):
                missing.append(f"row {row.split('|')[1].strip()}: {file}::{test}")
    assert not missing, missing
