"""What a new user's usual mistakes get: a file in another encoding is refused with the encoding it probably is
in and the advice to save it as UTF-8; a file separated by semicolons, tabs or ``|`` loads; a number with a
decimal comma is refused with the fix; purchases of items
missing from the catalog are shown with examples, their first row and the other ``--unknown-items`` policy."""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CATALOG, PURCHASES, write

from recommender.contract import ContractError
from recommender.loaders import load_catalog, load_dataset, load_purchases

SUFFIXES = ("csv", "csv.gz")


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def error_of(load, *args, **kwargs) -> str:
    with pytest.raises(ContractError) as raised:
        load(*args, **kwargs)
    return str(raised.value)


# -- encodings ---------------------------------------------------------------------------------------------------------

CELLS_IN_OTHER_ENCODINGS = [
    ("Zürich", "latin-1", "Latin-1 (Windows-1252)"),
    ("Ñandú", "latin-1", "Latin-1 (Windows-1252)"),  # Ña would be one Chinese character in GBK: the 'a' is ASCII
    ("Müßig", "cp1252", "Latin-1 (Windows-1252)"),  # üß would be a private-use character in GBK
    ("成都", "gbk", "GBK (GB18030)"),
    ("景德镇，江西", "gb18030", "GBK (GB18030)"),
]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("city, encoding, name", CELLS_IN_OTHER_ENCODINGS, ids=[c[0] for c in CELLS_IN_OTHER_ENCODINGS])
def test_a_cell_in_another_encoding_names_its_row_the_encoding_and_the_fix(tmp_path, suffix, city, encoding, name):
    text = PURCHASES.replace("Chengdu", city)  # row 3, line 4: the first of the city's two rows
    path = write_bytes(tmp_path / f"purchases.{suffix}", text.encode(encoding))
    as_utf8 = city.encode(encoding).decode("utf-8", "replace")
    assert error_of(load_purchases, path) == (
        f"{path}: row 3 (line 4), column 'city': is not UTF-8 text (value {as_utf8!r}); "
        f"the file is probably {name}, in which this reads {city!r}: save the file as UTF-8")


def test_bytes_of_no_likely_encoding_still_get_the_fix(tmp_path):
    path = write_bytes(tmp_path / "purchases.csv", PURCHASES.replace("Chengdu", "Chengdu\x81").encode("latin-1"))
    assert error_of(load_purchases, path) == (
        f"{path}: row 3 (line 4), column 'city': is not UTF-8 text (value 'Chengdu\ufffd'); save the file as UTF-8")


HEADERS_IN_OTHER_ENCODINGS = [
    ("utf-16", "UTF-16"),  # what Excel's "Unicode text" saves: little-endian, with a byte-order mark
    ("utf-16-le", "UTF-16"),
    ("latin-1", "Latin-1 (Windows-1252)"),
]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("encoding, name", HEADERS_IN_OTHER_ENCODINGS, ids=[h[0] for h in HEADERS_IN_OTHER_ENCODINGS])
def test_a_header_in_another_encoding_names_the_encoding_and_the_fix(tmp_path, suffix, encoding, name):
    text = "user_id,item_id,timestamp,Straße\nu1,FH-1,2025-06-01,Hauptstraße 1\n"
    path = write_bytes(tmp_path / f"purchases.{suffix}", text.encode(encoding))
    assert error_of(load_purchases, path) == (
        f"{path}: the header (line 1) is not UTF-8 text; the file is probably {name}, in which this reads "
        f"'user_id,item_id,timestamp,Straße': save the file as UTF-8")


def test_a_gbk_header_reads_as_chinese(tmp_path):
    path = write_bytes(tmp_path / "catalog.csv", "item_id,title,地区\nFH-1,扇子,湖南\n".encode("gbk"))
    assert error_of(load_catalog, path) == (
        f"{path}: the header (line 1) is not UTF-8 text; the file is probably GBK (GB18030), in which this reads "
        f"'item_id,title,地区': save the file as UTF-8")


def test_a_parquet_text_column_in_another_encoding(tmp_path):
    table = pa.table({"user_id": ["u1", "u2"], "item_id": ["FH-1", "FH-1"], "timestamp": ["2025-06-01"] * 2,
                      "city": pa.array([b"Beijing", "成都".encode("gbk")], pa.binary())})
    pq.write_table(table, tmp_path / "purchases.parquet")
    assert error_of(load_purchases, tmp_path / "purchases.parquet") == (
        f"{tmp_path / 'purchases.parquet'}: row 2, column 'city': is not UTF-8 text (value '\ufffdɶ\ufffd'); "
        "the file is probably GBK (GB18030), in which this reads '成都': save the file as UTF-8")


# -- field separators --------------------------------------------------------------------------------------------------

def separated(text: str, delimiter: str) -> str:
    """The comma-separated ``text`` with ``delimiter`` between its fields, quoted as a spreadsheet saves it."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(csv.reader(io.StringIO(text)))
    return out.getvalue()


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_files_separated_by_semicolons_tabs_or_pipes_load_as_with_commas(tmp_path, suffix, delimiter):
    assert separated(CATALOG, ";").splitlines()[1].endswith('"handmade;priority_region";true')  # tags quoted
    purchases = write(tmp_path / f"purchases.{suffix}", separated(PURCHASES, delimiter))
    catalog = write(tmp_path / f"catalog.{suffix}", separated(CATALOG, delimiter))
    expected = load_dataset(write(tmp_path / "comma_purchases.csv", PURCHASES),
                            write(tmp_path / "comma_catalog.csv", CATALOG))
    loaded = load_dataset(purchases, catalog)
    pd.testing.assert_frame_equal(loaded.purchases, expected.purchases)
    pd.testing.assert_frame_equal(loaded.catalog, expected.catalog)


def test_the_separator_is_the_one_the_header_line_holds_most_of_and_the_comma_on_a_tie(tmp_path):
    tie = write(tmp_path / "tie.csv", 'user_id,item_id,timestamp,"a;b;c"\nu1,FH-1,2025-06-01,x;y\n')
    assert load_purchases(tie)[0].item_id.astype(str).tolist() == ["FH-1"]
    commas_in_names = write(tmp_path / "names.csv", 'user_id;item_id;timestamp;"price, CNY"\nu1;FH-1;2025-06-01;3\n')
    assert load_purchases(commas_in_names)[0].user_id.astype(str).tolist() == ["u1"]


def test_a_row_of_a_semicolon_file_with_a_wrong_field_count_is_named_by_its_line(tmp_path):
    text = separated(PURCHASES, ";").replace("u2;FH-1;1748772000;1;o2;35.0;Chengdu;2", "u2;FH-1;1748772000")
    path = write(tmp_path / "purchases.csv.gz", text)
    assert error_of(load_purchases, path).startswith(f"{path}: line 4 has 3 fields where the header has 8 ")


@pytest.mark.parametrize("price", ["35,50", "1,234.5", "-2,5"])
def test_a_number_with_a_comma_names_the_decimal_point_fix(tmp_path, price):
    text = separated(PURCHASES, ";").replace("u2;FH-1;1748772000;1;o2;35.0;", f"u2;FH-1;1748772000;1;o2;{price};")
    message = error_of(load_purchases, write(tmp_path / "purchases.csv", text))
    assert "row 3 (line 4), column 'price': is not a number: write numbers with a decimal point" in message
    assert repr(price) in message and "European locale writes 35,50 for 35.50" in message


def test_other_bad_numbers_get_no_comma_hint(tmp_path):
    text = PURCHASES.replace("u2,FH-1,1748772000,1,o2,35.0,", "u2,FH-1,1748772000,1,o2,thirty,")
    message = error_of(load_purchases, write(tmp_path / "purchases.csv", text))
    assert "column 'price': is not a number" in message and "decimal point" not in message


# -- items missing from the catalog ------------------------------------------------------------------------------------

def test_purchases_only_of_unknown_items_name_examples_the_first_row_and_the_add_option(tmp_path, contract_files):
    lines = "".join(f"u{n},NEW-{n % 7},2025-07-01,1\n" for n in range(20))
    path = write(tmp_path / "purchases.csv", "user_id,item_id,timestamp,quantity\nu0,NEW-9,2025-07-01,-1\n" + lines)
    assert error_of(load_dataset, path, contract_files[1]) == (
        f"{path}: no usable purchases remain after the policies: dropped 1: return or cancellation (quantity <= 0); "
        "dropped 20: item not in the catalog; 7 items not in the catalog ('NEW-0', 'NEW-1', 'NEW-2', 'NEW-3', "
        "'NEW-4', ...) in 20 purchase lines, the first at row 2, column 'item_id': dropped (--unknown-items add "
        "keeps them and adds the items to the catalog)")


@pytest.mark.parametrize("policy, outcome", [
    ("drop", "dropped (--unknown-items add keeps them and adds the items to the catalog)"),
    ("add", "kept, the items added to the catalog (--unknown-items drop leaves them out)"),
])
def test_some_unknown_items_are_shown_in_the_summary_with_the_other_option(tmp_path, contract_files, policy, outcome):
    path = write(tmp_path / "purchases.csv", PURCHASES + "u5,NEW-1,2025-07-01,1,,,,\nu6,NEW-1,2025-07-02,1,,,,\n")
    summary = load_dataset(path, contract_files[1], unknown_items=policy).summary()
    assert ("  1 item not in the catalog ('NEW-1') in 2 purchase lines, the first at row 7, column 'item_id': "
            f"{outcome}") in summary.splitlines()
