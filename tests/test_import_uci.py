"""The UCI Online Retail importer: a hand-written fixture, the real file, and the loader round trip."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from recommender.cli import main
from recommender.contract import ContractError
from recommender.importers import ImportReport, import_online_retail
from recommender.importers.uci_online_retail import NO_CUSTOMER, NO_PRICE, NON_PRODUCT
from recommender.loaders import RETURNS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_FILE = PROJECT_ROOT.parent / "shared" / "data" / "uci_online_retail" / "online_retail.csv.gz"

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
FIXTURE = HEADER + """\
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom
536366,85123a,WHITE HANGING  HEART T-LIGHT HOLDER  ,2,2010-12-01 09:00:00,2.95,13047,France
536367,85123A,CREAM HANGING HEART T-LIGHT HOLDER,4,2010-12-02 10:00:00,2.55,13047,France
536368,71053,WHITE METAL LANTERN,3,2010-12-02 11:00:00,3.39,,United Kingdom
C536379,71053,WHITE METAL LANTERN,-1,2010-12-03 09:41:00,3.39,17850,United Kingdom
536370,POST,POSTAGE,3,2010-12-03 10:00:00,18.0,12583,France
536371,22423,REGENCY CAKESTAND 3 TIER,1,2010-12-03 11:00:00,0.0,12583,France
536372,23444,Next Day Carriage,1,2010-12-04 10:00:00,15.0,12583,France
536373,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2010-12-04 11:00:00,16.67,,United Kingdom
536374,M,Manual,1,2010-12-05 11:00:00,0.0,12583,Unspecified
536375,15056bl,"EDWARDIAN PARASOL BLACK",2,2010-12-05 12:00:00,5.95,12583,Unspecified
A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom
536376,22423,REGENCY CAKESTAND 3 TIER,2,2010-12-06 10:00:00,12.75,12583,France
C536377,22960,JAM MAKING SET WITH JARS,-2,2010-12-06 11:00:00,4.25,17850,United Kingdom
536378,85123A,WHITE HANGING HEART T-LIGHT HOLDER,1,2010-12-07 10:00:00,3.0,17850,United Kingdom
"""

EXPECTED_PURCHASES = [
    # user_id, item_id, timestamp, quantity, order_id, price, city, city_tier
    ["17850", "85123A", "2010-12-01T08:26:00Z", "6", "536365", "2.55", "United Kingdom", ""],
    ["17850", "71053", "2010-12-01T08:26:00Z", "6", "536365", "3.39", "United Kingdom", ""],
    ["13047", "85123A", "2010-12-01T09:00:00Z", "2", "536366", "2.95", "France", ""],
    ["13047", "85123A", "2010-12-02T10:00:00Z", "4", "536367", "2.55", "France", ""],
    ["17850", "71053", "2010-12-03T09:41:00Z", "-1", "C536379", "3.39", "United Kingdom", ""],
    ["12583", "15056BL", "2010-12-05T12:00:00Z", "2", "536375", "5.95", "", ""],
    ["12583", "22423", "2010-12-06T10:00:00Z", "2", "536376", "12.75", "France", ""],
    ["17850", "22960", "2010-12-06T11:00:00Z", "-2", "C536377", "4.25", "United Kingdom", ""],
    ["17850", "85123A", "2010-12-07T10:00:00Z", "1", "536378", "3", "United Kingdom", ""],
]

EXPECTED_CATALOG = [
    # item_id, title, description, category, region, merchant_id, price, tags, available
    ["15056BL", "EDWARDIAN PARASOL BLACK", "", "", "", "", "5.95", "", "true"],
    ["22423", "REGENCY CAKESTAND 3 TIER", "", "", "", "", "12.75", "", "true"],
    ["22960", "JAM MAKING SET WITH JARS", "", "", "", "", "4.25", "", "true"],
    ["71053", "WHITE METAL LANTERN", "", "", "", "", "3.39", "", "true"],
    ["85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "CREAM HANGING HEART T-LIGHT HOLDER", "", "", "", "2.75", "",
     "true"],
]

PURCHASE_COLUMNS = ["user_id", "item_id", "timestamp", "quantity", "order_id", "price", "city", "city_tier"]
CATALOG_COLUMNS = ["item_id", "title", "description", "category", "region", "merchant_id", "price", "tags",
                   "available"]


def _read_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write_fixture(path: Path, text: str = FIXTURE) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def fixture_import(tmp_path) -> ImportReport:
    source = _write_fixture(tmp_path / "online_retail.csv.gz")
    return import_online_retail(source, tmp_path / "out")


# --- the hand-written fixture ------------------------------------------------------------------

def test_fixture_counts(fixture_import, tmp_path):
    report = fixture_import
    assert report.rows_read == 16
    assert report.dropped == {NO_CUSTOMER: 3, NON_PRODUCT: 3, NO_PRICE: 1}
    assert report.purchases_written == 9
    assert report.rows_read - sum(report.dropped.values()) == report.purchases_written
    assert report.items_written == 5
    assert report.customers == 3
    assert report.nonpositive_quantity == 2
    assert report.paths == {"purchases": tmp_path / "out" / "purchases.csv.gz",
                            "catalog": tmp_path / "out" / "catalog.csv"}
    summary = report.summary()
    assert "16 rows read" in summary and NON_PRODUCT in summary and "9 purchase lines" in summary


def test_fixture_purchases_file(fixture_import):
    purchases = _read_text(fixture_import.paths["purchases"])
    assert list(purchases.columns) == PURCHASE_COLUMNS
    assert purchases.values.tolist() == EXPECTED_PURCHASES


def test_fixture_catalog_file(fixture_import):
    catalog = _read_text(fixture_import.paths["catalog"])
    assert list(catalog.columns) == CATALOG_COLUMNS
    assert catalog.values.tolist() == EXPECTED_CATALOG


def test_plain_csv_input_and_uncompressed_output(tmp_path, fixture_import):
    source = _write_fixture(tmp_path / "online_retail.csv")
    report = import_online_retail(source, tmp_path / "plain", compress=False)
    assert report.paths["purchases"] == tmp_path / "plain" / "purchases.csv"
    assert report.dropped == fixture_import.dropped
    assert _read_text(report.paths["purchases"]).equals(_read_text(fixture_import.paths["purchases"]))
    assert _read_text(report.paths["catalog"]).equals(_read_text(fixture_import.paths["catalog"]))


def test_month_day_year_dates_and_float_customer_ids(tmp_path):
    source = _write_fixture(tmp_path / "export.csv", HEADER + (
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
        "536366,71053,WHITE METAL LANTERN,1,12/9/2011 12:50:30,3.39,13047.0,France\n"))
    report = import_online_retail(source, tmp_path / "out")
    purchases = _read_text(report.paths["purchases"])
    assert purchases.timestamp.tolist() == ["2010-12-01T08:26:00Z", "2011-12-09T12:50:30Z"]
    assert purchases.user_id.tolist() == ["17850", "13047"]


def test_parquet_input_with_native_types(tmp_path, fixture_import):
    frame = pd.read_csv(_write_fixture(tmp_path / "online_retail.csv"), dtype={"StockCode": str})
    frame["InvoiceDate"] = pd.to_datetime(frame.InvoiceDate)
    assert frame.CustomerID.dtype == "float64"  # as pandas reads it: NaN for the missing ones
    frame.to_parquet(tmp_path / "online_retail.parquet", index=False)
    report = import_online_retail(tmp_path / "online_retail.parquet", tmp_path / "pq")
    assert report.dropped == fixture_import.dropped
    assert _read_text(report.paths["purchases"]).equals(_read_text(fixture_import.paths["purchases"]))
    assert _read_text(report.paths["catalog"]).equals(_read_text(fixture_import.paths["catalog"]))


def test_missing_column_is_a_contract_error(tmp_path):
    source = _write_fixture(tmp_path / "bad.csv", "InvoiceNo,StockCode,Quantity\n536365,85123A,6\n")
    with pytest.raises(ContractError, match="missing column.*Description.*; found: InvoiceNo, StockCode, Quantity"):
        import_online_retail(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


WHERE_TO_GET = ("https://archive.ics.uci.edu/dataset/352/online+retail", "CC BY 4.0", "doi.org/10.24432/C5BW33",
                "nothing is downloaded", "--source PATH")


def test_a_missing_source_says_where_to_get_the_data_set(tmp_path, capsys):
    missing = tmp_path / "Online Retail.csv"
    with pytest.raises(ContractError) as raised:
        import_online_retail(missing, tmp_path / "out")
    assert str(raised.value).startswith(f"{missing}: no such file; the data set is the UCI Machine Learning")
    assert all(part in str(raised.value) for part in WHERE_TO_GET)
    assert main(["import-uci", "--source", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"
    assert not (tmp_path / "out").exists()


def test_help_says_where_the_data_set_comes_from(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["import-uci", "--help"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert all(part in shown for part in WHERE_TO_GET)


def test_command_imports_a_source_given_by_path_and_credits_it(tmp_path, capsys):
    (tmp_path / "elsewhere").mkdir()
    source = _write_fixture(tmp_path / "elsewhere" / "Online Retail.csv")
    assert main(["import-uci", "--source", str(source), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"UCI Online Retail: 16 rows read from {source}" in out
    assert "source: the UCI Machine Learning Repository's \"Online Retail\" " \
           "(https://archive.ics.uci.edu/dataset/352/online+retail), licensed CC BY 4.0" in out
    assert _read_text(tmp_path / "out" / "purchases.csv.gz").values.tolist() == EXPECTED_PURCHASES


def test_unreadable_quantity_names_the_row(tmp_path):
    lines = FIXTURE.splitlines(keepends=True)
    lines[3] = lines[3].replace(",2,2010", ",two,2010")
    source = _write_fixture(tmp_path / "bad.csv", "".join(lines))
    with pytest.raises(ContractError, match=r"row 3 \(line 4\), column 'Quantity'"):
        import_online_retail(source, tmp_path / "out")


# --- the real data set (541,909 rows: its tests are slow) --------------------------------------

@pytest.fixture(scope="module")
def real_import(tmp_path_factory):
    if not REAL_FILE.exists():
        pytest.skip(f"UCI Online Retail data set not found at {REAL_FILE} (expected in ../shared/data/ "
                    "next to the project root)")
    out = tmp_path_factory.mktemp("uci")
    return import_online_retail(REAL_FILE, out)


@pytest.fixture(scope="module")
def real_source(real_import):
    return pd.read_csv(REAL_FILE, dtype=str, keep_default_na=False)


@pytest.mark.slow
def test_real_figures(real_import):
    report = real_import
    assert report.rows_read == 541_909
    # README: 135,080 rows without a CustomerID, so 406,829 with one.
    assert report.dropped[NO_CUSTOMER] == 135_080
    assert report.rows_read - report.dropped[NO_CUSTOMER] == 406_829
    assert report.dropped == {NO_CUSTOMER: 135_080, NON_PRODUCT: 2_019, NO_PRICE: 33}
    assert report.purchases_written == report.rows_read - sum(report.dropped.values()) == 404_777
    assert report.items_written == 3_673
    assert report.customers == 4_362
    assert report.nonpositive_quantity == 8_536


@pytest.mark.slow
def test_real_files_are_consistent(real_import):
    purchases = pd.read_csv(real_import.paths["purchases"], dtype={"user_id": str, "item_id": str,
                                                                   "order_id": str})
    catalog = pd.read_csv(real_import.paths["catalog"], dtype={"item_id": str}, keep_default_na=False)
    assert len(purchases) == real_import.purchases_written
    assert len(catalog) == real_import.items_written
    assert catalog.item_id.is_unique
    assert set(purchases.item_id) == set(catalog.item_id)
    assert catalog.title.str.len().gt(0).all()
    assert purchases.user_id.nunique() == real_import.customers
    assert purchases.price.gt(0).all()
    assert purchases.item_id.str.fullmatch(r"\d{5}[A-Z]{0,2}").all()
    # cancellations are kept for the loader to exclude: every quantity <= 0 line is a C invoice
    cancelled = purchases.quantity.le(0)
    assert cancelled.sum() == real_import.nonpositive_quantity
    assert purchases.order_id[cancelled].str.startswith("C").all()
    assert purchases.timestamp.min() == "2010-12-01T08:26:00Z"
    assert purchases.timestamp.max() == "2011-12-09T12:50:00Z"


@pytest.mark.slow
def test_real_figures_match_the_readme(real_import, real_source):
    """README: CustomerID, Quantity > 0 and UnitPrice > 0 leave 397,884 rows and 4,338 customers.

    The importer also drops the non-product lines among those; adding them back gives the README's figures.
    """
    src = real_source
    quantity = src.Quantity.astype(int)
    price = src.UnitPrice.astype(float)
    code = src.StockCode.str.strip().str.upper()
    readme_rows = src.CustomerID.ne("") & quantity.gt(0) & price.gt(0)
    assert readme_rows.sum() == 397_884
    assert src.CustomerID[readme_rows].nunique() == 4_338
    purchases = pd.read_csv(real_import.paths["purchases"], dtype={"user_id": str, "item_id": str})
    sales = purchases[purchases.quantity.gt(0)]
    non_product = readme_rows & ~code.isin(set(purchases.item_id))
    assert len(sales) + non_product.sum() == 397_884
    assert set(sales.user_id) | set(src.CustomerID[non_product]) == set(src.CustomerID[readme_rows])


# --- the loader applies the cancellation policy -----------------------------------------------

def _purchase_report(dataset):
    return dataset.reports[0]


def _returns_dropped(report) -> int:
    return report.dropped[RETURNS]


def test_loader_excludes_cancellations_fixture(fixture_import):
    loaders = pytest.importorskip("recommender.loaders")
    dataset = loaders.load_dataset(fixture_import.paths["purchases"], fixture_import.paths["catalog"])
    purchases = dataset.purchases
    assert len(purchases) == fixture_import.purchases_written - fixture_import.nonpositive_quantity == 7
    assert (purchases.quantity > 0).all()
    assert not purchases.order_id.astype(str).str.startswith("C").any()
    assert _returns_dropped(_purchase_report(dataset)) == 2


@pytest.mark.slow
def test_loader_excludes_cancellations_real(real_import):
    loaders = pytest.importorskip("recommender.loaders")
    dataset = loaders.load_dataset(real_import.paths["purchases"], real_import.paths["catalog"])
    purchases = dataset.purchases
    assert len(purchases) == real_import.purchases_written - real_import.nonpositive_quantity
    assert (purchases.quantity > 0).all()
    assert not purchases.order_id.astype(str).str.startswith("C").any()
    assert _returns_dropped(_purchase_report(dataset)) == real_import.nonpositive_quantity
    assert len(dataset.catalog) == real_import.items_written
