"""`recommender validate`: a summary for usable files, a clear error and exit 2 for unusable ones."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from conftest import PURCHASES, write

from recommender.cli import build_parser, main


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
    assert "3 items not in the catalog ('FH-1', 'JDZ-2', 'HL-3') in 5 purchase lines, the first at row 1 (line 2), " \
           "column 'item_id': dropped (--unknown-items add keeps them" in err
    assert main(["validate", "--purchases", str(semicolons), "--catalog", str(catalog), "--unknown-items", "add"]) == 0


SHOP_EXPORT = "user_id;item_id;timestamp;price\nu1;FH-1;31/01/2025 14:05;35,50\nu2;FH-1;01/02/2025 09:00;12\n"


def test_validate_reads_a_shop_export_with_the_options_its_errors_name(tmp_path, capsys):
    path = write(tmp_path / "export.csv", SHOP_EXPORT)
    assert main(["validate", "--purchases", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: row 1 (line 2), column 'timestamp': cannot be read as an ISO 8601 time or epoch seconds "
        "(value '31/01/2025 14:05'); 2 rows in all have this problem; use --date-format, e.g. --date-format "
        "'%d/%m/%Y %H:%M', which reads them\n")
    assert main(["validate", "--purchases", str(path), "--date-format", "%d/%m/%Y %H:%M"]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {path}: row 1 (line 2), column 'price': is not a number (value '35,50'); if the file writes "
        "decimals with a comma (35,50 for 35.50, as a spreadsheet set to a European locale does), use --decimal-comma")
    assert main(["validate", "--purchases", str(path), "--date-format", "%d/%m/%Y %H:%M", "--decimal-comma"]) == 0
    assert "date range: 2025-01-31 14:05:00 .. 2025-02-01 09:00:00" in capsys.readouterr().out


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    return next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)).choices


def test_every_command_that_reads_purchase_files_takes_the_file_options():
    readers = {name for name, parser in _subcommands().items()  # demo-data's --purchases is a number
               if any(action.dest in ("purchases", "traffic") and action.type is not int for action in parser._actions)}
    assert readers >= {"validate", "train", "evaluate", "tune", "evaluate-buy-again", "evaluate-audiences", "forecast",
                       "forecast-backtest", "forecast-publish", "simulate-campaign", "simulate-lot"}
    for name in readers:
        options = {option for action in _subcommands()[name]._actions for option in action.option_strings}
        assert {"--unknown-items", "--date-format", "--decimal-comma"} <= options, name


@pytest.mark.parametrize("command", [["train", "--out", "model"], ["forecast", "--out", "forecast.csv"]])
def test_other_commands_read_a_shop_export_with_the_same_options(tmp_path, capsys, command):
    purchases = write(tmp_path / "export.csv", SHOP_EXPORT.replace("35,50", "35,50x"))  # refused after the dates
    catalog = write(tmp_path / "catalog.csv", "item_id;title;price\nFH-1;Palm-leaf fan;35,5\n")
    arguments = [command[0], "--purchases", str(purchases), "--catalog", str(catalog), *command[1:]]
    assert main(arguments) == 2  # the catalog is read first
    assert capsys.readouterr().err.startswith(f"error: {catalog}: row 1 (line 2), column 'price': is not a number "
                                              "(value '35,5'); if the file writes decimals with a comma")
    assert main([*arguments, "--decimal-comma"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {purchases}: row 1 (line 2), column 'timestamp': cannot be "
                                              "read as an ISO 8601 time")
    assert main([*arguments, "--date-format", "%d/%m/%Y %H:%M", "--decimal-comma"]) == 2
    assert capsys.readouterr().err == (  # the catalog's price was read; the purchases' bad price is named
        f"error: {purchases}: row 1 (line 2), column 'price': is not a number (value '35,50x'); read with "
        "--decimal-comma: a decimal comma and no thousands separator, such as 1234,50\n")


def test_spark_training_refuses_the_shop_export_options(tmp_path, capsys):
    arguments = ["train", "--purchases", "p.csv", "--catalog", "c.csv", "--out", str(tmp_path / "m"),
                 "--backend", "spark", "--decimal-comma"]
    assert main(arguments) == 2
    assert "--date-format and --decimal-comma are read on one machine: leave out --backend spark" in \
        capsys.readouterr().err
