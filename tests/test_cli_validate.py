"""`recommender validate`: a summary for usable files, a clear error and exit 2 for unusable ones."""
from __future__ import annotations

import subprocess
import sys

from conftest import PURCHASES, write
from training.cli import main


def test_validate_prints_summary(contract_files, capsys):
    purchases, catalog = contract_files
    assert main(["validate", "--purchases", str(purchases), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "6 rows read, 5 kept" in out
    assert "dropped 1: return or cancellation (quantity <= 0)" in out
    assert "4 buyers" in out and "4 in the catalog (3 available)" in out
    assert "date range: 2025-06-01 10:00:00 .. 2025-10-01 04:00:00" in out


def test_validate_fails_with_file_row_and_column(tmp_path, capsys):
    bad = write(tmp_path / "p.csv", PURCHASES.replace("2025-09-02", "yesterday"))
    assert main(["validate", "--purchases", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: row 5 (line 6), column 'timestamp'" in err and "'yesterday'" in err


def test_console_script_entry_point_runs(contract_files):
    result = subprocess.run([sys.executable, "-m", "training.cli", "validate", "--purchases", str(contract_files[0])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "5 lines" in result.stdout
