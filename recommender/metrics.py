"""Ranking metrics over a batch of buyers, vectorised with numpy.

Every function takes ``recommended``, an ``n_users x k`` array of item codes, best first, padded
with ``-1`` (what :func:`recommender.ranking.top_k` returns). The accuracy metrics also take
``relevant``, the held-out purchases as an ``n_users x n_items`` matrix (scipy sparse, or a dense
array; any non-zero entry is a relevant item), row ``u`` belonging to the buyer of row ``u`` of
``recommended``.

* Accuracy (:func:`recall_at_k`, :func:`ndcg_at_k`, :func:`map_at_k`) is averaged over the buyers
  with **at least one relevant item**; buyers without any are left out of the mean (they cannot
  score anything), and the mean of an empty set is ``nan``. An item recommended twice to the same
  buyer counts once (later repeats are misses); padding is a miss.
* Beyond accuracy (:func:`catalog_coverage`, :func:`long_tail_share`, :func:`average_popularity`,
  :func:`exposure_gini`) describe the lists as shown, over **every row** of ``recommended`` and
  every filled slot (padding is ignored).

Popularity is the per-item count of training purchases (see :func:`item_popularity`); the "short
head" is the most popular ``head_share`` (20%) of the catalog, ties at the boundary broken by item
code, and never includes an item nobody bought (:func:`head_items`). The long tail is the rest.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

PADDING = -1
HEAD_SHARE = 0.2


# --- inputs ---------------------------------------------------------------------------------------

def _recommended(recommended, k: int | None = None) -> np.ndarray:
    rec = np.asarray(recommended)
    if rec.ndim == 1:
        rec = rec[None, :]
    if rec.ndim != 2:
        raise ValueError(f"recommended must be a 2-d array (users x k), got shape {rec.shape}")
    if rec.size and not np.issubdtype(rec.dtype, np.integer):
        raise ValueError(f"recommended must hold integer item codes, got dtype {rec.dtype}")
    rec = rec.astype(np.int64, copy=False)
    if k is not None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        rec = rec[:, :k]
    if rec.size and rec.min() < PADDING:
        raise ValueError(f"recommended holds negative codes other than the padding {PADDING}")
    return rec


def _relevant(relevant, n_users: int) -> sp.csr_matrix:
    rel = sp.csr_matrix(relevant)
    if rel.shape[0] != n_users:
        raise ValueError(f"relevant has {rel.shape[0]} rows but recommended has {n_users}")
    rel = rel.copy()
    rel.eliminate_zeros()
    rel.sum_duplicates()  # also sorts the column indices of each row
    return rel


def _first_occurrence(rec: np.ndarray) -> np.ndarray:
    """True where a slot holds a real item not already shown earlier in the same row."""
    first = rec != PADDING
    for j in range(1, rec.shape[1]):
        first[:, j] &= ~(rec[:, :j] == rec[:, j:j + 1]).any(axis=1)
    return first


def hits(recommended, relevant) -> tuple[np.ndarray, np.ndarray]:
    """``(hit, n_relevant)``: a boolean ``n_users x k`` matrix (slot holds a relevant item, first
    time shown) and each buyer's number of relevant items. The building block of the metrics."""
    rec = _recommended(recommended)
    rel = _relevant(relevant, rec.shape[0])
    n_users, n_items = rel.shape
    if rec.size and rec.max() >= n_items:
        raise ValueError(f"recommended holds item code {int(rec.max())} but relevant has only {n_items} columns")
    # one sorted key per relevant (user, item) pair; look every slot up by binary search
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices.astype(np.int64)
    wanted = np.arange(n_users, dtype=np.int64)[:, None] * n_items + rec
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = (keys[pos] == wanted) if len(keys) else np.zeros(rec.shape, dtype=bool)
    hit &= _first_occurrence(rec)
    return hit, np.diff(rel.indptr).astype(np.int64)


def _mean_over_relevant(values: np.ndarray, n_relevant: np.ndarray, average: bool):
    if not average:
        return np.where(n_relevant > 0, values, np.nan)
    has = n_relevant > 0
    return float(values[has].mean()) if has.any() else math.nan


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


# --- accuracy -------------------------------------------------------------------------------------

def recall_at_k(recommended, relevant, k: int | None = None, average: bool = True):
    """Share of each buyer's relevant items found in the top ``k`` (``|hits| / |relevant|``).

    ``k`` defaults to the width of ``recommended``. Returns the mean over buyers with at least one
    relevant item, or with ``average=False`` the per-buyer values (``nan`` for the others).
    """
    hit, n_rel = hits(_recommended(recommended, k), relevant)
    return _mean_over_relevant(hit.sum(axis=1) / np.maximum(n_rel, 1), n_rel, average)


def ndcg_at_k(recommended, relevant, k: int | None = None, average: bool = True):
    """Normalised DCG with binary relevance: ``sum(hit_j / log2(j + 2))`` over positions ``j``
    from 0, divided by the ideal DCG of ``min(k, |relevant|)`` hits at the top."""
    rec = _recommended(recommended, k)
    hit, n_rel = hits(rec, relevant)
    discounts = _discounts(rec.shape[1])
    dcg = hit @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, rec.shape[1])]
    return _mean_over_relevant(dcg / np.where(ideal > 0, ideal, 1.0), n_rel, average)


def map_at_k(recommended, relevant, k: int | None = None, average: bool = True):
    """Mean average precision: ``sum(precision@j * hit_j) / min(k, |relevant|)`` per buyer."""
    rec = _recommended(recommended, k)
    hit, n_rel = hits(rec, relevant)
    precision = np.cumsum(hit, axis=1) / np.arange(1, rec.shape[1] + 1)
    ap = (precision * hit).sum(axis=1) / np.maximum(np.minimum(n_rel, rec.shape[1]), 1)
    return _mean_over_relevant(ap, n_rel, average)


# --- popularity -----------------------------------------------------------------------------------

def item_popularity(purchases: pd.DataFrame, n_items: int | None = None, by: str = "lines") -> np.ndarray:
    """Training popularity per item code (float64): purchase ``"lines"``, units (``"quantity"``)
    or distinct ``"buyers"``. ``n_items`` defaults to the number of item categories."""
    items = purchases.item_id.cat.codes.to_numpy().astype(np.int64)
    n_items = len(purchases.item_id.cat.categories) if n_items is None else n_items
    if by == "lines":
        weights = None
    elif by == "quantity":
        weights = purchases.quantity.to_numpy(dtype=np.float64)
    elif by == "buyers":
        users = purchases.user_id.cat.codes.to_numpy().astype(np.int64)
        items = np.unique(users * n_items + items) % n_items
        weights = None
    else:
        raise ValueError(f"by must be 'lines', 'quantity' or 'buyers', got {by!r}")
    return np.bincount(items, weights=weights, minlength=n_items).astype(np.float64)


def head_items(popularity, head_share: float = HEAD_SHARE) -> np.ndarray:
    """Boolean mask of the short head: the ``floor(head_share * n_items)`` most popular items
    (ties broken by lower item code), excluding items with zero popularity."""
    pop = np.asarray(popularity, dtype=np.float64)
    if pop.ndim != 1:
        raise ValueError(f"popularity must be 1-d (one value per item), got shape {pop.shape}")
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must be in [0, 1], got {head_share!r}")
    n_head = int(math.floor(head_share * len(pop) + 1e-9))
    head = np.zeros(len(pop), dtype=bool)
    head[np.argsort(-pop, kind="stable")[:n_head]] = True
    return head & (pop > 0)


def _slots(rec: np.ndarray) -> np.ndarray:
    return rec[rec != PADDING]


def _check_codes(codes: np.ndarray, n_items: int, what: str) -> None:
    if codes.size and codes.max() >= n_items:
        raise ValueError(f"recommended holds item code {int(codes.max())} but {what} covers only {n_items} items")


# --- beyond accuracy ------------------------------------------------------------------------------

def catalog_coverage(recommended, n_items: int | None = None, items=None) -> float:
    """Share of the catalog recommended to at least one buyer.

    The catalog is ``n_items`` items, or the items where the boolean mask ``items`` is True (e.g.
    the available ones; recommended items outside the mask are then not counted).
    """
    codes = _slots(_recommended(recommended))
    if items is not None:
        mask = np.asarray(items, dtype=bool)
        n_items = len(mask) if n_items is None else n_items
    elif n_items is None:
        raise ValueError("catalog_coverage needs n_items or an items mask")
    _check_codes(codes, n_items, "the catalog")
    shown = np.zeros(n_items, dtype=bool)
    shown[codes] = True
    if items is not None:
        return float(shown[mask].sum() / mask.sum()) if mask.any() else math.nan
    return float(shown.sum() / n_items) if n_items else math.nan


def long_tail_share(recommended, popularity, head_share: float = HEAD_SHARE) -> float:
    """Share of the filled slots whose item is outside the short head (see :func:`head_items`)."""
    codes = _slots(_recommended(recommended))
    head = head_items(popularity, head_share)
    _check_codes(codes, len(head), "popularity")
    return float((~head[codes]).mean()) if codes.size else math.nan


def average_popularity(recommended, popularity, normalize: bool = False) -> float:
    """Mean training popularity of the recommended items (over filled slots). With
    ``normalize=True`` popularity is divided by the most popular item's, giving a value in [0, 1]."""
    codes = _slots(_recommended(recommended))
    pop = np.asarray(popularity, dtype=np.float64)
    _check_codes(codes, len(pop), "popularity")
    if not codes.size:
        return math.nan
    value = float(pop[codes].mean())
    if normalize:
        top = pop.max() if pop.size else 0.0
        value = value / top if top > 0 else 0.0
    return float(value)


def group_codes(groups) -> tuple[np.ndarray, int]:
    """Item -> group as ``(codes, n_groups)``: from a categorical (all its categories count, used
    or not), integer codes (groups ``0..max``) or any labels (factorised)."""
    if isinstance(groups, (pd.Series, pd.Categorical, pd.Index)) and isinstance(groups.dtype, pd.CategoricalDtype):
        values = pd.Series(groups)
        return values.cat.codes.to_numpy().astype(np.int64), len(values.cat.categories)
    array = np.asarray(groups)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.int64)
        return array, int(array.max()) + 1 if array.size else 0
    codes, uniques = pd.factorize(array)
    return codes.astype(np.int64), len(uniques)


def gini(values) -> float:
    """Gini coefficient of non-negative values: 0 when equal, ``1 - 1/n`` when one holds all."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return math.nan
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


def exposure(recommended, groups, position_weighted: bool = False) -> np.ndarray:
    """Exposure per group (length = number of groups, zeros included): the number of slots showing
    one of its items, or with ``position_weighted`` the sum of ``1 / log2(rank + 1)``."""
    rec = _recommended(recommended)
    codes, n_groups = group_codes(groups)
    filled = rec != PADDING
    _check_codes(rec[filled], len(codes), "groups")
    weights = np.broadcast_to(_discounts(rec.shape[1]), rec.shape)[filled] if position_weighted else None
    item_group = codes[rec[filled]]
    known = item_group >= 0  # a missing label (categorical code -1) belongs to no group
    return np.bincount(item_group[known], weights=None if weights is None else weights[known],
                       minlength=n_groups).astype(np.float64)


def least_exposed_share(recommended, groups, fraction: float = 0.2) -> float:
    """Share of the recommended slots that go to the least-exposed ``fraction`` of the groups (at
    least one group; groups that got no slot count, and are the least exposed): 0 when the bottom
    fifth of merchants never appears, ``fraction`` when every group is shown alike."""
    counts = np.sort(exposure(recommended, groups))
    total = counts.sum()
    if len(counts) == 0 or total <= 0:
        return math.nan
    return float(counts[:max(1, int(math.floor(fraction * len(counts))))].sum() / total)


def exposure_table(recommended, labels, sales) -> pd.DataFrame:
    """Each group's share of the recommended slots next to its share of the purchases (``sales``:
    units or lines per item code), most exposed first: one row per group (``labels``: the group
    name of every item code), columns ``group``, ``slot_share``, ``sales_share``."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object).fillna("unknown"))
    slots = exposure(recommended, codes)
    sold = np.bincount(codes, weights=np.asarray(sales, dtype=np.float64), minlength=len(uniques))
    table = pd.DataFrame({"group": uniques.astype(str), "slot_share": slots / max(slots.sum(), 1.0),
                          "sales_share": sold / max(sold.sum(), 1.0)})
    return table.sort_values(["slot_share", "sales_share"], ascending=False, ignore_index=True)


def long_tail_recall(recommended, relevant, popularity, k: int | None = None, head_share: float = HEAD_SHARE) -> float:
    """Recall@k on the relevant items outside the short head only, over the buyers who have such
    an item: how well lists find the long-tail goods buyers went on to buy."""
    head = head_items(popularity, head_share)
    tail_only = sp.csr_matrix(_relevant(relevant, np.shape(_recommended(recommended))[0]), dtype=np.float32)
    tail_only = sp.csr_matrix(tail_only.multiply((~head)[None, :].astype(np.float32)))
    tail_only.eliminate_zeros()
    rows = np.flatnonzero(tail_only.getnnz(axis=1) > 0)
    if len(rows) == 0:
        return math.nan
    return float(recall_at_k(_recommended(recommended, k)[rows], tail_only[rows]))


def exposure_gini(recommended, groups, position_weighted: bool = False) -> float:
    """Gini coefficient of exposure across groups (regions, merchants, or items with
    ``groups=np.arange(n_items)``), counting groups that got no exposure. ``groups`` maps item code
    to group (see :func:`group_codes`); ``nan`` if nothing was shown."""
    return gini(exposure(recommended, groups, position_weighted))


# --- all at once ----------------------------------------------------------------------------------

def evaluate_rankings(recommended, relevant, popularity, groups: dict | None = None, k: int | None = None,
                      head_share: float = HEAD_SHARE, items=None) -> dict[str, float]:
    """Every metric at once, as ``{name: value}``.

    Keys: ``recall@k``, ``ndcg@k``, ``map@k`` (means over buyers with at least one relevant item),
    ``users`` (how many such buyers), ``coverage``, ``long_tail_share``, ``avg_popularity`` and
    ``avg_popularity_norm`` (over every row of ``recommended``), ``long_tail_recall@k``
    (:func:`long_tail_recall`), and ``gini_<name>`` and ``least_fifth_<name>`` (:func:`least_exposed_share`)
    for each ``groups`` entry (e.g. ``{"region": catalog.region, "merchant": catalog.merchant_id}``).
    ``items`` restricts the coverage denominator (e.g. to available items).
    """
    rec = _recommended(recommended, k)
    k = rec.shape[1]
    hit, n_rel = hits(rec, relevant)
    has = n_rel > 0
    n_items = relevant.shape[1] if hasattr(relevant, "shape") else np.shape(relevant)[1]

    discounts = _discounts(k)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
    precision = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    per_user = {
        f"recall@{k}": hit.sum(axis=1) / np.maximum(n_rel, 1),
        f"ndcg@{k}": (hit @ discounts) / np.where(ideal > 0, ideal, 1.0),
        f"map@{k}": (precision * hit).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1),
    }
    result = {name: float(values[has].mean()) if has.any() else math.nan for name, values in per_user.items()}
    result["users"] = float(has.sum())
    result["coverage"] = catalog_coverage(rec, n_items, items)
    result["long_tail_share"] = long_tail_share(rec, popularity, head_share)
    result["avg_popularity"] = average_popularity(rec, popularity)
    result["avg_popularity_norm"] = average_popularity(rec, popularity, normalize=True)
    result[f"long_tail_recall@{k}"] = long_tail_recall(rec, relevant, popularity, head_share=head_share)
    for name, mapping in (groups or {}).items():
        result[f"gini_{name}"] = exposure_gini(rec, mapping)
        result[f"least_fifth_{name}"] = least_exposed_share(rec, mapping)
    return result


def intra_list_diversity(recommended, labels) -> float:
    """Intra-list diversity by a label (category, region): over the lists of ``recommended`` (item
    codes, -1 padding) with two items or more, the mean share of their pairs of items whose
    ``labels`` (one per item code) differ; 0 when every list holds one label, 1 when no two items
    share one. ``nan`` without such lists."""
    rec = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    codes = group_codes(labels)[0]
    filled = rec >= 0
    values = np.where(filled, codes[np.maximum(rec, 0)], -2)  # -2: padding; a missing label (-1) is a label
    n = filled.sum(axis=1)
    pairs = n * (n - 1) / 2
    same = np.zeros(len(rec))
    for label in np.unique(values[filled]):
        count = (values == label).sum(axis=1)
        same += count * (count - 1) / 2
    ok = pairs > 0
    return float(np.mean(1.0 - same[ok] / pairs[ok])) if ok.any() else math.nan


def repeated_group_share(recommended, groups: np.ndarray) -> float:
    """Share of the lists of ``recommended`` (item codes, -1 padding) holding two items of one of
    ``groups`` (an int group per item code, e.g. the product of each listing)."""
    rec = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    if len(rec) == 0:
        return math.nan
    values = np.where(rec >= 0, np.asarray(groups)[np.maximum(rec, 0)], -1)
    ordered = np.sort(values, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    return float(repeated.any(axis=1).mean())


def first_of_each(recommended, groups: np.ndarray) -> np.ndarray:
    """``recommended`` (item codes, -1 padding) as group codes (``groups``: one int per item code,
    e.g. each listing's product), each row's repeats of a group turned into -1 (kept in place)."""
    rec = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    values = np.where(rec >= 0, np.asarray(groups)[np.maximum(rec, 0)], -1)
    earlier = (values[:, :, None] == values[:, None, :]) & np.tri(values.shape[1], k=-1, dtype=bool).T[None]
    return np.where(earlier.any(axis=1) | (values < 0), -1, values)
