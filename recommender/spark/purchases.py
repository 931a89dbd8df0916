"""Purchase lines read, checked and cleaned by Spark under the data contract.

The same contract and policies as :func:`recommender.loaders.load_purchases`, as Spark SQL
expressions (no Python UDF), so the lines never come to the driver:

* required columns present, ids non-empty, timestamps ISO 8601 or epoch seconds (UTC when no
  zone is given), quantities numbers (default 1), city tiers ``1``..``5`` or ``tier N``;
  a broken value stops the job with one error naming the file, the column, an example value and
  how many rows share the problem (Spark does not number rows, so no row number);
* returns and cancellations (``quantity <= 0``) are excluded, purchases of items missing from the
  catalog dropped (or the items added to the catalog, ``unknown_items="add"``), both counted in
  the :class:`~recommender.loaders.LoadReport`, whose note names up to five of those items and the
  other policy's option, as the loader's does (without the first row's number).

Cleaned lines have the columns ``user_id`` (string), ``item`` (int, catalog row), ``seconds``
(long, epoch seconds), ``quantity`` (double, float32-rounded like the loaders'), ``city_tier``
(int, 0 when unknown) and ``city`` (string, empty when unknown).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from recommender.columns import EPOCH_SECONDS_MAX, TEXT
from recommender.contract import (
    MAX_CITY_TIER,
    PURCHASE_REQUIRED,
    UNKNOWN_ITEM_POLICIES,
    UNKNOWN_TIER,
    ContractError,
    missing_columns,
)
from recommender.loaders import (
    RETURNS,
    UNKNOWN_ITEM_EXAMPLES,
    UNKNOWN_ITEMS,
    Dataset,
    LoadReport,
    add_unknown_items,
    unknown_items_note,
)
from recommender.tables import is_parquet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SECONDS_PER_DAY = 86_400.0


def read_table(spark, path: str):
    """A CSV (plain or gzip, every column as text) or Parquet table Spark can read at ``path``."""
    from pyspark.errors import AnalysisException

    try:
        if is_parquet(path):
            return spark.read.parquet(path)
        separator = "\t" if ".tsv" in path.lower() else ","
        return spark.read.csv(path, header=True, inferSchema=False, sep=separator, mode="PERMISSIVE")
    except AnalysisException as exc:
        raise ContractError(f"{path}: cannot be read by Spark: {str(exc).splitlines()[0]}") from exc


def _parsed_columns(frame):
    """Typed contract columns and, per column, the condition that marks a broken value."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, NumericType, StringType, TimestampNTZType, TimestampType

    types = {field.name: field.dataType for field in frame.schema.fields}

    def text(name):
        return F.trim(F.col(name).cast("string"))

    def empty(value):
        return value.isNull() | (value == "")

    columns, broken = {}, {}
    for name in ("user_id", "item_id"):
        columns[name] = text(name)
        broken[name] = (empty(columns[name]), "is empty")

    kind = types["timestamp"]
    if isinstance(kind, (TimestampType, TimestampNTZType, DateType)):
        times = F.col("timestamp").cast("timestamp")
        invalid = times.isNull()
    else:
        raw = text("timestamp") if isinstance(kind, StringType) else F.col("timestamp")
        epoch = raw.try_cast("double")
        in_range = (epoch >= 0) & (epoch < EPOCH_SECONDS_MAX)
        times = F.when(epoch.isNotNull(), F.when(in_range, F.timestamp_seconds(epoch.cast("long")))) \
            .otherwise(raw.try_cast("timestamp") if not isinstance(kind, NumericType) else F.lit(None))
        invalid = times.isNull()
    columns["seconds"] = F.unix_seconds(times)
    broken["timestamp"] = (invalid, "is empty or cannot be read as an ISO 8601 time or epoch seconds")

    if "quantity" in types:
        raw = text("quantity")
        number = raw.try_cast("double")
        finite = number.isNotNull() & ~F.isnan(number) & (F.abs(number) != float("inf"))
        columns["quantity"] = F.when(empty(raw), F.lit(1.0)).otherwise(number).cast("float").cast("double")
        broken["quantity"] = (~empty(raw) & ~finite, "is not a number")
    else:
        columns["quantity"] = F.lit(1.0)

    if "city_tier" in types:
        raw = F.regexp_replace(F.lower(text("city_tier")), r"^tier\s*", "")
        number = raw.try_cast("double")
        valid = number.isin(*range(1, MAX_CITY_TIER + 1))
        columns["city_tier"] = F.when(valid, number.cast("int")).otherwise(F.lit(UNKNOWN_TIER))
        broken["city_tier"] = (~empty(raw) & ~valid, f"is not a city tier from 1 to {MAX_CITY_TIER}")
    else:
        columns["city_tier"] = F.lit(UNKNOWN_TIER)
    columns["city"] = text("city") if "city" in types else F.lit("")
    return columns, broken


def _check(frame, path: str, broken: dict, flags: dict) -> None:
    """Raise the contract error of the first column with broken values, if any."""
    from pyspark.sql import functions as F

    for name, (condition, problem) in broken.items():
        count = flags[f"broken_{name}"]
        if count:
            example = frame.where(condition).select(F.col(name).cast("string")).first()[0]
            shown = "" if example is None or not str(example).strip() else f" (e.g. value {example!r})"
            others = f"; {count:,} rows in all have this problem" if count > 1 else ""
            raise ContractError(f"{path}: column {name!r}: a value {problem}{shown}{others}")


def read_purchases(spark, path: str, catalog: pd.DataFrame, unknown_items: str = "drop"
                   ) -> tuple[DataFrame, pd.DataFrame, LoadReport]:
    """Read and check a purchases file with Spark and apply the policies.

    Returns the cleaned lines (a Spark DataFrame, persisted), the catalog (extended with the
    unknown items under ``unknown_items="add"``) and the load report.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if unknown_items not in UNKNOWN_ITEM_POLICIES:
        raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEM_POLICIES}, got {unknown_items!r}")
    path = str(path)
    frame = read_table(spark, path)
    missing = [name for name in PURCHASE_REQUIRED if name not in frame.columns]
    if missing:
        raise missing_columns(path, missing, frame.columns)
    columns, broken = _parsed_columns(frame)
    parsed = frame.select("*", *(value.alias(f"_{name}") for name, value in columns.items()))
    n_catalog, added_ids = len(catalog), []
    if unknown_items == "add":
        known = spark.createDataFrame(pa.table({"_item_id": catalog.item_id.astype(TEXT).to_numpy()}))
        extra = (parsed.where(F.col("_quantity") > 0).select("_item_id").distinct()
                 .join(F.broadcast(known), "_item_id", "left_anti"))
        added_ids = sorted(extra.toArrow().column(0).to_pylist())
        catalog = add_unknown_items(catalog, pd.Index(catalog.item_id).append(pd.Index(added_ids, dtype=TEXT)))
    items = spark.createDataFrame(pa.table({"_item_id": catalog.item_id.astype(TEXT).to_numpy(),
                                            "item": np.arange(len(catalog), dtype=np.int32)}))
    parsed = parsed.join(F.broadcast(items), "_item_id", "left")
    returns = F.col("_quantity") <= 0
    unknown = ~returns & F.col("item").isNull()
    counts = parsed.agg(F.count(F.lit(1)).alias("rows"), F.count_if(returns).alias("returns"),
                        F.count_if(unknown).alias("unknown"),
                        F.count_distinct(F.when(unknown, F.col("_item_id"))).alias("unknown_items"),
                        F.count_if(~returns & (F.col("item") >= n_catalog)).alias("added"),
                        *(F.count_if(condition).alias(f"broken_{name}") for name, (condition, _) in broken.items())
                        ).first().asDict()
    if counts["rows"] == 0:
        raise ContractError(f"{path}: has a header but no rows")
    _check(frame, path, broken, counts)
    report = LoadReport(path, int(counts["rows"]), {RETURNS: int(counts["returns"])})
    if unknown_items == "drop":
        report.dropped[UNKNOWN_ITEMS] = int(counts["unknown"])
        if counts["unknown"]:
            examples = parsed.where(unknown).select("_item_id").distinct().orderBy("_item_id").limit(
                UNKNOWN_ITEM_EXAMPLES).toArrow().column(0).to_pylist()
            report.notes.append(unknown_items_note(examples, int(counts["unknown_items"]), int(counts["unknown"]),
                                                   unknown_items))
    elif added_ids:
        report.notes.append(unknown_items_note(added_ids, len(added_ids), int(counts["added"]), unknown_items))
    kept = parsed.where(~returns & ~unknown).select(
        F.col("_user_id").alias("user_id"), "item", *(F.col(f"_{name}").alias(name) for name in
                                                      ("seconds", "quantity", "city_tier", "city")))
    kept = kept.persist(StorageLevel.MEMORY_AND_DISK)
    if report.rows_kept == 0:
        raise ContractError(f"{path}: no usable purchases remain after the policies: "
                            + "; ".join(f"{n:,} {reason}" for reason, n in report.dropped.items() if n))
    return kept, catalog, report


def last_purchase_seconds(lines) -> int:
    """Epoch seconds of the last purchase line."""
    from pyspark.sql import functions as F

    return int(lines.agg(F.max("seconds")).first()[0])


def purchase_days(lines, catalog: pd.DataFrame) -> pd.DataFrame:
    """The distinct (buyer, item, day) of the lines with their units, days counted back from the
    last purchase, on the driver as the purchases :func:`recommender.features.repeat.pair_history`
    and :func:`recommender.features.context.buyer_places` read (``user_id``, ``item_id``
    categorical over the catalog, ``timestamp``, ``quantity``, ``city``: one of the day's)."""
    from pyspark.sql import functions as F

    last = last_purchase_seconds(lines)
    age = F.floor((F.lit(last) - F.col("seconds")) / SECONDS_PER_DAY).alias("age")
    days = lines.groupBy("user_id", "item", age).agg(F.sum("quantity").alias("quantity"),
                                                     F.max("city").alias("city")).toArrow().to_pandas()
    return pd.DataFrame({
        "user_id": pd.Categorical(days.user_id.astype(TEXT)),
        "item_id": pd.Categorical.from_codes(days["item"].to_numpy(dtype=np.int64), categories=catalog.item_id),
        "timestamp": pd.Timestamp(last, unit="s") - pd.to_timedelta(days.age.to_numpy(dtype=np.float64), unit="D"),
        "quantity": days.quantity.to_numpy(dtype=np.float64), "city": days.city.fillna("").astype(str)})


def days_covered(lines) -> float:
    """Days from the first purchase line to the last."""
    from pyspark.sql import functions as F

    first, last = lines.agg(F.min("seconds"), F.max("seconds")).first()
    return (last - first) / SECONDS_PER_DAY


def validation_split(lines: DataFrame, days: float, catalog: pd.DataFrame) -> tuple[DataFrame, Dataset]:
    """Cut the lines like :func:`recommender.splits.validation_split`: lines at or before
    ``last purchase - days`` fit; the later ones validate, returned to the driver as the distinct
    (buyer, item) pairs :func:`recommender.splits.relevance_matrix` needs."""
    from pyspark.sql import functions as F

    last = last_purchase_seconds(lines)
    cutoff = last - float(days) * SECONDS_PER_DAY
    before = F.col("seconds") <= F.lit(cutoff)
    fit_part, held = lines.where(before), lines.where(~before)
    if fit_part.isEmpty():
        raise ValueError(f"validation_days={days!r} leaves nothing to train on: every purchase is in the last "
                         f"{days} days; use fewer validation days")
    pairs = held.select("user_id", "item").distinct().toArrow().to_pandas()
    if pairs.empty:
        raise ValueError(f"validation_days={days!r} leaves the validation split empty: no purchase after the cutoff")
    purchases = pd.DataFrame({
        "user_id": pd.Categorical(pairs.user_id.astype(TEXT)),
        "item_id": pd.Categorical.from_codes(pairs["item"].to_numpy(dtype=np.int64), categories=catalog.item_id)})
    return fit_part, Dataset(purchases, catalog, [])
