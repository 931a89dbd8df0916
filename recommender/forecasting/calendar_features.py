"""Calendar features of forecast periods: season position and the marketplace's shopping festivals.

For each period start (weeks start on Monday; days), :func:`calendar_features` gives

* ``week_of_year`` (ISO week, 1..53) and ``month``; for daily periods also ``day_of_week``
  (0 = Monday);
* ``to_cny``, ``to_618``, ``to_double11``: the signed distance, in periods, from the period to the
  nearest Chinese New Year's Day, June 18 ("618" sale) and November 11 ("Double 11"): 0 when the
  period contains the day, negative before it, positive after it, clipped to
  :data:`EVENT_REACH` periods (8 weeks or 30 days) either side, so far-away dates look alike.

Chinese New Year follows the lunar calendar; its Gregorian dates come from the table
:data:`~recommender.holidays.CHINESE_NEW_YEAR` (2010-2040, no downloads). Outside
those years the nearest tabled date is used, which only ever matters through the clipped distance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.holidays import CHINESE_NEW_YEAR

PERIOD_DAYS = {"W": 7, "D": 1}
EVENT_REACH = {"W": 8, "D": 30}
FIXED_EVENTS = {"to_618": (6, 18), "to_double11": (11, 11)}


def _event_days(dates: list[np.datetime64]) -> np.ndarray:
    return np.sort(np.asarray(dates, dtype="datetime64[D]").astype(np.int64))


def _distance(starts: np.ndarray, events: np.ndarray, freq: str) -> np.ndarray:
    """Signed periods from each period (start day, int days) to the nearest event day, clipped."""
    length = PERIOD_DAYS[freq]
    after = np.clip(np.searchsorted(events, starts), 0, len(events) - 1)
    before = np.clip(after - 1, 0, len(events) - 1)
    offsets = np.stack([starts - events[before], starts - events[after]])  # days from event to period start
    nearest = offsets[np.argmin(np.abs(offsets + (length - 1) / 2), axis=0), np.arange(len(starts))]
    periods = np.floor_divide(nearest + length - 1, length)  # 0 when the period contains the day
    reach = EVENT_REACH[freq]
    return np.clip(periods, -reach, reach).astype(np.float32)


def calendar_features(starts: pd.DatetimeIndex, freq: str) -> pd.DataFrame:
    """Calendar features (float32 columns, one row per period start) for weekly or daily periods."""
    if freq not in PERIOD_DAYS:
        raise ValueError(f"freq must be one of {', '.join(PERIOD_DAYS)}, got {freq!r}")
    starts = pd.DatetimeIndex(starts)
    days = starts.to_numpy().astype("datetime64[D]").astype(np.int64)
    years = range(int(starts.year.min()) - 1, int(starts.year.max()) + 2)
    frame = pd.DataFrame({
        "week_of_year": starts.isocalendar().week.to_numpy().astype(np.float32),
        "month": starts.month.to_numpy().astype(np.float32),
    })
    if freq == "D":
        frame["day_of_week"] = starts.dayofweek.to_numpy().astype(np.float32)
    cny = _event_days([np.datetime64(date) for date in CHINESE_NEW_YEAR.values()])
    frame["to_cny"] = _distance(days, cny, freq)
    for name, (month, day) in FIXED_EVENTS.items():
        frame[name] = _distance(days, _event_days([np.datetime64(f"{y}-{month:02d}-{day:02d}") for y in years]), freq)
    return frame
