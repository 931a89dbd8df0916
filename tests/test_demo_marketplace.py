"""The demo marketplace: contract shape, determinism, integrity, and the signal it must carry."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from recommender.contract import CATALOG_OPTIONAL, CATALOG_REQUIRED, PURCHASE_OPTIONAL, PURCHASE_REQUIRED
from recommender.demo_marketplace import generate_marketplace, write_demo_marketplace
from recommender.demo_marketplace import geography as geo

ALLOWED_TAGS = {"handmade", "brand_certified", "priority_region", "organic", "geographical_indication", "gift",
                "seasonal", "fresh"}
CONSUMABLES = {c.name for c in geo.CATEGORIES if c.repeat_prob > 0}


@pytest.fixture(scope="module")
def small():
    return generate_marketplace(buyers=300, items=120, seed=7)


@pytest.fixture(scope="module")
def moderate():
    """Large enough for statistics, still well under a second."""
    return generate_marketplace(buyers=2_000, items=200, seed=11)


@pytest.fixture(scope="module")
def lines(moderate):
    """Purchase lines joined with catalog and latent facts, as pandas."""
    p = moderate.purchases.to_pandas()
    c = moderate.catalog.to_pandas().rename(columns={"price": "list_price"})
    facts = moderate.items.to_pandas()[["item_id", "product", "launch_date", "delisted_date", "new_item"]]
    buyers = moderate.buyers.to_pandas()[["user_id", "niche"]]
    p = p.merge(c, on="item_id", how="left").merge(facts, on="item_id").merge(buyers, on="user_id")
    p["ts"] = pd.to_datetime(p["timestamp"], utc=True)
    p["month"] = p["ts"].dt.month
    p["date"] = p["ts"].dt.strftime("%Y-%m-%d")
    return p


# ---------------------------------------------------------------------------------------------
# shape and types


def test_columns_follow_the_contract(small):
    assert small.purchases.column_names == list(PURCHASE_REQUIRED + PURCHASE_OPTIONAL)
    # every column but product_id and season: the demo's products are found by their titles
    # (recommender.features.products), its seasons by its purchases (recommender.features.seasons)
    assert small.catalog.column_names == [name for name in CATALOG_REQUIRED + CATALOG_OPTIONAL
                                          if name not in ("product_id", "season")]
    ps, cs = small.purchases.schema, small.catalog.schema
    for name in ("user_id", "item_id", "timestamp", "order_id", "city"):
        assert ps.field(name).type == pa.string()
    assert pa.types.is_integer(ps.field("quantity").type)
    assert pa.types.is_integer(ps.field("city_tier").type)
    assert pa.types.is_floating(ps.field("price").type)
    for name in ("item_id", "title", "description", "category", "region", "merchant_id", "tags"):
        assert cs.field(name).type == pa.string()
    assert pa.types.is_floating(cs.field("price").type)
    assert cs.field("available").type == pa.bool_()
    for table in (small.purchases, small.catalog):
        assert all(table.column(name).null_count == 0 for name in table.column_names)


def test_sizes_ids_and_values(small):
    p = small.purchases.to_pandas()
    c = small.catalog.to_pandas()
    assert len(p) == 20 * 300 and len(c) == 120
    assert generate_marketplace(buyers=50, items=40, seed=1, purchases=777).purchases.num_rows == 777
    assert p.user_id.str.fullmatch(r"U\d{7}").all()
    assert p.order_id.str.fullmatch(r"O\d{9}").all()
    assert c.item_id.str.fullmatch(r"[A-Z]{2,3}-\d{6}").all()
    assert c.merchant_id.str.fullmatch(r"M-[A-Z]{2,3}-\d{2,}").all()
    assert p.timestamp.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    ts = pd.to_datetime(p.timestamp, utc=True)
    assert ts.min() >= pd.Timestamp("2024-11-01", tz="UTC")
    assert ts.max() < pd.Timestamp("2026-11-01", tz="UTC")
    assert ts.is_monotonic_increasing
    assert (p.quantity >= 1).all() and (p.price > 0).all()
    assert set(p.city_tier) == {1, 2, 3}
    assert (c.price > 0).all() and (c.title.str.len() > 0).all() and (c.description.str.len() > 40).all()
    assert set(c.category) <= {cat.name for cat in geo.CATEGORIES}
    assert set(c.region) <= {r.name for r in geo.REGIONS}


def test_period_follows_end_date_and_years():
    market = generate_marketplace(buyers=40, items=30, seed=2, end_date="2025-03-31", years=0.5)
    ts = pd.to_datetime(market.purchases.column("timestamp").to_pandas(), utc=True)
    assert ts.max() < pd.Timestamp("2025-04-01", tz="UTC")
    assert ts.min() >= pd.Timestamp("2025-03-31", tz="UTC") - pd.Timedelta(days=183)


# ---------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = write_demo_marketplace(tmp_path / "a", buyers=150, items=60, seed=3)
    b = write_demo_marketplace(tmp_path / "b", buyers=150, items=60, seed=3)
    c = write_demo_marketplace(tmp_path / "c", buyers=150, items=60, seed=4)
    for name in ("purchases", "catalog"):
        assert a[name].read_bytes() == b[name].read_bytes()
        assert a[name].read_bytes() != c[name].read_bytes()


def test_catalog_does_not_depend_on_purchase_count():
    one = generate_marketplace(buyers=100, items=60, seed=5, purchases=500)
    two = generate_marketplace(buyers=100, items=60, seed=5, purchases=2_000)
    assert one.catalog.equals(two.catalog)


# ---------------------------------------------------------------------------------------------
# integrity


def test_items_unique_and_purchases_reference_the_catalog(small):
    c = small.catalog.to_pandas()
    assert c.item_id.is_unique
    assert set(small.purchases.column("item_id").to_pylist()) <= set(c.item_id)


def test_tags_consistent_with_items(small):
    c = small.catalog.to_pandas()
    priority = {r.name: r.priority for r in geo.REGIONS}
    tags = c.tags.str.split(";")
    assert all(set(t) - {""} <= ALLOWED_TAGS for t in tags)
    has = {tag: tags.map(lambda t, tag=tag: tag in t) for tag in ALLOWED_TAGS}
    assert (has["priority_region"] == c.region.map(priority)).all()
    assert c.assign(bc=has["brand_certified"]).groupby("merchant_id").bc.nunique().max() == 1
    assert has["fresh"].any() and has["handmade"].any() and has["gift"].any()
    assert has["seasonal"].any() and has["geographical_indication"].any()
    assert (has["priority_region"] & c.description.str.contains("poverty")).sum() == has["priority_region"].sum()
    assert c.available.mean() >= 0.85


def test_merchants_per_region_and_sizes(moderate):
    catalog = generate_marketplace(buyers=20, items=2_000, seed=4, purchases=50).catalog.to_pandas()
    assert catalog.groupby("region").merchant_id.nunique().min() >= 2
    assert catalog.merchant_id.str.split("-").str[1].eq(catalog.item_id.str.split("-").str[0]).all()
    sizes = catalog.merchant_id.value_counts()
    assert sizes.max() >= 4 * sizes.median()
    assert 0.9 < catalog.available.mean() < 1.0
    # big merchants list more items and sell more
    facts = moderate.items.to_pandas()
    facts["merchant_id"] = moderate.catalog.column("merchant_id").to_pylist()
    sales = pd.Series(moderate.purchases.column("item_id").to_pylist()).value_counts()
    facts["sales"] = facts.item_id.map(sales).fillna(0)
    merchants = facts.groupby("merchant_id").agg(size=("merchant_size", "first"), sales=("sales", "sum"))
    assert merchants["size"].corr(merchants.sales, method="spearman") > 0.15


def test_orders_group_one_basket(small):
    p = small.purchases.to_pandas()
    per_order = p.groupby("order_id").agg(users=("user_id", "nunique"), times=("timestamp", "nunique"),
                                          lines=("item_id", "size"), items=("item_id", "nunique"))
    assert (per_order.users == 1).all() and (per_order.times == 1).all()
    assert (per_order.lines == per_order["items"]).all()
    assert (per_order.lines > 1).any()
    # city and tier belong to the buyer
    assert (p.groupby("user_id")[["city", "city_tier"]].nunique() == 1).all().all()


def test_no_purchase_before_launch_or_after_delisting(lines, small):
    assert (lines.date >= lines.launch_date).all()
    delisted = lines[lines.delisted_date.notna()]
    assert (delisted.date <= delisted.delisted_date).all()
    facts = small.items.to_pandas().set_index("item_id")
    p = small.purchases.to_pandas()
    assert (p.timestamp.str[:10] >= p.item_id.map(facts.launch_date)).all()


def test_new_items_launch_late_and_sell(lines, moderate):
    facts = moderate.items.to_pandas()
    new = facts[facts.new_item]
    assert len(new) >= 0.03 * len(facts)
    assert (pd.to_datetime(new.launch_date) >= pd.Timestamp("2026-10-31") - pd.Timedelta(days=45)).all()
    sold = lines[lines.new_item]
    assert sold.item_id.nunique() >= 0.5 * len(new)
    assert (sold.ts >= pd.Timestamp("2026-09-16", tz="UTC")).all()


# ---------------------------------------------------------------------------------------------
# signal


def test_long_tail_but_most_items_sell(moderate):
    counts = pd.Series(moderate.purchases.column("item_id").to_pylist()).value_counts()
    n_items = moderate.catalog.num_rows
    counts = counts.reindex(moderate.catalog.column("item_id").to_pylist(), fill_value=0)
    top = counts.sort_values(ascending=False).iloc[: n_items // 5].sum()
    assert top / counts.sum() > 0.55
    assert (counts > 0).mean() >= 0.85


def test_heavy_tailed_buyer_activity(moderate):
    per_buyer = pd.Series(moderate.purchases.column("user_id").to_pylist()).value_counts()
    assert per_buyer.max() > 8 * per_buyer.median()
    assert per_buyer.median() < per_buyer.mean()


def test_seasonality_fans_summer_lychee_june(lines):
    all_along = (lines.launch_date < "2024-11-01") & lines.delisted_date.isna()  # on sale the whole period
    fans = lines[(lines["product"] == "Palm-Leaf Fan") & all_along]
    summer = fans.month.isin([5, 6, 7, 8]).sum()
    winter = fans.month.isin([11, 12, 1, 2]).sum()
    assert summer > 5 * max(winter, 1)
    lychee = lines[(lines["product"] == "Fresh Lychee") & (lines.launch_date < "2025-05-01")].month.value_counts()
    assert lychee.idxmax() == 6
    assert lychee.get(6, 0) > 0.4 * lychee.sum()


def test_festival_spikes_and_gifts_before_new_year(lines):
    per_day = lines.groupby("date").size()
    typical = per_day.median()
    assert per_day.get("2025-11-11", 0) > 2.5 * typical
    assert per_day.get("2025-06-18", 0) > 1.6 * typical
    gift = lines.tags.str.contains("gift")
    before_cny = lines.date.between("2026-01-20", "2026-02-09")  # New Year: 2026-02-17
    weeks_before = lines.date.between("2025-12-10", "2026-01-10")
    assert gift[before_cny].mean() > 1.25 * gift[weeks_before].mean()


def test_repeat_purchases_mostly_consumables(lines):
    def repeat_share(frame):
        pairs = frame.groupby(["user_id", "item_id"]).size()
        return (pairs > 1).mean()

    consumable = lines.category.isin(CONSUMABLES)
    assert repeat_share(lines[consumable]) > 3 * repeat_share(lines[~consumable])
    # repeats come weeks later, not in the same order
    again = lines[consumable].sort_values("ts").groupby(["user_id", "item_id"]).ts.diff().dropna()
    assert again.median() > pd.Timedelta(days=7)


def test_niche_buyers_buy_less_popular_items(lines):
    assert 0.1 < lines.drop_duplicates("user_id").niche.mean() < 0.4
    # popularity percentile of the item within its category
    counts = lines.groupby(["category", "item_id"]).size()
    percentile = counts.groupby(level="category").rank(pct=True).droplevel("category")
    bought = lines.item_id.map(percentile)
    niche = lines.niche.to_numpy()
    assert bought[niche].mean() < bought[~niche].mean() - 0.08
    popularity = lines.item_id.map(lines.item_id.value_counts())
    assert popularity[niche].mean() < popularity[~niche].mean()


def test_tiers_cities_and_prices(lines):
    buyers = lines.drop_duplicates("user_id")
    share = buyers.city_tier.value_counts(normalize=True)
    assert set(share.index) == {1, 2, 3}
    assert 0.25 < share[1] < 0.45 and 0.3 < share[2] < 0.5 and 0.15 < share[3] < 0.35
    assert set(buyers[buyers.city_tier == 1].city) <= {"Beijing", "Shanghai", "Guangzhou", "Shenzhen"}
    log_price = np.log(lines.list_price)
    assert log_price[lines.city_tier == 1].mean() > log_price[lines.city_tier == 3].mean() + 0.05
    ratio = lines.price / lines.list_price
    assert 0.95 < ratio.median() < 1.02 and ratio.between(0.6, 1.3).all()


def test_quantities(lines):
    consumable = lines.category.isin(CONSUMABLES)
    assert (lines.quantity == 1).mean() > 0.6
    assert lines[consumable].quantity.mean() > lines[~consumable].quantity.mean() + 0.2


# ---------------------------------------------------------------------------------------------
# arguments and files


@pytest.mark.parametrize("kwargs, name", [
    ({"buyers": 0}, "buyers"),
    ({"buyers": 2.5}, "buyers"),
    ({"items": 5}, "items"),
    ({"items": "many"}, "items"),
    ({"purchases": 0}, "purchases"),
    ({"seed": -1}, "seed"),
    ({"end_date": "not a date"}, "end_date"),
    ({"years": 0}, "years"),
    ({"years": float("nan")}, "years"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        generate_marketplace(**{"buyers": 10, "items": 30, **kwargs})


def test_write_and_read_back(tmp_path, small):
    paths = write_demo_marketplace(tmp_path / "demo", buyers=300, items=120, seed=7)
    assert set(paths) == {"purchases", "catalog", "buyers"}
    assert paths["purchases"] == tmp_path / "demo" / "purchases.csv"
    buyers = pa_csv.read_csv(paths["buyers"])
    assert buyers.column("user_id").to_pylist() == small.buyers.column("user_id").to_pylist()
    assert {"top_category", "favourite_regions"} <= set(buyers.column_names)
    purchases = pa_csv.read_csv(paths["purchases"])
    catalog = pa_csv.read_csv(paths["catalog"], parse_options=pa_csv.ParseOptions(newlines_in_values=True))
    assert purchases.column_names == small.purchases.column_names
    assert catalog.column_names == small.catalog.column_names
    assert purchases.num_rows == small.purchases.num_rows and catalog.num_rows == small.catalog.num_rows
    assert purchases.column("user_id").to_pylist() == small.purchases.column("user_id").to_pylist()
    assert catalog.column("region").to_pylist() == small.catalog.column("region").to_pylist()


def test_loads_with_project_loaders(tmp_path):
    loaders = pytest.importorskip("recommender.loaders")
    paths = write_demo_marketplace(tmp_path, buyers=100, items=40, seed=9)
    dataset = loaders.load_dataset(paths["purchases"], paths["catalog"])
    assert len(dataset.purchases) == 2_000
    assert len(dataset.catalog) == 40
    assert all(not n for report in dataset.reports for n in report.dropped.values())
