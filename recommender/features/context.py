"""Buyer context: what is known of a buyer besides the items bought (city tier)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.contract import MAX_CITY_TIER, UNKNOWN_TIER


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
