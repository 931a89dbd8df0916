"""What a forecast request may ask and what every forecast table holds: the levels, the longest
horizons, the columns, and the check of a request.

Shared by the fitting side (:mod:`~recommender.forecasting.views`, ``recommender forecast``) and
the reading side (:mod:`~recommender.forecasting.published`, the server's merchant route), which
therefore needs neither statsforecast nor LightGBM (the ``[forecast]`` extra).
"""
from __future__ import annotations

import numpy as np

from recommender.forecasting.panel import LEVELS, ForecastInputError

MAX_HORIZON = {"W": 26, "D": 182}  # half a year
BY_CHOICES = LEVELS + ("merchant",)
SERIES_KEYS = {"item": ["item_id"], "item,city_tier": ["item_id", "city_tier"]}
KEYS = {**SERIES_KEYS, "merchant": ["merchant_id"]}  # the columns naming a row of each table
QUANTILE_COLUMNS = ["p10", "p50", "p90"]
EXPLAINED = ["model", "recent_level", "previous_level", "recent_trend", "rising"]
# The one trend of items, item x tier rows and totals: ``recent_trend`` is ``recent_level`` (units
# per period over the last RECENT periods, 13 weeks) against ``previous_level`` (the RECENT before),
# ``rising`` when it is at least RISING; a sum of rows (a city tier, a merchant) has the trend
# sum(recent_level) / sum(previous_level) - 1. The pages and the report call a trend of at most
# -RISING falling, anything between steady.
RISING = 0.10
VALUES = ["period_start", *QUANTILE_COLUMNS, *EXPLAINED]  # the columns every table has after its keys
# the current period's rows (the data stops inside it): units sold so far, and P10/P50/P90 of the
# whole period (sales so far plus the forecast of its remaining days)
CURRENT_VALUES = ["period_start", "sold_so_far", *QUANTILE_COLUMNS, *EXPLAINED]


def check_horizon(horizon: int, freq: str) -> None:
    """Raise :class:`ForecastInputError` for a horizon the library does not serve."""
    limit = MAX_HORIZON[freq]
    if not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= limit:
        unit = "weeks" if freq == "W" else "days"
        raise ForecastInputError(f"horizon must be 1..{limit} {unit} (26 weeks) for freq {freq}, got {horizon!r}")


def check_request(horizon: int, freq: str, by: str) -> None:
    """Raise :class:`ForecastInputError` for a horizon, period length or level the library does not serve."""
    if by not in BY_CHOICES:
        raise ForecastInputError(f"by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    if freq not in MAX_HORIZON:
        raise ForecastInputError(f"freq must be W (weekly) or D (daily), got {freq!r}")
    check_horizon(horizon, freq)
