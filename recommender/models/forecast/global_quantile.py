"""A global quantile model across all series: gradient boosting on lag, rolling, seasonal, calendar
and item features, in the spirit of the M5 competition's winners.

**Point forecast and band.** P10 and P90 come from quantile loss. The middle column is the
expected demand (Poisson loss), like every other method's point forecast: for an item that sells
a unit in one week out of three the median is 0, and medians of items do not add up to the
merchant's total, while expected demands do.

**Direct multi-horizon.** One training row per ``(series, origin, horizon h)``: features known at
the origin (:func:`~recommender.features.demand_lags.lag_features`), ``h`` itself and the
calendar of the target period; target the demand ``h`` periods later. One model per quantile
(scikit-learn's ``HistGradientBoostingRegressor(loss="quantile")``) then predicts every horizon
from the last origin in one call. Direct rather than recursive because quantiles cannot be fed
back as inputs (a recursive P90 path is not the P90 of anything), errors do not compound over 26
weeks, and prediction is a single vectorised call.

**Exceptional orders.** The expected-demand model learns from targets capped at
``max_order_multiple`` times the series' typical order, the mean units of its periods with a
sale over the last half year (feature ``sale_size``): a one-off bulk order (a wholesaler buying a
year's stock in one week) is not something the history can time, and fitting it pulls every
similar series' forecast up for weeks. Measured against the typical order rather than the mean
per period, an item that sells 4 units once a month is not cut to a fraction of one sale. P10 and
P90 learn from the uncapped targets, so the band still reaches such weeks. On the rolling-origin
backtests of the demo marketplace and the UCI data, the former cap (3 times the mean per period)
was as good for items on UCI, worse on the demo, and under-forecast merchant totals more on both
(the multiple, 3, was kept, not tuned).

Demand features and the target are divided by the series' recent level and rows are weighted by
it, so one model learns shapes shared by series of every size. Training rows (unweighted: quantile loss with sample weights is several times slower in
scikit-learn) are a seeded random sample
of at most ``max_rows`` of all valid ``(series, origin, h)`` with at least one sale before the
origin. Quantile predictions are sorted per row so they never cross.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from recommender.features.demand import RECENT, DemandPanel, ForecastInputError
from recommender.features.demand_lags import lag_features
from recommender.models.forecast.base import QUANTILES, Forecaster

MAX_CATEGORIES = 250  # HistGradientBoosting's limit on categories per feature (255 bins minus missing)


def _item_features(series: pd.DataFrame) -> pd.DataFrame:
    """Per-series attributes the model may use: log price, city tier, category (categorical)."""
    frame = pd.DataFrame({"log_price": np.log1p(series.price.fillna(series.price.median()).to_numpy(np.float64))})
    if "city_tier" in series:
        frame["city_tier"] = series.city_tier.to_numpy().astype(np.float32)
    if 1 < series.category.nunique() <= MAX_CATEGORIES:
        frame["category"] = pd.Categorical(series.category)
    return frame


class GlobalQuantileForecaster(Forecaster):
    """Gradient boosting for P10 and P90 (quantile loss) and the expected demand (Poisson loss), trained across all series, direct over ``horizon`` periods."""

    def __init__(self, horizon: int = 12, max_rows: int = 50_000, max_iter: int = 100, learning_rate: float = 0.1,
                 max_leaf_nodes: int = 31, min_samples_leaf: int = 40, max_order_multiple: float | None = 3.0,
                 random_state: int = 0):
        self.horizon = horizon
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.max_order_multiple = max_order_multiple
        self.random_state = random_state

    def _rows(self, values: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A seeded sample of training rows (series, origin, h) whose target lies inside the history."""
        n, n_periods = values.shape
        first_origin = max(1, min(RECENT[freq], n_periods - 1))
        origins, horizons = np.meshgrid(np.arange(first_origin, n_periods), np.arange(1, self.horizon + 1),
                                        indexing="ij")
        valid = origins + horizons - 1 < n_periods
        origins, horizons = origins[valid], horizons[valid]
        if not len(origins):
            raise ForecastInputError(f"a history of {n_periods} periods is too short to train the global model")
        first_sale = np.where(values.any(axis=1), (values > 0).argmax(axis=1), n_periods)
        rng = np.random.default_rng(self.random_state)
        total = n * len(origins)
        if total <= self.max_rows:
            rows, pairs = np.divmod(np.arange(total), len(origins))
        else:
            picks = np.unique(rng.integers(0, total, size=int(self.max_rows * 1.3)))
            rows, pairs = np.divmod(picks, len(origins))
        keep = first_sale[rows] < origins[pairs]
        rows, pairs = rows[keep][:self.max_rows], pairs[keep][:self.max_rows]
        if not len(rows):
            raise ForecastInputError("no series has a sale early enough to train the global model")
        return rows, origins[pairs], horizons[pairs]

    def _design(self, rows, origins, horizons) -> tuple[pd.DataFrame, np.ndarray]:
        features, scale = lag_features(self.values_, self.starts_, self.freq_, rows, origins, horizons)
        items = self.item_features_.iloc[rows].reset_index(drop=True)
        return pd.concat([features, items], axis=1), scale

    def fit(self, panel: DemandPanel) -> "GlobalQuantileForecaster":
        self.values_, self.starts_, self.freq_ = panel.values, panel.starts, panel.freq
        self.item_features_ = _item_features(panel.series)
        rows, origins, horizons = self._rows(panel.values, panel.freq)
        X, scale = self._design(rows, origins, horizons)
        self.columns_ = [name for name in X.columns if X[name].notna().any()]  # e.g. no lag of a year yet
        target = panel.values[rows, origins + horizons - 1] / scale
        cap = (np.inf if self.max_order_multiple is None
               else self.max_order_multiple * X["sale_size"].to_numpy(np.float64))
        X = X[self.columns_]
        with threadpool_limits(1, "openmp"):  # small trees: one thread is faster, and never oversubscribes
            self.models_ = [self._fit_one(quantile, X, np.minimum(target, cap) if quantile == 0.5 else target)
                            for quantile in QUANTILES]
        return self

    def _fit_one(self, quantile: float, X: pd.DataFrame, target: np.ndarray) -> HistGradientBoostingRegressor:
        loss = {"loss": "poisson"} if quantile == 0.5 else {"loss": "quantile", "quantile": quantile}
        return HistGradientBoostingRegressor(
            **loss, max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf, early_stopping=False,
            random_state=self.random_state).fit(X, target)

    def predict(self, horizon: int) -> np.ndarray:
        check_is_fitted(self)
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon must be 1..{self.horizon} (the horizon the model was trained for), got {horizon}")
        n, n_periods = self.values_.shape
        rows = np.repeat(np.arange(n), horizon)
        horizons = np.tile(np.arange(1, horizon + 1), n)
        X, scale = self._design(rows, np.full(len(rows), n_periods), horizons)
        with threadpool_limits(1, "openmp"):
            predictions = np.stack([model.predict(X[self.columns_]) * scale for model in self.models_], axis=1)
        return np.sort(np.maximum(predictions, 0.0), axis=1).reshape(n, horizon, len(QUANTILES))
