"""A vectorised generator of a demo marketplace: rural producing regions selling farm produce and
handicrafts to buyers in first-, second- and third-tier cities.

The data carries learnable signal on purpose:

* items: long-tailed popularity within categories (big merchants sell more), month-by-month
  seasonality per product, a gift season before Chinese New Year, launch dates (some items appear
  only in the last weeks, for cold-start evaluation) and delisting of unavailable items;
* buyers: a sparse Dirichlet taste over categories tilted by city tier, one or two favourite
  producing regions (often in their home province), a preferred price band (richer in tier-1
  cities), heavy-tailed activity, sign-up dates, and a "niche" group (mostly big-city buyers) that
  buys the long tail: small merchants, priority regions, handmade goods;
* time: slow growth, a weekly and daily rhythm, 618 and Double 11 spikes with discounts, a parcel
  pause around Chinese New Year;
* baskets: several lines per order, often from the same shop; repeat purchases of consumables
  weeks later; quantities and paid prices per line.

Everything is sampled hierarchically with cumulative sums and ``searchsorted`` in batches
(buyer by activity -> day from the intensity curve -> route: favourite region, category taste and
price band, niche weights, same shop, gift season -> item by popularity). Seasonality, launch and
delisting are applied by rejection: a rejected line is picked again for the same buyer and day, so
volume follows the calendar while choices follow the seasons. No Python loop runs per purchase or
per buyer, and no buyers x items matrix is built. Half a year before the period is simulated and
dropped, so that repeat purchases are in steady state from the first day.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recommender.demo_marketplace import geography as geo
from recommender.holidays import CHINESE_NEW_YEAR
from recommender.tables import write_table

PURCHASE_COLUMNS = ("user_id", "item_id", "timestamp", "quantity", "order_id", "price", "city", "city_tier")
CATALOG_COLUMNS = ("item_id", "title", "description", "category", "region", "merchant_id", "price", "tags",
                   "available")

MIN_ITEMS = 20
MIN_DAYS = 90
MAX_YEARS = 30.0
LINES_PER_BUYER = 20  # purchase lines per buyer on average when ``purchases`` is not given
NEW_ITEM_DAYS = 45  # late launches fall in the last NEW_ITEM_DAYS days
BURN_IN_DAYS = 180  # simulated before the period (not output) so repeat purchases start in steady state
DAY = 86_400

# Items: shares launched before the period, during it, and in its last NEW_ITEM_DAYS days.
LAUNCH_SHARES = (0.70, 0.22, 0.08)
AVAILABLE_SHARE = 0.97

# Buyers.
NICHE_SHARE_BY_TIER = {1: 0.32, 2: 0.20, 3: 0.06}
PRICE_LEVEL_BY_TIER = {1: 0.5, 2: 0.05, 3: -0.45}
TIER_CATEGORY_TILT = {
    1: {"coffee": 1.7, "teaware": 1.3, "embroidery_textiles": 1.25, "silver_jewelry": 1.2, "ceramics": 1.2,
        "fresh_fruit": 1.1, "grains": 0.8, "kitchenware": 0.85},
    2: {"tea": 1.1, "coffee": 1.2},
    3: {"grains": 1.35, "kitchenware": 1.3, "dried_fruit_nuts": 1.2, "coffee": 0.6, "teaware": 0.8,
        "embroidery_textiles": 0.8},
}
NICHE_KIND_TILT = {"produce": 0.85, "handicraft": 1.6}
HOME_PROVINCE_BOOST = 3.0
ACTIVITY_SIGMA = 1.1
ACTIVITY_CAP = 25.0  # times the mean
JOINED_BEFORE_SHARE = 0.8

# Orders.
LINES_PER_ORDER_P = (0.66, 0.21, 0.08, 0.035, 0.015)
SAME_SHOP_P = 0.4  # later lines of an order from the first line's merchant
BAND_P = 0.65  # a category pick stays in the buyer's price band
NICHE_ROUTE_P = 0.8  # a niche buyer's category pick uses the flattened (niche) weights
EXPLORE_P = 0.1  # a category pick ignores the buyer's taste and follows the market
TASTE_CONCENTRATION = 2.5  # Dirichlet concentration of category taste (smaller: sparser)
TASTE_TOP = 4  # categories kept per buyer taste
GIFT_ROUTE_PEAK = 0.6  # share of lines going to gift items a week before Chinese New Year
RETRIES = 8  # fresh picks for a line whose item is out of season or not on sale that day
CRAFT_REPEAT_KEEP = 0.1  # a handicraft the buyer already bought is bought again with this chance
REPEAT_CALIBRATION = 1.0  # expected repeats per consumable line ~ this * p / (1 - p)
SEASON_COMPENSATION = 0.6  # seasonal items get popularity ** 1 / mean_acceptance ** this
# Hour-of-day rhythm in Beijing time (UTC+8), midnight first.
HOURLY_BEIJING = (2.2, 1.2, 0.6, 0.35, 0.25, 0.3, 0.6, 1.4, 2.6, 3.6, 4.2, 4.6, 4.8, 4.4, 4.2, 4.3, 4.4,
                  4.5, 4.6, 5.2, 6.2, 7.0, 6.4, 4.2)
WEEKDAY = (0.97, 0.95, 0.95, 0.97, 1.0, 1.08, 1.08)  # Monday first
GROWTH_PER_YEAR = 0.1
# Quantity distributions (1, 2, 3, ...) for handicrafts, fresh goods and other consumables.
QUANTITY_P = {
    "craft": (0.92, 0.06, 0.015, 0.005, 0.0, 0.0),
    "fresh": (0.74, 0.19, 0.05, 0.02, 0.0, 0.0),
    "consumable": (0.58, 0.24, 0.10, 0.04, 0.02, 0.02),
}
TAG_ORDER = ("handmade", "brand_certified", "priority_region", "organic", "geographical_indication", "gift",
             "seasonal", "fresh")


@dataclass(frozen=True)
class Marketplace:
    """Purchases and catalog under the data contract, plus the latent truth behind them."""

    purchases: pa.Table  # user_id, item_id, timestamp, quantity, order_id, price, city, city_tier
    catalog: pa.Table  # item_id, title, description, category, region, merchant_id, price, tags, available
    buyers: pa.Table | None = None  # latent buyer traits (not part of the contract)
    items: pa.Table | None = None  # latent item facts: launch, delisting, popularity, season


# ----------------------------------------------------------------------------------------------
# validation


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _period(end_date: str, years: float) -> tuple[np.datetime64, int]:
    try:
        end = np.datetime64(str(end_date), "D")
    except ValueError as exc:
        raise ValueError(f"end_date must be a date like '2026-10-31', got {end_date!r}") from exc
    if np.isnat(end):
        raise ValueError(f"end_date must be a date like '2026-10-31', got {end_date!r}")
    if isinstance(years, bool) or not isinstance(years, (int, float, np.integer, np.floating)) \
            or not np.isfinite(years):
        raise ValueError(f"years must be a number, got {years!r}")
    days = int(round(float(years) * 365.25))
    if days < MIN_DAYS or years > MAX_YEARS:
        raise ValueError(f"years must be between {MIN_DAYS / 365.25:.2f} and {MAX_YEARS:g}, got {years!r}")
    start = end - np.timedelta64(days - 1, "D")
    return start, days


# ----------------------------------------------------------------------------------------------
# sampling helper


class _GroupSampler:
    """Draw an element of a given group with probability proportional to its weight.

    Elements are sorted by group and their weights cumulated once; a draw for group ``g`` is a
    uniform number in the group's slice of the cumulative sum, located with ``searchsorted``.
    """

    def __init__(self, groups: np.ndarray, weights: np.ndarray, n_groups: int):
        order = np.argsort(groups, kind="stable")
        self.cum = np.cumsum(weights[order].astype(np.float64))
        counts = np.bincount(groups, minlength=n_groups)
        self.end = np.cumsum(counts)
        self.start = self.end - counts
        padded = np.concatenate([[0.0], self.cum])
        self.lo = padded[self.start]
        self.mass = padded[self.end] - self.lo
        self.order = order

    def sample(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = self.lo[g] + rng.random(len(g)) * self.mass[g]
        idx = np.searchsorted(self.cum, u, side="right")
        idx = np.clip(idx, self.start[g], self.end[g] - 1)
        return self.order[idx]


def _cum_draw(p, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn from a small discrete distribution ``p``."""
    cum = np.cumsum(np.asarray(p, dtype=np.float64))
    return np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)


# ----------------------------------------------------------------------------------------------
# calendar


@dataclass(frozen=True)
class _Calendar:
    start: np.datetime64
    days: int
    dates: np.ndarray  # datetime64[D]
    intensity: np.ndarray  # relative order volume per day
    gift: np.ndarray  # gift season per day: 0, rising to 1 a week before Chinese New Year
    discount: np.ndarray  # price factor per day
    hourly: np.ndarray  # weight per UTC hour


def _chinese_new_year(year: int) -> np.datetime64:
    return np.datetime64(CHINESE_NEW_YEAR.get(year, f"{year}-02-05"), "D")


def _calendar(start: np.datetime64, days: int) -> _Calendar:
    dates = start + np.arange(days)
    d64 = dates.astype(np.int64)
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    weekday = (d64 + 3) % 7  # 1970-01-01 was a Thursday
    trend = np.exp(GROWTH_PER_YEAR * np.arange(days) / 365.25)
    festival = np.ones(days)
    gift = np.zeros(days)
    discount = np.ones(days)

    def span(a: str, b: str) -> np.ndarray:
        return (dates >= np.datetime64(a)) & (dates <= np.datetime64(b))

    for y in range(int(year.min()) - 1, int(year.max()) + 2):
        # 618 mid-year sale
        festival[span(f"{y}-06-01", f"{y}-06-15")] *= 1.25
        festival[span(f"{y}-06-16", f"{y}-06-17")] *= 1.8
        festival[span(f"{y}-06-18", f"{y}-06-18")] *= 3.5
        festival[span(f"{y}-06-19", f"{y}-06-19")] *= 1.3
        discount[span(f"{y}-06-01", f"{y}-06-17")] = 0.92
        discount[span(f"{y}-06-18", f"{y}-06-18")] = 0.85
        # Double 11 (with pre-sales) and Double 12
        festival[span(f"{y}-10-24", f"{y}-11-09")] *= 1.2
        festival[span(f"{y}-11-10", f"{y}-11-10")] *= 1.5
        festival[span(f"{y}-11-11", f"{y}-11-11")] *= 5.0
        festival[span(f"{y}-11-12", f"{y}-11-12")] *= 1.4
        festival[span(f"{y}-12-12", f"{y}-12-12")] *= 1.8
        discount[span(f"{y}-11-01", f"{y}-11-10")] = 0.9
        discount[span(f"{y}-11-11", f"{y}-11-11")] = 0.82
        discount[span(f"{y}-12-12", f"{y}-12-12")] = 0.93
        # Chinese New Year: gift shopping in the weeks before, parcel services pause around it
        t = (d64 - _chinese_new_year(y).astype(np.int64)).astype(np.float64)
        before = (t >= -35) & (t <= -8)
        gift[before] = np.maximum(gift[before], (t[before] + 35) / 27)
        festival[before] *= 1.15
        festival[(t > -8) & (t <= 6)] *= 0.45
    intensity = trend * np.asarray(WEEKDAY)[weekday] * festival
    hourly = np.roll(np.asarray(HOURLY_BEIJING, dtype=np.float64), -8)  # Beijing hour h is UTC h - 8
    return _Calendar(start, days, dates, intensity, gift, discount, hourly)


def _season_rows(cal: _Calendar) -> tuple[list[str], np.ndarray]:
    """Acceptance per season profile and day: month weights interpolated between mid-month
    points, scaled to a peak of 1."""
    names = list(geo.SEASON_PROFILES)
    day_of_year = (cal.dates - cal.dates.astype("datetime64[Y]")).astype(np.float64)
    centres = (np.arange(12) + 0.5) * 365.25 / 12
    rows = np.empty((len(names), cal.days))
    for k, name in enumerate(names):
        months = np.asarray(geo.SEASON_PROFILES[name], dtype=np.float64)
        months = months / months.max()
        base = np.interp(day_of_year, np.concatenate([centres - 365.25, centres, centres + 365.25]),
                         np.tile(months, 3))
        rows[k] = base / base.max()
    return names, rows


# ----------------------------------------------------------------------------------------------
# catalog


@dataclass(frozen=True)
class _Items:
    table: pa.Table
    facts: pa.Table
    n: int
    category: np.ndarray
    region: np.ndarray
    merchant: np.ndarray
    band: np.ndarray
    price: np.ndarray
    weight: np.ndarray  # sampling weight (popularity with season compensation)
    niche_weight: np.ndarray
    combo: np.ndarray  # season row (profile)
    gift: np.ndarray
    launch: np.ndarray  # first day on sale (may be negative: before the period)
    delist: np.ndarray  # first day off sale (days when available)
    quantity_class: np.ndarray  # 0 craft, 1 fresh, 2 consumable
    on_sale: np.ndarray  # expected acceptance of a draw: share of demand in season and on sale
    n_merchants: int


def _round_price(p: np.ndarray) -> np.ndarray:
    """Shop-style prices: 29.9, 69.9 below 100; 128, 398 above."""
    small = np.floor(p) + 0.9
    large = np.floor(p / 10) * 10 + 8
    return np.where(p < 100, small, large).round(1)


def _allocate_products(n: int, rng: np.random.Generator) -> np.ndarray:
    """Product template of each item: every product once when there is room, else flagships first."""
    products = geo.PRODUCTS
    regions = {r.code: r for r in geo.REGIONS}
    w = np.array([p.weight * regions[p.region].popularity for p in products])
    p_all = w / w.sum()
    if n >= len(products):
        extra = rng.choice(len(products), n - len(products), p=p_all)
        return np.concatenate([np.arange(len(products)), extra])
    best = []
    for code in regions:
        own = [i for i, p in enumerate(products) if p.region == code]
        best.append(max(own, key=lambda i: products[i].weight))
    flagship = np.array(best)
    if n <= len(flagship):
        pf = w[flagship] / w[flagship].sum()
        return np.sort(rng.choice(flagship, n, replace=False, p=pf))
    rest = np.setdiff1d(np.arange(len(products)), flagship)
    pr = w[rest] / w[rest].sum()
    return np.concatenate([flagship, np.sort(rng.choice(rest, n - len(flagship), replace=False, p=pr))])


def _build_catalog(n_items: int, cal: _Calendar, first_day: int, season_names: list[str],
                   season_rows: np.ndarray, rng: np.random.Generator) -> _Items:
    products = geo.PRODUCTS
    region_list = list(geo.REGIONS)
    region_index = {r.code: i for i, r in enumerate(region_list)}
    cat_list = list(geo.CATEGORIES)
    cat_index = {c.name: i for i, c in enumerate(cat_list)}
    season_index = {name: i for i, name in enumerate(season_names)}

    prod = _allocate_products(n_items, rng)
    shuffle = rng.permutation(n_items)
    prod = prod[shuffle]
    # The first listing of each product (of each region's flagship product in a small catalog) is
    # the core catalog: on sale all along.
    core_count = len(products) if n_items >= len(products) else min(n_items // 2, len(geo.REGIONS))
    core = shuffle < core_count
    n = n_items
    p_region = np.array([region_index[p.region] for p in products])
    p_cat = np.array([cat_index[p.category] for p in products])
    p_kind = np.array([cat_list[c].kind == "handicraft" for c in p_cat])
    region = p_region[prod]
    category = p_cat[prod]
    craft = p_kind[prod]

    # Variants, prices, organic certification.
    variant = np.zeros(n, dtype=np.int64)
    vmult = np.ones(n)
    vgift = np.zeros(n, dtype=bool)
    organic = np.zeros(n, dtype=bool)
    for k, p in enumerate(products):
        idx = np.flatnonzero(prod == k)
        if not len(idx):
            continue
        options = geo.VARIANTS[p.variants]
        pv = np.array([1.5 if mult == 1.0 else 1.0 for _, mult, _ in options])
        v = rng.choice(len(options), len(idx), p=pv / pv.sum())
        variant[idx] = v
        vmult[idx] = np.array([o[1] for o in options])[v]
        vgift[idx] = np.array([o[2] for o in options])[v]
        organic[idx] = rng.random(len(idx)) < p.organic
    base_price = np.array([p.price for p in products])[prod]
    price = _round_price(base_price * vmult * rng.lognormal(0.0, 0.18, n))
    gift = np.array([p.gift for p in products])[prod] | vgift
    handmade = np.array([p.handmade for p in products])[prod]
    fresh = np.array([p.fresh for p in products])[prod]
    gi = np.array([p.gi for p in products])[prod]
    priority = np.array([r.priority for r in region_list])[region]
    profile = np.array([season_index[p.season] for p in products])[prod]
    seasonal = np.array([name in geo.SEASONAL_PROFILES for name in season_names])[profile]

    # Merchants: several per (region, kind), lognormal sizes; items go to merchants by size.
    merchant = np.zeros(n, dtype=np.int64)
    m_name: list[str] = []
    regions_of: list[int] = []  # each merchant's region, size and certification, as lists until all are drawn
    sizes: list[float] = []
    certified_of: list[bool] = []
    group = region * 2 + craft
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        r, kind = divmod(int(g), 2)
        count = int(min(len(idx), max(1, round(len(idx) ** 0.6 / 1.4))))
        size = rng.lognormal(0.0, 1.0, count)
        owner = np.concatenate([rng.permutation(count), rng.choice(count, len(idx) - count, p=size / size.sum())])
        merchant[idx[rng.permutation(len(idx))]] = len(sizes) + owner
        kind_name = "handicraft" if kind else "produce"
        stems = rng.permutation(len(geo.MERCHANT_STEMS))
        suffixes = geo.MERCHANT_SUFFIXES[kind_name]
        for j in range(count):
            stem = geo.MERCHANT_STEMS[stems[j % len(stems)]]
            if j >= len(stems):
                stem = f"{stem} No. {j // len(stems) + 1}"
            m_name.append(f"{region_list[r].short} {stem} {suffixes[int(rng.integers(len(suffixes)))]}")
        regions_of += [r] * count
        sizes += list(size)
        certified_of += list(rng.random(count) < 0.12 + 0.5 * size / size.max())
    m_region = np.array(regions_of)
    m_size = np.array(sizes)
    m_cert = np.array(certified_of, dtype=bool)
    # Merchant ids numbered within each region.
    m_id = np.empty(len(m_size), dtype=object)
    for r in np.unique(m_region):
        own = np.flatnonzero(m_region == r)
        for j, m in enumerate(own):
            m_id[m] = f"M-{region_list[r].code}-{j + 1:02d}"
    certified = m_cert[merchant]

    # Popularity: lognormal appeal x product weight x region brand x merchant size x badges.
    appeal = rng.lognormal(0.0, 1.05, n)
    pop = (appeal * np.array([p.weight for p in products])[prod] ** 0.5
           * np.array([r.popularity for r in region_list])[region]
           * m_size[merchant] ** 0.8 * np.where(certified, 1.25, 1.0) * np.where(gi, 1.1, 1.0))
    pop = pop / pop.mean()
    combo = profile
    mean_accept = (season_rows * cal.intensity).sum(axis=1) / cal.intensity.sum()
    compensation = mean_accept[combo] ** -SEASON_COMPENSATION
    weight = pop * compensation
    niche_weight = (pop ** -0.1 * np.where(handmade | priority, 1.8, 1.0) * np.where(gi, 1.2, 1.0)
                    * m_size[merchant] ** -0.4 * compensation)

    # Price bands: terciles of price within each category.
    band = np.zeros(n, dtype=np.int64)
    for c in np.unique(category):
        idx = np.flatnonzero(category == c)
        ranks = np.argsort(np.argsort(price[idx], kind="stable"), kind="stable")
        band[idx] = np.minimum(3 * ranks // len(idx), 2)

    # Launch and delisting days (calendar days: the period starts at day ``first_day``).
    days = cal.days
    period = days - first_day
    # Shares among the other listings so that the whole catalog keeps LAUNCH_SHARES and AVAILABLE_SHARE.
    scale = n / max(n - int(core.sum()), 1)
    later = np.array(LAUNCH_SHARES[1:]) * scale
    later = later / max(later.sum(), 1.0)
    stage = np.where(core, 0, _cum_draw([max(1.0 - later.sum(), 0.0), *later], n, rng))
    launch = first_day + np.where(stage == 0, -rng.integers(1, 731, n),
                                  np.where(stage == 1, rng.integers(0, max(1, period - NEW_ITEM_DAYS), n),
                                           rng.integers(period - NEW_ITEM_DAYS, period - 2, n)))
    available = (rng.random(n) >= min((1 - AVAILABLE_SHARE) * scale, 0.5)) | core
    early = np.maximum(launch, first_day) + 14
    can_delist = early < days - 30
    available |= ~can_delist
    delist = np.where(available, days, early + (rng.random(n) * (days - early)).astype(np.int64))
    delist = np.minimum(delist, days)

    # Expected acceptance of a draw of each item: demand-weighted share of days in season and on sale.
    season_cum = np.concatenate([np.zeros((len(season_rows), 1)), np.cumsum(season_rows * cal.intensity, axis=1)],
                                axis=1)
    on_sale = ((season_cum[combo, np.clip(delist, 0, days)] - season_cum[combo, np.clip(launch, 0, days)])
               / cal.intensity.sum())

    cat_obj = [cat_list[c] for c in range(len(cat_list))]
    kind_is_consumable = np.array([c.repeat_prob > 0 for c in cat_obj])
    quantity_class = np.where(~kind_is_consumable[category], 0, np.where(fresh, 1, 2))

    # Ids and text.
    codes = np.array([r.code for r in region_list], dtype=object)
    width = max(6, len(str(n)))
    item_id = [f"{codes[region[i]]}-{i + 1:0{width}d}" for i in range(n)]
    prefix_on = rng.random(n) < 0.4
    prefix_pick = rng.integers(0, 4, n)
    titles, descriptions, tags = [], [], []
    for i in range(n):
        p = products[prod[i]]
        reg = region_list[region[i]]
        label, _, vg = geo.VARIANTS[p.variants][variant[i]]
        kind_name = "handicraft" if craft[i] else "produce"
        prefix = (geo.TITLE_PREFIXES[kind_name][prefix_pick[i] % len(geo.TITLE_PREFIXES[kind_name])] + " "
                  if prefix_on[i] else "")
        place = "" if reg.short in p.name else f"{reg.short} "
        titles.append(f"{prefix}{place}{p.name}, {label}")
        text = [f"{p.name} from {reg.name}, {reg.about}.",
                f"{p.material[0].upper()}{p.material[1:]}; {p.usage}.",
                f"{label}{' in gift packaging' if vg else ''}.",
                f"Sold by {m_name[merchant[i]].rstrip('.')}"
                f"{', a brand-certified merchant' if certified[i] else ''}."]
        if fresh[i]:
            text.append("Shipped fresh in cold-chain packaging.")
        if organic[i]:
            text.append("Certified organic.")
        if gi[i]:
            text.append("A protected geographical indication product.")
        if priority[i]:
            text.append("Every purchase supports a formerly poverty-stricken county.")
        descriptions.append(" ".join(text))
        flags = (handmade[i], certified[i], priority[i], organic[i], gi[i], gift[i], seasonal[i], fresh[i])
        tags.append(";".join(t for t, f in zip(TAG_ORDER, flags) if f))

    table = pa.table({
        "item_id": pa.array(item_id, pa.string()),  # columns in CATALOG_COLUMNS order
        "title": pa.array(titles, pa.string()),
        "description": pa.array(descriptions, pa.string()),
        "category": pa.array([cat_list[c].name for c in category], pa.string()),
        "region": pa.array([region_list[r].name for r in region], pa.string()),
        "merchant_id": pa.array(m_id[merchant].tolist(), pa.string()),
        "price": pa.array(price, pa.float64()),
        "tags": pa.array(tags, pa.string()),
        "available": pa.array(available, pa.bool_()),
    })
    start = cal.start
    launch_dates = np.datetime_as_string(start + launch.astype("timedelta64[D]"))
    delist_dates = np.datetime_as_string(start + np.minimum(delist, days - 1).astype("timedelta64[D]"))
    facts = pa.table({
        "item_id": table.column("item_id"),
        "product": pa.array([products[k].name for k in prod], pa.string()),
        "launch_date": pa.array(launch_dates.tolist(), pa.string()),
        "delisted_date": pa.array([d if not a else None for d, a in zip(delist_dates.tolist(), available)],
                                  pa.string()),
        "new_item": pa.array(stage == 2, pa.bool_()),
        "popularity": pa.array(pop, pa.float64()),
        "season": pa.array([season_names[k] for k in profile], pa.string()),
        "merchant_name": pa.array([m_name[m] for m in merchant], pa.string()),
        "merchant_size": pa.array(m_size[merchant], pa.float64()),
        "price_band": pa.array(band, pa.int8()),
    })
    return _Items(table, facts, n, category, region, merchant, band, price, weight, niche_weight, combo, gift,
                  launch, delist, quantity_class, on_sale, len(m_size))


# ----------------------------------------------------------------------------------------------
# buyers


@dataclass(frozen=True)
class _Buyers:
    n: int
    city: np.ndarray
    tier: np.ndarray
    join: np.ndarray
    niche: np.ndarray
    band: np.ndarray
    taste: _Taste
    fav1: np.ndarray
    fav2: np.ndarray
    has_two: np.ndarray
    p_fav: np.ndarray
    loyalty: np.ndarray
    activity: np.ndarray
    sampler_cum: np.ndarray  # cumulative order weight


def _build_buyers(n: int, items: _Items, cal: _Calendar, first_day: int, day_cum: np.ndarray,
                  rng: np.random.Generator) -> _Buyers:
    cities = geo.CITIES
    cats = geo.CATEGORIES
    regions = geo.REGIONS
    C, R = len(cats), len(regions)
    tiers = sorted(geo.TIER_SHARES)
    tier = np.asarray(tiers)[_cum_draw([geo.TIER_SHARES[t] for t in tiers], n, rng)]
    city_tier = np.array([c.tier for c in cities])
    city_sampler = _GroupSampler(city_tier, np.array([c.weight for c in cities]), max(tiers) + 1)
    city = city_sampler.sample(tier, rng)

    join = np.where(rng.random(n) < JOINED_BEFORE_SHARE, 0, rng.integers(first_day, cal.days, n))
    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, n)
    activity = np.minimum(activity, ACTIVITY_CAP * np.exp(ACTIVITY_SIGMA ** 2 / 2))
    niche_p = np.array([NICHE_SHARE_BY_TIER[t] for t in range(1, 4)])[tier - 1]
    niche = rng.random(n) < niche_p
    activity = activity * np.where(niche, 1.2, 1.0)
    level = rng.normal(np.array([PRICE_LEVEL_BY_TIER[t] for t in range(1, 4)])[tier - 1], 1.0)
    band = (level > -0.45).astype(np.int64) + (level > 0.45)

    # Category taste: a sparse Dirichlet around market shares, tilted by tier and niche appetite.
    # Draws are rejected out of season and consumables are bought again, so the taste is set
    # so that the realised shares of purchase lines come out near the market shares.
    share = np.array([c.share for c in cats])
    present = np.bincount(items.category, weights=items.weight, minlength=C) > 0
    accept = (np.bincount(items.category, weights=items.weight * items.on_sale, minlength=C)
              / np.maximum(np.bincount(items.category, weights=items.weight, minlength=C), 1e-300))
    repeat = np.array([c.repeat_prob for c in cats])
    repeats = REPEAT_CALIBRATION * repeat / (1 - repeat)
    share = np.where(present, share / np.maximum(accept, 1e-3) / (1 + repeats), 0.0)
    share = share / share.sum()
    tilt = np.ones((4, C))
    for t, changes in TIER_CATEGORY_TILT.items():
        for name, factor in changes.items():
            tilt[t, [c.name for c in cats].index(name)] = factor
    kind_tilt = np.array([NICHE_KIND_TILT[c.kind] for c in cats])
    # Explore part: market shares tilted by (tier, niche); taste part: the buyer's top categories.
    explore_w = share[None, None, :] * tilt[1:, None, :] * np.stack([np.ones(C), kind_tilt])[None, :, :]
    explore_sampler = _GroupSampler(np.repeat(np.arange(6), C), explore_w.ravel(), 6)
    group = (tier - 1) * 2 + niche
    taste_w = rng.gamma(np.broadcast_to(np.maximum(TASTE_CONCENTRATION * share, 1e-3), (n, C)))
    taste_w *= tilt[tier] * np.where(niche[:, None], kind_tilt, 1.0)
    taste_w[:, ~present] = 0.0
    K = min(TASTE_TOP, C)
    top = np.argsort(-taste_w, axis=1, kind="stable")[:, :K]
    top_w = np.take_along_axis(taste_w, top, axis=1)
    del taste_w
    top_w /= np.maximum(top_w.sum(axis=1, keepdims=True), 1e-300)
    top_cum = np.cumsum(top_w, axis=1).astype(np.float32)
    top_cum[:, -1] = np.float32(2.0)  # every draw lands in the last column at the latest
    taste = _Taste(top.astype(np.int8), top_cum, group, explore_sampler, present)

    # Favourite regions: pick a liked category, then a region producing it (home province boost;
    # niche buyers weigh regions by their long-tail mass).
    mass = np.zeros((2, C, R))
    np.add.at(mass[0], (items.category, items.region), items.weight)
    np.add.at(mass[1], (items.category, items.region), items.niche_weight)
    city_province = np.array([c.province for c in cities])
    region_province = np.array([r.province for r in regions])
    home = np.where(city_province[:, None] == region_province[None, :], HOME_PROVINCE_BOOST, 1.0)
    fav_w = mass[:, None, :, :] * home[None, :, None, :]  # (niche, city, category, region)
    n_groups = 2 * len(cities) * C
    fav_sampler = _GroupSampler(np.repeat(np.arange(n_groups), R), fav_w.ravel(), n_groups)
    buyers = np.arange(n)

    def favourite() -> np.ndarray:
        c = _pick_category(taste, buyers, rng)
        g = (niche.astype(np.int64) * len(cities) + city) * C + c
        return fav_sampler.sample(g, rng) % R

    fav1 = favourite()
    fav2 = favourite()
    has_two = rng.random(n) < 0.45
    p_fav = np.where(niche, rng.beta(3, 5, n), rng.beta(2, 6, n))
    loyalty = rng.gamma(2.0, 0.5, n)

    window = (day_cum[-1] - day_cum[join]) / day_cum[-1]
    sampler_cum = np.cumsum(activity * window)
    return _Buyers(n, city, tier, join, niche, band, taste, fav1, fav2, has_two, p_fav,
                   loyalty, activity, sampler_cum)


@dataclass(frozen=True)
class _Taste:
    """Category taste per buyer: the top categories of a sparse Dirichlet draw with their
    cumulative weights, plus a little exploration of the whole market by (tier, niche) group."""

    top: np.ndarray  # (buyers, K) category indices, favourite first
    top_cum: np.ndarray  # (buyers, K) cumulative weights
    group: np.ndarray  # (tier - 1) * 2 + niche
    explore: _GroupSampler
    present: np.ndarray  # categories with items

    @property
    def top_category(self) -> np.ndarray:
        return self.top[:, 0].astype(np.int64)


def _pick_category(taste: _Taste, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = len(b)
    c = np.empty(m, dtype=np.int64)
    explore = rng.random(m) < EXPLORE_P
    eb = b[explore]
    c[explore] = taste.explore.sample(taste.group[eb], rng) % len(taste.present)
    tb = b[~explore]
    column = (taste.top_cum[tb] < rng.random(len(tb)).astype(np.float32)[:, None]).sum(axis=1)
    c[~explore] = taste.top[tb, column]
    return np.where(taste.present[c], c, taste.top[b, 0])


def _first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the first occurrence of each key, stable sort order of the keys)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[order[1:][ordered[1:] == ordered[:-1]]] = False
    return first, order


# ----------------------------------------------------------------------------------------------
# purchases


class _PurchaseSampler:
    """Everything the batch sampler needs, built once."""

    def __init__(self, items: _Items, buyers: _Buyers, cal: _Calendar, first_day: int, day_cum: np.ndarray,
                 season_rows: np.ndarray):
        self.items, self.buyers, self.cal, self.day_cum = items, buyers, cal, day_cum
        self.first_day = first_day
        n, C, R = items.n, len(geo.CATEGORIES), len(geo.REGIONS)
        self.C, self.R = C, R
        # Category routes: [0, C) popular, [C, 2C) niche, [2C, 5C) popular within (category, band).
        groups = np.concatenate([items.category, C + items.category, 2 * C + items.category * 3 + items.band])
        weights = np.concatenate([items.weight, items.niche_weight, items.weight])
        self.cat_sampler = _GroupSampler(groups, weights, 5 * C)
        self.band_ok = self.cat_sampler.mass > 0
        # Favourite-region routes: [0, R) popular, [R, 2R) niche.
        self.region_sampler = _GroupSampler(np.concatenate([items.region, R + items.region]),
                                            np.concatenate([items.weight, items.niche_weight]), 2 * R)
        self.shop_sampler = _GroupSampler(items.merchant, items.weight, items.n_merchants)
        self.accept_flat = season_rows.ravel()
        # Gift season: some lines go to gift items (of the buyer's category when it has any).
        gift_groups = np.where(items.gift, items.category, C)
        self.gift_sampler = _GroupSampler(gift_groups, items.weight, C + 1)
        self.gift_ok = self.gift_sampler.mass[:C] > 0
        self.has_gifts = self.gift_sampler.mass[:C].sum() > 0
        cats = geo.CATEGORIES
        self.repeat_prob = np.array([c.repeat_prob for c in cats])[items.category]
        self.repeat_days = np.array([max(c.repeat_days, 1.0) for c in cats])[items.category]
        self.hour_cum = np.cumsum(cal.hourly)
        q = np.array([QUANTITY_P[k] for k in ("craft", "fresh", "consumable")])
        self.quantity_cum = np.cumsum(q, axis=1)[:, :-1]
        self.n_items = n
        self.seen_craft = np.zeros(0, dtype=np.int64)

    def times_of_day(self, m: int, rng: np.random.Generator) -> np.ndarray:
        hour = np.minimum(np.searchsorted(self.hour_cum, rng.random(m) * self.hour_cum[-1], side="right"), 23)
        return hour * 3600 + rng.integers(0, 3600, m)

    def pick_items(self, b: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        buyers, C = self.buyers, self.C
        m = len(b)
        item = np.empty(m, dtype=np.int64)
        if self.has_gifts:
            gift = rng.random(m) < GIFT_ROUTE_PEAK * self.cal.gift[day]
            if gift.any():
                c = _pick_category(buyers.taste, b[gift], rng)
                c = np.where(self.gift_ok[c], c, np.argmax(self.gift_sampler.mass[:C]))
                item[gift] = self.gift_sampler.sample(c, rng)
                rest = np.flatnonzero(~gift)
                item[rest] = self.pick_items_taste(b[rest], rng)
                return item
        return self.pick_items_taste(b, rng)

    def pick_items_taste(self, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Items by the buyer's favourite regions, category taste, price band and niche appetite."""
        buyers, C, R = self.buyers, self.C, self.R
        m = len(b)
        item = np.empty(m, dtype=np.int64)
        fav = rng.random(m) < buyers.p_fav[b]
        fb = b[fav]
        second = buyers.has_two[fb] & (rng.random(len(fb)) < 0.5)
        region = np.where(second, buyers.fav2[fb], buyers.fav1[fb])
        item[fav] = self.region_sampler.sample(region + R * buyers.niche[fb], rng) % self.n_items
        cb = b[~fav]
        c = _pick_category(buyers.taste, cb, rng)
        r = rng.random(len(cb))
        niche_line = buyers.niche[cb] & (r < NICHE_ROUTE_P)
        band_group = 2 * C + c * 3 + buyers.band[cb]
        band_line = ~niche_line & (rng.random(len(cb)) < BAND_P) & self.band_ok[band_group]
        g = np.where(niche_line, C + c, np.where(band_line, band_group, c))
        item[~fav] = self.cat_sampler.sample(g, rng) % self.n_items
        return item

    def accepted(self, item: np.ndarray, day: np.ndarray, rows: np.ndarray, combo: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        items = self.items
        p = rows[combo * self.cal.days + day]
        return (rng.random(len(item)) < p) & (day >= items.launch[item]) & (day < items.delist[item])

    def batch(self, n_orders: int, first_key: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], int]:
        """Lines of ``n_orders`` candidate orders and their repeat purchases, after rejection, within
        the period; and the next free order key."""
        buyers, items, cal = self.buyers, self.items, self.cal
        b = np.searchsorted(buyers.sampler_cum, rng.random(n_orders) * buyers.sampler_cum[-1], side="right")
        b = np.minimum(b, buyers.n - 1)
        lo = self.day_cum[buyers.join[b]]
        u = lo + rng.random(n_orders) * (self.day_cum[-1] - lo)
        day = np.clip(np.searchsorted(self.day_cum, u, side="right") - 1, buyers.join[b], cal.days - 1)
        sec = self.times_of_day(n_orders, rng)
        k = _cum_draw(LINES_PER_ORDER_P, n_orders, rng) + 1

        # First lines, then later lines (some from the first line's shop).
        first = self.pick_items(b, day, rng)
        multi = np.flatnonzero(k > 1)
        extra_order = np.repeat(multi, k[multi] - 1)
        extra_b = b[extra_order]
        extra = np.empty(len(extra_order), dtype=np.int64)
        same = rng.random(len(extra_order)) < SAME_SHOP_P
        extra[same] = self.shop_sampler.sample(items.merchant[first[extra_order[same]]], rng)
        extra[~same] = self.pick_items(extra_b[~same], day[extra_order[~same]], rng)
        order = np.concatenate([np.arange(n_orders), extra_order])
        item = np.concatenate([first, extra])
        line_day = day[order]
        keep = self.accepted(item, line_day, self.accept_flat, items.combo[item], rng)
        # Out of season or not on sale: the buyer looks again (demand follows the calendar).
        line_b = b[order]
        for _ in range(RETRIES):
            redo = np.flatnonzero(~keep)
            if not len(redo):
                break
            item[redo] = self.pick_items(line_b[redo], line_day[redo], rng)
            keep[redo] = self.accepted(item[redo], line_day[redo], self.accept_flat, items.combo[item[redo]], rng)
        # The same item twice in one order: keep one line.
        in_multi = np.flatnonzero(k[order] > 1)
        first_in_order, _ = _first_occurrences(order[in_multi] * self.n_items + item[in_multi])
        keep[in_multi[~first_in_order]] = False
        order, item = order[keep], item[keep]
        # A durable handicraft is seldom bought twice by the same buyer.
        craft = np.flatnonzero(self.items.quantity_class[item] == 0)
        if len(craft):
            key = b[order[craft]] * self.n_items + item[craft]
            first_time, by_key = _first_occurrences(key)
            seen = self.seen_craft
            sorted_key = key[by_key]
            pos = np.minimum(np.searchsorted(seen, sorted_key), max(len(seen) - 1, 0))
            bought_before = np.zeros(len(key), dtype=bool)
            if len(seen):
                bought_before[by_key] = seen[pos] == sorted_key
            drop = (bought_before | ~first_time) & (rng.random(len(craft)) >= CRAFT_REPEAT_KEEP)
            new = sorted_key[(first_time & ~bought_before)[by_key]]
            self.seen_craft = np.insert(seen, np.searchsorted(seen, new), new)
            kept = np.ones(len(item), dtype=bool)
            kept[craft[drop]] = False
            order, item = order[kept], item[kept]
        out = {
            "buyer": b[order],
            "item": item,
            "day": day[order],
            "sec": sec[order],
            "order": first_key + order,
        }
        rep = self.repeats(out, first_key + n_orders, rng)
        next_key = first_key + n_orders + len(rep["item"])
        in_period_base = out["day"] >= self.first_day
        in_period_rep = rep["day"] >= self.first_day
        lines = {name: np.concatenate([out[name][in_period_base], rep[name][in_period_rep]]) for name in out}
        self.finish(lines, rng)
        return lines, next_key

    def repeats(self, base: dict[str, np.ndarray], first_key: int, rng: np.random.Generator):
        """Consumables bought again by the same buyer weeks later, chained until the buyer stops."""
        buyers, cal = self.buyers, self.cal
        cur = np.flatnonzero(self.repeat_prob[base["item"]] > 0)
        b, item, day = base["buyer"][cur], base["item"][cur], base["day"][cur]
        parts = []
        while len(b):
            p = np.minimum(self.repeat_prob[item] * buyers.loyalty[b], 0.9)
            gap = rng.gamma(3.0, self.repeat_days[item] / 3.0) + 2.0
            nday = day + gap.astype(np.int64)
            go = (rng.random(len(b)) < p) & (nday < cal.days)
            b, item, nday = b[go], item[go], nday[go]
            ok = self.accepted(item, nday, self.accept_flat, self.items.combo[item], rng)
            b, item, day = b[ok], item[ok], nday[ok]
            parts.append((b, item, day))
        b = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        item = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        day = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        return {"buyer": b, "item": item, "day": day, "sec": self.times_of_day(len(b), rng),
                "order": first_key + np.arange(len(b), dtype=np.int64)}

    def finish(self, lines: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Quantity and paid price per line."""
        items, cal = self.items, self.cal
        item, day = lines["item"], lines["day"]
        thresholds = self.quantity_cum[items.quantity_class[item]]
        lines["quantity"] = 1 + (rng.random(len(item))[:, None] >= thresholds).sum(axis=1)
        paid = items.price[item] * cal.discount[day] * rng.lognormal(0.0, 0.03, len(item))
        lines["price"] = np.round(paid, 2)


def _sample_purchases(sampler: _PurchaseSampler, target: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    batches: list[dict[str, np.ndarray]] = []
    total = 0
    next_key = 0
    per_order = 0.7  # accepted lines per candidate order, refined as batches come in
    drawn = 0
    while total < target:
        want = target - total
        n_orders = int(min(max(want / per_order * 1.05, 2_000), 1_500_000))
        lines, next_key = sampler.batch(n_orders, next_key, rng)
        got = len(lines["item"])
        drawn += n_orders
        total += got
        per_order = max(total / drawn, 0.01)
        batches.append(lines)
        if drawn > 1000 * target + 10_000_000:  # cannot happen with sane data; guards a hang
            raise RuntimeError("demo marketplace: rejection sampling made no progress")
    excess = total - target
    if excess:
        last = batches[-1]
        n_last = len(last["item"])
        keep = np.sort(rng.choice(n_last, n_last - excess, replace=False))
        batches[-1] = {name: values[keep] for name, values in last.items()}
    out = {name: np.concatenate([bt[name] for bt in batches]) for name in batches[0]}
    return out


# ----------------------------------------------------------------------------------------------
# tables


def _purchases_table(lines: dict[str, np.ndarray], items: _Items, buyers: _Buyers, cal: _Calendar,
                     user_ids: pa.Array) -> pa.Table:
    seconds = lines["day"].astype(np.int64) * DAY + lines["sec"]
    order_key = lines["order"]
    bits = max(1, int(order_key.max()).bit_length()) if len(order_key) else 1
    if int(seconds.max(initial=0)).bit_length() + bits <= 62:
        order = np.argsort((seconds << bits) | order_key, kind="stable")
    else:
        order = np.lexsort((order_key, seconds))
    for name in list(lines):
        lines[name] = lines[name][order]
    seconds = seconds[order]
    okey = lines["order"]
    new_order = np.ones(len(okey), dtype=bool)
    new_order[1:] = okey[1:] != okey[:-1]
    order_no = np.cumsum(new_order)
    width = max(9, len(str(int(order_no[-1]) if len(order_no) else 0)))

    dates = pa.array([f"{d}T" for d in np.datetime_as_string(cal.dates).tolist()], pa.string())
    tod = np.arange(DAY)
    clock = pa.array([f"{h:02d}:{m:02d}:{s:02d}Z" for h, m, s in
                      zip((tod // 3600).tolist(), (tod // 60 % 60).tolist(), (tod % 60).tolist())], pa.string())
    city_names = pa.array([c.name for c in geo.CITIES], pa.string())
    item_ids = items.table.column("item_id").combine_chunks()

    batches = []
    chunk = 1_000_000
    n = len(seconds)
    for s in range(0, max(n, 1), chunk):
        e = min(n, s + chunk)
        b = lines["buyer"][s:e]
        day = pa.array(lines["day"][s:e])
        sec = pa.array(lines["sec"][s:e])
        numbers = pc.cast(pa.array(order_no[s:e]), pa.string())
        batches.append(pa.record_batch([
            user_ids.take(pa.array(b)),
            item_ids.take(pa.array(lines["item"][s:e])),
            pc.binary_join_element_wise(dates.take(day), clock.take(sec), ""),
            pa.array(lines["quantity"][s:e].astype(np.int64)),
            pc.binary_join_element_wise("O", pc.utf8_lpad(numbers, width=width, padding="0"), ""),
            pa.array(lines["price"][s:e], pa.float64()),
            city_names.take(pa.array(buyers.city[b])),
            pa.array(buyers.tier[b].astype(np.int64)),
        ], names=list(PURCHASE_COLUMNS)))
    return pa.Table.from_batches(batches)


def _buyers_table(buyers: _Buyers, cal: _Calendar, user_ids: pa.Array) -> pa.Table:
    cities, regions, cats = geo.CITIES, geo.REGIONS, geo.CATEGORIES
    codes = np.array([r.code for r in regions], dtype=object)
    favourites = np.where(buyers.has_two & (buyers.fav1 != buyers.fav2),
                          codes[buyers.fav1] + ";" + codes[buyers.fav2], codes[buyers.fav1])
    return pa.table({
        "user_id": user_ids,
        "city": pa.array([c.name for c in cities], pa.string()).take(pa.array(buyers.city)),
        "province": pa.array([c.province for c in cities], pa.string()).take(pa.array(buyers.city)),
        "city_tier": pa.array(buyers.tier.astype(np.int64)),
        # null: active since before the period
        "joined": pa.array([None if j == 0 else d for j, d in zip(
            buyers.join.tolist(),
            np.datetime_as_string(cal.start + buyers.join.astype("timedelta64[D]")).tolist())], pa.string()),
        "niche": pa.array(buyers.niche, pa.bool_()),
        "price_band": pa.array(buyers.band, pa.int8()),
        "activity": pa.array(buyers.activity, pa.float64()),
        "top_category": pa.array([c.name for c in cats], pa.string()).take(pa.array(buyers.taste.top_category)),
        "favourite_regions": pa.array(favourites.tolist(), pa.string()),
    })


# ----------------------------------------------------------------------------------------------
# public API


def generate_marketplace(buyers: int = 20_000, items: int = 2_000, seed: int = 0, purchases: int | None = None,
                         end_date: str = "2026-10-31", years: float = 2.0) -> Marketplace:
    """Generate a demo marketplace: purchases and catalog under the data contract.

    ``purchases`` is the number of purchase lines; by default about 20 per buyer. The same
    arguments always give the same tables; the catalog depends only on ``seed``, ``items`` and
    the period.
    """
    n_buyers = _integer("buyers", buyers, 1)
    n_items = _integer("items", items, MIN_ITEMS)
    seed = _integer("seed", seed, 0)
    target = LINES_PER_BUYER * n_buyers if purchases is None else _integer("purchases", purchases, 1)
    start, days = _period(end_date, years)

    catalog_rng, buyer_rng, purchase_rng = (np.random.Generator(np.random.PCG64(s))
                                            for s in np.random.SeedSequence(seed).spawn(3))
    first_day = BURN_IN_DAYS
    cal = _calendar(start - np.timedelta64(first_day, "D"), days + first_day)
    season_names, season_rows = _season_rows(cal)
    day_cum = np.concatenate([[0.0], np.cumsum(cal.intensity)])
    item_data = _build_catalog(n_items, cal, first_day, season_names, season_rows, catalog_rng)
    buyer_data = _build_buyers(n_buyers, item_data, cal, first_day, day_cum, buyer_rng)
    sampler = _PurchaseSampler(item_data, buyer_data, cal, first_day, day_cum, season_rows)
    lines = _sample_purchases(sampler, target, purchase_rng)

    width = max(7, len(str(n_buyers)))
    user_ids = pc.binary_join_element_wise(
        "U", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n_buyers + 1)), pa.string()), width=width, padding="0"), "")
    purchases_table = _purchases_table(lines, item_data, buyer_data, cal, user_ids)
    return Marketplace(purchases_table, item_data.table, _buyers_table(buyer_data, cal, user_ids), item_data.facts)


def write_demo_marketplace(out_dir: str | os.PathLike, buyers: int = 20_000, items: int = 2_000, seed: int = 0,
                           purchases: int | None = None) -> dict[str, Path]:
    """Generate a demo marketplace and write ``purchases.csv`` and ``catalog.csv`` into ``out_dir``,
    and ``buyers.csv``: the buyers' latent traits (their known tastes, what ``simulate-lot`` reads;
    not part of the data contract)."""
    market = generate_marketplace(buyers=buyers, items=items, seed=seed, purchases=purchases)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "purchases": write_table(market.purchases, out / "purchases.csv"),
        "catalog": write_table(market.catalog, out / "catalog.csv"),
        "buyers": write_table(market.buyers, out / "buyers.csv"),
    }
