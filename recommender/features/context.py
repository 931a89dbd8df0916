"""Buyer context: what is known of a buyer besides the items bought (city tier, place)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.contract import MAX_CITY_TIER, UNKNOWN_LABEL, UNKNOWN_TIER
from recommender.features.encoders import IdEncoder


def buyer_tiers(purchases: pd.DataFrame, n_users: int) -> np.ndarray:
    """Each buyer's most frequent known city tier (int8, ``UNKNOWN_TIER`` when never given)."""
    known = purchases.city_tier.to_numpy() != UNKNOWN_TIER
    users = purchases.user_id.cat.codes.to_numpy().astype(np.int64)[known]
    tiers = purchases.city_tier.to_numpy()[known].astype(np.int64)
    width = MAX_CITY_TIER + 1
    counts = np.bincount(users * width + tiers, minlength=n_users * width).reshape(n_users, width)
    result = counts.argmax(axis=1).astype(np.int8)
    result[counts.sum(axis=1) == 0] = UNKNOWN_TIER
    return result


def buyer_places(purchases: pd.DataFrame, users: IdEncoder) -> tuple[np.ndarray, list[str]]:
    """Each buyer's most frequent known ``city`` of the purchase lines (the place an audience's
    make-up is counted by), buyers in the order of ``users``: codes (int32, -1 when never given)
    into the returned names (sorted)."""
    if "city" not in purchases:
        return np.full(len(users), -1, dtype=np.int32), []
    cities = purchases.city.astype(str)
    known = (cities != UNKNOWN_LABEL) & (cities != "")
    buyers = users.encode(purchases.user_id[known].astype(str).to_numpy())
    lines = pd.DataFrame({"buyer": buyers, "city": cities[known].to_numpy()})
    lines = lines[lines.buyer >= 0]
    names = sorted(lines.city.unique().tolist())
    counts = lines.groupby(["buyer", "city"]).size().rename("lines").reset_index()
    counts = counts.sort_values(["buyer", "lines", "city"], ascending=[True, False, True]).drop_duplicates("buyer")
    codes = np.full(len(users), -1, dtype=np.int32)
    codes[counts.buyer.to_numpy()] = np.searchsorted(names, counts.city.to_numpy())
    return codes, names
