"""`recommender validate`: a summary for usable files, a clear error and exit 2 for unusable ones."""
from __future__ import annotations

import subprocess
import sys

from conftest import PURCHASES, write

from recommender.cli import main


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
    result = subprocess.run([sys.executable, "-m", "recommender.cli", "validate",
                             "--purchases", str(contract_files[0])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "5 lines" in result.stdout


def test_validate_reads_a_semicolon_file_and_gives_hints_for_another_encoding_and_unknown_items(tmp_path, capsys):
    semicolons = write(tmp_path / "semicolons.csv", PURCHASES.replace(",", ";"))
    assert main(["validate", "--purchases", str(semicolons)]) == 0
    assert f"{semicolons}: 6 rows read, 5 kept" in capsys.readouterr().out

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(PURCHASES.replace("Mianyang", "Zürich").encode("latin-1"))
    assert main(["validate", "--purchases", str(latin1)]) == 2
    assert capsys.readouterr().err == (
        f"error: {latin1}: row 4 (line 5), column 'city': is not UTF-8 text (value 'Z\ufffdrich'); the file is "
        "probably Latin-1 (Windows-1252), in which this reads 'Zürich': save the file as UTF-8\n")

    catalog = write(tmp_path / "catalog.csv", "item_id,title\nOTHER-1,Other\n")
    assert main(["validate", "--purchases", str(semicolons), "--catalog", str(catalog)]) == 2
    err = capsys.readouterr().err
    assert "3 items not in the catalog ('FH-1', 'JDZ-2', 'HL-3') in 5 purchase lines, the first at row 1, " \
           "column 'item_id': dropped (--unknown-items add keeps them" in err
    assert main(["validate", "--purchases", str(semicolons), "--catalog", str(catalog), "--unknown-items", "add"]) == 0
