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

from recommender.contract import ContractError, FileFormat
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
def test_a_number_with_a_comma_names_the_decimal_comma_option(tmp_path, price):
    text = separated(PURCHASES, ";").replace("u2;FH-1;1748772000;1;o2;35.0;", f"u2;FH-1;1748772000;1;o2;{price};")
    path = write(tmp_path / "purchases.csv", text)
    assert error_of(load_purchases, path) == (
        f"{path}: row 3 (line 4), column 'price': is not a number (value {price!r}); if the file writes decimals "
        "with a comma (35,50 for 35.50, as a spreadsheet set to a European locale does), use --decimal-comma; a "
        "thousands separator (1,234.50) must be removed")


def test_other_bad_numbers_get_no_comma_hint(tmp_path):
    text = PURCHASES.replace("u2,FH-1,1748772000,1,o2,35.0,", "u2,FH-1,1748772000,1,o2,thirty,")
    message = error_of(load_purchases, write(tmp_path / "purchases.csv", text))
    assert message.endswith("column 'price': is not a number (value 'thirty')")


# -- a shop export's decimal commas and date formats -------------------------------------------------------------------

DECIMAL_COMMA = FileFormat(decimal_comma=True)
SHOP_PURCHASES = """user_id;item_id;timestamp;quantity;price
u1;FH-1;01/02/2025 02:02;1;35,50
u2;JDZ-2;13/02/2025 18:30;0,5;1200
u3;FH-1;28/02/2025 00:00;2;
"""
SHOP_CATALOG = "item_id;title;price\nFH-1;Palm-leaf fan;35,5\nJDZ-2;Celadon tea bowl;-\n"


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_a_shop_export_loads_with_its_date_format_and_decimal_comma(tmp_path, suffix):
    path = tmp_path / f"purchases.{suffix}"
    if suffix == "parquet":
        pd.read_csv(io.StringIO(SHOP_PURCHASES), sep=";", dtype=str).to_parquet(path)
    else:
        write_bytes(path, SHOP_PURCHASES.encode())
    frame, _ = load_purchases(path, file_format=FileFormat("%d/%m/%Y %H:%M", decimal_comma=True))
    assert frame.timestamp.astype(str).tolist() == ["2025-02-01 02:02:00", "2025-02-13 18:30:00",
                                                    "2025-02-28 00:00:00"]
    assert frame.quantity.tolist() == [1.0, 0.5, 2.0] and frame.price.tolist()[:2] == [35.5, 1200.0]
    catalog = write(tmp_path / "catalog.csv", SHOP_CATALOG.replace(";-", ";12,75"))
    assert load_catalog(catalog, DECIMAL_COMMA)[0].price.tolist() == [35.5, 12.75]


def test_without_its_date_format_a_shop_export_is_refused_with_the_format_that_reads_it(tmp_path):
    path = write(tmp_path / "purchases.csv", SHOP_PURCHASES)
    assert error_of(load_purchases, path, file_format=DECIMAL_COMMA) == (
        f"{path}: row 1 (line 2), column 'timestamp': cannot be read as an ISO 8601 time or epoch seconds (value "
        "'01/02/2025 02:02'); 3 rows in all have this problem; use --date-format, e.g. --date-format "
        "'%d/%m/%Y %H:%M', which reads them")  # 13/02 rules the month first out
    ambiguous = write(tmp_path / "ambiguous.csv", SHOP_PURCHASES.replace("13/02", "12/02").replace("28/02", "03/02"))
    assert error_of(load_purchases, ambiguous, file_format=DECIMAL_COMMA).endswith(
        "use --date-format, e.g. --date-format '%d/%m/%Y %H:%M', which reads them (so does '%m/%d/%Y %H:%M': "
        "choose the order of day and month your file writes)")
    other = write(tmp_path / "other.csv", SHOP_PURCHASES.replace("01/02/2025 02:02", "1 Feb 2025, 2:02 am"))
    assert error_of(load_purchases, other, file_format=DECIMAL_COMMA).endswith(
        "(value '1 Feb 2025, 2:02 am'); 3 rows in all have this problem; use --date-format, e.g. --date-format "
        "'%d/%m/%Y %H:%M', with the strftime codes the file's times are written in")


def test_a_time_that_does_not_match_the_date_format_is_named_with_one_that_reads_it(tmp_path):
    path = write(tmp_path / "purchases.csv", SHOP_PURCHASES)
    assert error_of(load_purchases, path, file_format=FileFormat("%m/%d/%Y %H:%M", decimal_comma=True)) == (
        f"{path}: row 2 (line 3), column 'timestamp': does not match --date-format '%m/%d/%Y %H:%M' (value "
        "'13/02/2025 18:30'); 2 rows in all have this problem; use --date-format, e.g. --date-format "
        "'%d/%m/%Y %H:%M', which reads them")
    zoned = write(tmp_path / "zoned.csv", "user_id,item_id,timestamp\nu1,FH-1,01.02.2025 10:00 +0800\n")
    frame, _ = load_purchases(zoned, file_format=FileFormat("%d.%m.%Y %H:%M %z"))
    assert frame.timestamp.astype(str).tolist() == ["2025-02-01 02:00:00"]  # UTC


def test_a_decimal_comma_in_the_optional_price_column_names_the_option_and_then_loads(tmp_path):
    catalog = write(tmp_path / "catalog.csv", SHOP_CATALOG)
    assert error_of(load_catalog, catalog) == (
        f"{catalog}: row 1 (line 2), column 'price': is not a number (value '35,5'); 2 rows in all have this "
        "problem; if the file writes decimals with a comma (35,50 for 35.50, as a spreadsheet set to a European "
        "locale does), use --decimal-comma; a thousands separator (1,234.50) must be removed")
    assert error_of(load_catalog, catalog, DECIMAL_COMMA) == (  # what the option reads
        f"{catalog}: row 2 (line 3), column 'price': is not a number (value '-'); read with --decimal-comma: a "
        "decimal comma and no thousands separator, such as 1234,50")
    thousands = write(tmp_path / "thousands.csv", SHOP_CATALOG.replace(";-", ";1.234,50"))
    assert "(value '1.234,50'); read with --decimal-comma" in error_of(load_catalog, thousands, DECIMAL_COMMA)


def test_a_duplicate_catalog_id_names_both_lines(tmp_path):
    path = write(tmp_path / "catalog.csv", CATALOG + "JDZ-2,Another bowl,,,,,,,\nJDZ-2,A third,,,,,,,\n")
    assert error_of(load_catalog, path) == (
        f"{path}: row 5 (line 6), column 'item_id': is a duplicate id (value 'JDZ-2'); 2 rows in all have this "
        "problem; the id is first at row 2 (line 3); each item id names one catalog row")


@pytest.mark.parametrize("load, text, found", [
    (load_purchases, "buyer,item_id,timestamp\nu1,FH-1,2025-06-01\n", "buyer, item_id, timestamp"),
    (load_catalog, "sku;name\nFH-1;Palm-leaf fan\n", "sku, name"),
])
def test_a_missing_column_lists_the_columns_found(tmp_path, load, text, found):
    path = write(tmp_path / "file.csv", text)
    assert error_of(load, path).startswith(f"{path}: missing required column")
    assert error_of(load, path).endswith(f"(found: {found})")


# -- items missing from the catalog ------------------------------------------------------------------------------------

def test_purchases_only_of_unknown_items_name_examples_the_first_row_and_the_add_option(tmp_path, contract_files):
    lines = "".join(f"u{n},NEW-{n % 7},2025-07-01,1\n" for n in range(20))
    path = write(tmp_path / "purchases.csv", "user_id,item_id,timestamp,quantity\nu0,NEW-9,2025-07-01,-1\n" + lines)
    assert error_of(load_dataset, path, contract_files[1]) == (
        f"{path}: no usable purchases remain after the policies: dropped 1: return or cancellation (quantity <= 0); "
        "dropped 20: item not in the catalog; 7 items not in the catalog ('NEW-0', 'NEW-1', 'NEW-2', 'NEW-3', "
        "'NEW-4', ...) in 20 purchase lines, the first at row 2 (line 3), column 'item_id': dropped (--unknown-items "
        "add keeps them and adds the items to the catalog)")


@pytest.mark.parametrize("policy, outcome", [
    ("drop", "dropped (--unknown-items add keeps them and adds the items to the catalog)"),
    ("add", "kept, the items added to the catalog (--unknown-items drop leaves them out)"),
])
def test_some_unknown_items_are_shown_in_the_summary_with_the_other_option(tmp_path, contract_files, policy, outcome):
    path = write(tmp_path / "purchases.csv", PURCHASES + "u5,NEW-1,2025-07-01,1,,,,\nu6,NEW-1,2025-07-02,1,,,,\n")
    summary = load_dataset(path, contract_files[1], unknown_items=policy).summary()
    assert ("  1 item not in the catalog ('NEW-1') in 2 purchase lines, the first at row 7 (line 8), column "
            f"'item_id': {outcome}") in summary.splitlines()
