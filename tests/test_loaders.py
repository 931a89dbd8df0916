"""The data contract's loaders: typed results, policies, and one clear error per bad input."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CATALOG, PURCHASES, write

from recommender.contract import ContractError
from recommender.loaders import RETURNS, UNKNOWN_ITEMS, load_catalog, load_dataset, load_purchases


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def test_valid_files_load_typed_and_aligned(contract_files):
    purchases_path, catalog_path = contract_files
    data = load_dataset(purchases_path, catalog_path)
    p, c = data.purchases, data.catalog
    assert list(p.columns) == ["user_id", "item_id", "timestamp", "quantity", "order_id", "price", "city", "city_tier"]
    assert isinstance(p.user_id.dtype, pd.CategoricalDtype) and isinstance(p.item_id.dtype, pd.CategoricalDtype)
    assert p.timestamp.dtype == "datetime64[s]"
    assert p.quantity.dtype == np.float32 and p.city_tier.dtype == np.int8
    # item codes are catalog rows
    assert list(p.item_id.cat.categories) == list(c.item_id)
    assert (c.item_id.to_numpy()[p.item_id.cat.codes.to_numpy()] == p.item_id.astype(str).to_numpy()).all()
    assert len(p) == 5  # the return (quantity -1) is excluded


def test_timestamps_iso_epoch_and_offsets_are_utc(contract_files):
    purchases, _ = load_purchases(contract_files[0])
    ts = purchases.timestamp.astype(str).tolist()
    assert ts[0] == "2025-06-01 10:00:00"
    assert ts[2] == "2025-06-01 10:00:00"  # epoch 1748772000
    assert ts[3] == "2025-09-01 08:30:00"
    assert ts[4] == "2025-10-01 04:00:00"  # +08:00 converted to UTC


def test_optional_columns_get_defaults(contract_files):
    purchases, _ = load_purchases(contract_files[0])
    last = purchases.iloc[-1]
    assert last.quantity == 1.0  # empty quantity defaults to 1
    assert last.city == "unknown" and last.city_tier == 0
    assert purchases.city_tier.tolist() == [1, 1, 2, 3, 0]  # "tier 3" is read as 3
    assert np.isnan(purchases.price.iloc[3])


def test_minimal_files_with_only_required_columns(tmp_path):
    p = write(tmp_path / "p.csv", "user_id,item_id,timestamp\na,x,2025-01-01\nb,y,2025-01-02\n")
    c = write(tmp_path / "c.csv", "item_id,title\nx,X\ny,Y\n")
    data = load_dataset(p, c)
    assert data.purchases.quantity.tolist() == [1.0, 1.0]
    assert data.catalog.available.all() and (data.catalog.category == "unknown").all()


def test_catalog_parsing(contract_files):
    catalog, report = load_catalog(contract_files[1])
    assert report.rows_read == 4
    assert catalog.available.tolist() == [True, True, True, False]
    assert catalog.tags.iloc[0] == "handmade;priority_region"
    assert catalog.region.iloc[0] == "Fenghuang County, Hunan"
    assert np.isnan(catalog.price.iloc[3])


def test_returns_are_excluded_and_counted(contract_files):
    _, report = load_purchases(contract_files[0])
    assert report.dropped[RETURNS] == 1
    assert report.rows_read == 6 and report.rows_kept == 5


def test_unknown_items_dropped_and_counted(tmp_path, contract_files):
    purchases_path = write(tmp_path / "p.csv", PURCHASES + "u9,NOPE-1,2025-01-01,1,,,,\nu9,NOPE-2,2025-01-01,1,,,,\n")
    data = load_dataset(purchases_path, contract_files[1])
    assert data.reports[0].dropped[UNKNOWN_ITEMS] == 2
    assert "NOPE-1" not in set(data.purchases.item_id.astype(str))
    assert "dropped 2: item not in the catalog" in data.summary()


def test_unknown_items_added_under_the_add_policy(tmp_path, contract_files):
    purchases_path = write(tmp_path / "p.csv", PURCHASES + "u9,NOPE-1,2025-01-01,1,,,,\n")
    data = load_dataset(purchases_path, contract_files[1], unknown_items="add")
    assert data.catalog.item_id.iloc[-1] == "NOPE-1" and data.catalog.title.iloc[-1] == "NOPE-1"
    assert list(data.purchases.item_id.cat.categories) == list(data.catalog.item_id)
    assert "1 item not in the catalog ('NOPE-1') in 1 purchase line, the first at row 7 (line 8), column 'item_id': " \
           "kept, the items added to the catalog (--unknown-items drop leaves them out)" in data.summary()


def test_without_catalog_a_minimal_one_is_made(contract_files):
    data = load_dataset(contract_files[0])
    assert set(data.catalog.item_id) == {"FH-1", "JDZ-2", "HL-3"}
    assert list(data.purchases.item_id.cat.categories) == list(data.catalog.item_id)


def test_gzip_csv_and_parquet_load_the_same(tmp_path, contract_files):
    plain = load_dataset(*contract_files).purchases
    gz = load_dataset(write(tmp_path / "p.csv.gz", PURCHASES), contract_files[1]).purchases
    pd.testing.assert_frame_equal(plain, gz)
    table = pa.table({
        "user_id": ["u1", "u2"], "item_id": ["FH-1", "HL-3"],
        "timestamp": pa.array([1748772000, 1748775600], pa.int64()), "quantity": [1.0, 2.0],
    })
    pq.write_table(table, tmp_path / "p.parquet")
    native = pa.table({"user_id": ["u1"], "item_id": ["FH-1"],
                       "timestamp": pa.array([pd.Timestamp("2025-06-01 10:00", tz="Asia/Shanghai")],
                                             pa.timestamp("s", tz="Asia/Shanghai"))})
    pq.write_table(native, tmp_path / "native.parquet")
    from_parquet = load_dataset(tmp_path / "p.parquet", contract_files[1]).purchases
    assert from_parquet.timestamp.astype(str).tolist() == ["2025-06-01 10:00:00", "2025-06-01 11:00:00"]
    assert load_purchases(tmp_path / "native.parquet")[0].timestamp.astype(str).tolist() == ["2025-06-01 02:00:00"]


def test_parquet_errors_name_the_row(tmp_path):
    pq.write_table(pa.table({"user_id": ["u1", ""], "item_id": ["a", "b"], "timestamp": ["2025-01-01", "2025-01-02"]}),
                   tmp_path / "p.parquet")
    with pytest.raises(ContractError, match=r"p\.parquet: row 2, column 'user_id': is empty"):
        load_purchases(tmp_path / "p.parquet")


# -- bad input: each case gives one error naming the file, the row and the column ---------------

BAD_PURCHASES = [
    ("missing column", PURCHASES.replace("timestamp", "time"), r"missing required column 'timestamp'"),
    ("unparsable timestamp", replace_line(PURCHASES, 3, "u2,FH-1,2025-13-45,1,o2,35.0,Chengdu,2"),
     r"row 2 \(line 3\), column 'timestamp': cannot be read as an ISO 8601 time or epoch seconds "
     r"\(value '2025-13-45'\)"),
    ("empty timestamp", replace_line(PURCHASES, 2, "u1,FH-1,,1,o1,35.0,Beijing,1"),
     r"row 1 \(line 2\), column 'timestamp': is empty"),
    ("epoch out of range", replace_line(PURCHASES, 2, "u1,FH-1,99999999999,1,o1,35.0,Beijing,1"),
     r"row 1 \(line 2\), column 'timestamp': is out of range"),
    ("empty user id", replace_line(PURCHASES, 4, "  ,FH-1,1748772000,1,o2,35.0,Chengdu,2"),
     r"row 3 \(line 4\), column 'user_id': is empty"),
    ("empty item id", replace_line(PURCHASES, 5, "u3,,2025-09-01,3,o3,,Mianyang,3"),
     r"row 4 \(line 5\), column 'item_id': is empty"),
    ("non-numeric quantity", replace_line(PURCHASES, 5, "u3,HL-3,2025-09-01,three,o3,,Mianyang,3"),
     r"row 4 \(line 5\), column 'quantity': is not a number \(value 'three'\)"),
    ("non-numeric price", replace_line(PURCHASES, 2, "u1,FH-1,2025-06-01,1,o1,cheap,Beijing,1"),
     r"row 1 \(line 2\), column 'price': is not a number \(value 'cheap'\)"),
    ("bad tier", replace_line(PURCHASES, 2, "u1,FH-1,2025-06-01,1,o1,35,Beijing,9"),
     r"row 1 \(line 2\), column 'city_tier': is not a city tier from 1 to 5 \(value '9'\)"),
    ("wrong field count", replace_line(PURCHASES, 3, "u2,FH-1,1748772000,1"),
     r"line 3 has 4 fields where the header has 8"),
    ("header only", PURCHASES.splitlines()[0] + "\n", r"has a header but no rows"),
    ("only returns", PURCHASES.splitlines()[0] + "\nu1,FH-1,2025-01-01,-2,,,,\n",
     r"no usable purchases remain after the policies: dropped 1: return or cancellation"),
]


@pytest.mark.parametrize("case, text, message", BAD_PURCHASES, ids=[c[0] for c in BAD_PURCHASES])
def test_bad_purchases_give_one_clear_error(tmp_path, case, text, message):
    path = write(tmp_path / "purchases.csv", text)
    with pytest.raises(ContractError, match=re.escape(str(path)) + ".*" + message):
        load_purchases(path)


def test_error_counts_every_bad_row(tmp_path):
    text = PURCHASES.replace(",1,o1,", ",x,o1,").replace(",2,o1,", ",y,o1,")
    with pytest.raises(ContractError, match=r"row 1 \(line 2\), column 'quantity'.*2 rows in all have this problem"):
        load_purchases(write(tmp_path / "p.csv", text))


BAD_CATALOGS = [
    ("missing title column", CATALOG.replace(",title,", ",name,"), r"missing required column 'title'"),
    ("duplicate id", replace_line(CATALOG, 4, "FH-1,Another fan,,,,,,,"),
     r"row 3 \(line 4\), column 'item_id': is a duplicate id \(value 'FH-1'\); the id is first at row 1 \(line 2\)"),
    ("empty id", replace_line(CATALOG, 3, ",Celadon tea bowl,,,,,,,"), r"row 2 \(line 3\), column 'item_id': is empty"),
    ("empty title", replace_line(CATALOG, 3, "JDZ-2,  ,,,,,,,"), r"row 2 \(line 3\), column 'title': is empty"),
    ("bad availability", replace_line(CATALOG, 3, "JDZ-2,Bowl,,,,,,,maybe"),
     r"row 2 \(line 3\), column 'available': is not true/false"),
    ("bad price", replace_line(CATALOG, 3, "JDZ-2,Bowl,,,,,free,,"),
     r"row 2 \(line 3\), column 'price': is not a number"),
]


@pytest.mark.parametrize("case, text, message", BAD_CATALOGS, ids=[c[0] for c in BAD_CATALOGS])
def test_bad_catalogs_give_one_clear_error(tmp_path, case, text, message):
    path = write(tmp_path / "catalog.csv", text)
    with pytest.raises(ContractError, match=re.escape(str(path)) + ".*" + message):
        load_catalog(path)


@pytest.mark.parametrize("name, message", [
    ("absent.csv", "no such file"),
    ("data.xlsx", "unknown file type"),
])
def test_unreadable_paths(tmp_path, name, message):
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_bytes(b"PK\x03\x04")
    with pytest.raises(ContractError, match=message):
        load_purchases(path)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "p.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ContractError, match=re.escape(str(path))):
        load_purchases(path)


def test_unknown_policy_is_refused(contract_files):
    with pytest.raises(ValueError, match="unknown_items must be one of"):
        load_purchases(contract_files[0], unknown_items="keep")


@pytest.mark.parametrize("stamps, expected", [
    (["2025-06-01T10:00:00Z", "2025-06-01T10:00:00.750Z"], ["2025-06-01 10:00:00", "2025-06-01 10:00:00"]),
    (["2025-06-01T18:00:00+08:00", "2025-06-02T00:30:00+08:00"], ["2025-06-01 10:00:00", "2025-06-01 16:30:00"]),
    (["2025-06-01 10:00:00", "2025-06-02"], ["2025-06-01 10:00:00", "2025-06-02 00:00:00"]),
    (["1748772000", "1748775600.5"], ["2025-06-01 10:00:00", "2025-06-01 11:00:00"]),
], ids=["utc-fractional", "offsets", "naive", "epoch"])
def test_uniform_timestamp_columns_take_the_fast_path_correctly(tmp_path, stamps, expected):
    text = "user_id,item_id,timestamp,quantity,city_tier\n" + "".join(
        f"u{i},x,{stamp},2,{i + 1}\n" for i, stamp in enumerate(stamps))
    purchases, _ = load_purchases(write(tmp_path / "p.csv", text))
    assert purchases.timestamp.astype(str).tolist() == expected
    assert purchases.quantity.tolist() == [2.0, 2.0] and purchases.city_tier.tolist() == [1, 2]


def test_a_zero_tier_is_refused_even_when_every_value_is_a_number(tmp_path):
    text = "user_id,item_id,timestamp,city_tier\nu1,x,2025-01-01,1\nu2,x,2025-01-01,0\n"
    with pytest.raises(ContractError, match=r"row 2 \(line 3\), column 'city_tier': is not a city tier"):
        load_purchases(write(tmp_path / "p.csv", text))
