"""The HTTP API contract: request and response bodies, with descriptions and examples.

These pydantic models are what ``/openapi.json`` and the ``/docs`` page show, so every field says
what it means and every body carries an example.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

from recommender.campaigns import MAX_CURVE_POINTS
from recommender.contract import MAX_CITY_TIER
from recommender.forecasting.spec import MAX_HORIZON

MAX_K = 1000  # longest list any endpoint returns
MAX_CANDIDATES = 5000  # most item ids one /v1/rank request may carry
MAX_ID_LENGTH = 128  # longest buyer or item id accepted
MIN_CITY_TIER = 1  # 0 means unknown in the data contract

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]

ITEM_EXAMPLE: JsonDict = {
    "item_id": "DZ-000001",
    "score": 0.8731,
    "title": "Traditional Danzhai Indigo Batik Tablecloth, L",
    "region": "Danzhai County, Qiandongnan, Guizhou",
    "merchant_id": "M-DZ-02",
    "category": "embroidery_textiles",
    "price": 398.0,
    "reason": "bought by buyers who bought Miao Silver Embroidered Scarf; from Danzhai County, Qiandongnan, Guizhou",
    "campaign": None,
}


class RecommendedItem(BaseModel):
    """One recommended item with its catalog details and why it is shown."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE]})

    item_id: str = Field(description="Catalog item id.", examples=["DZ-000001"])
    score: float = Field(description=(
        "The score the list is ordered by: it never rises down the list, and is only comparable within "
        "one list. A buyer's recommendations: the model's relevance at `niche` 0, else the re-ranked "
        "score in [0, 1], `(1 - niche) * relevance + niche * p * m * coverage` (relevance min-max "
        "scaled over the buyer's candidates, `p` the buyer's share of niche purchases, `m` the item's "
        "niche membership, `coverage` the part of the list's niche room still free). Similar items: "
        "the similarity. Popular items: the share of recent purchases. A campaign item placed in a "
        "list shows the score of the place it takes, and an item the model's variety cap (at most a few "
        "items of one category or region in a top 10) holds back past slot 10 at most the score of the "
        "item before it."), examples=[0.8731])
    title: str = Field(description="Catalog title.", examples=["Traditional Danzhai Indigo Batik Tablecloth, L"])
    region: str | None = Field(None, description="Where the item comes from (catalog region), null if unknown.",
                               examples=["Danzhai County, Qiandongnan, Guizhou"])
    merchant_id: str | None = Field(None, description="Seller id, null if unknown.", examples=["M-DZ-02"])
    category: str | None = Field(None, description="Catalog category, null if unknown.",
                                 examples=["embroidery_textiles"])
    price: float | None = Field(None, description="List price in CNY, null when the catalog has none.",
                                examples=[398.0])
    reason: str = Field(description="Short human-readable reason for showing this item.",
                        examples=[ITEM_EXAMPLE["reason"]])
    campaign: str | None = Field(None, description="The campaign (`campaign_id`) the item is shown for, so a "
                                                   "storefront can label it; null for organic items.",
                                 examples=["new-craft-2026"])


MAX_FILTER_LENGTH = 200  # longest category or region filter value

# query parameter types shared by the list routes' query models
ListLength = Annotated[int, Field(ge=1, le=MAX_K, description=f"List length, 1..{MAX_K}.", examples=[20])]
CategoryFilter = Annotated[str | None, Field(min_length=1, max_length=MAX_FILTER_LENGTH, examples=["tea"],
                                             description="Only items of this catalog category (exact value; an "
                                                         "unknown value is a 422 listing the known ones).")]
CityTierParameter = Annotated[int | None, Field(ge=MIN_CITY_TIER, le=MAX_CITY_TIER, examples=[2])]


class BuyerPath(BaseModel):
    """The path parameter of ``/v1/users/{user_id}/...``."""

    user_id: Identifier = Field(description=f"Buyer id (1..{MAX_ID_LENGTH} characters); unknown buyers get the "
                                            "cold-start ranking.", examples=["U-000042"])


class ItemPath(BaseModel):
    """The path parameter of ``/v1/items/{item_id}/...``."""

    item_id: Identifier = Field(description=f"Item id (1..{MAX_ID_LENGTH} characters).", examples=["DZ-000001"])


class MerchantPath(BaseModel):
    """The path parameter of ``/v1/merchants/{merchant_id}/...``."""

    merchant_id: Identifier = Field(description="Merchant id (catalog merchant_id).", examples=["M-DZ-02"])


class NoQuery(BaseModel):
    """No query parameters: the ``/v1`` routes that take none refuse any (a misspelt parameter must
    not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DistinctProducts = Annotated[bool | None, Field(
    description="One listing per product: listings of one product by several merchants (the catalog's "
                "`product_id`, else near-identical titles in a category) appear once, the likeliest to be "
                "bought; similar items leave out the item's own product. Default the model's (on unless trained "
                "with `distinct_products: false`).", examples=[True])]


Day = date  # a field named ``date`` would hide the type in its class


class RecommendationsQuery(BaseModel):
    """The query parameters of ``GET /v1/users/{user_id}/recommendations``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: ListLength = 20
    category: CategoryFilter = None
    region: str | None = Field(None, min_length=1, max_length=MAX_FILTER_LENGTH,
                               description="Only items from this catalog region (exact value; an unknown value is a "
                                           "422 listing the known ones).",
                               examples=["Danzhai County, Qiandongnan, Guizhou"])
    city_tier: CityTierParameter = Field(None, description="City tier 1..5: the context of unknown buyers, an "
                                                           "override for known ones.")
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False,
                                    description="Only items with a known price <= this.", examples=[200.0])
    exclude_purchased: bool = Field(True, description="Leave out items the buyer already bought.", examples=[True])
    niche: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                description="Niche knob in [0, 1]; default the model's.", examples=[0.5])
    distinct_products: DistinctProducts = None
    max_per_group: int | None = Field(None, ge=0, le=MAX_K,
                                      description="At most this many items of one category or one region in the "
                                                  "list's first 10 (0: no cap); default the model's, chosen on "
                                                  "validation.", examples=[3])
    date: Day | None = Field(None, description="Rank for the season of this day (UTC; default: today), e.g. to "
                                               "preview a later season: goods in season then rise, goods whose "
                                               "season is over fall (a model trained on a year or more of history "
                                               "whose validation chose a seasonal weight).", examples=["2026-06-20"])


class SimilarItemsQuery(BaseModel):
    """The query parameters of ``GET /v1/items/{item_id}/similar``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: ListLength = 10
    distinct_products: DistinctProducts = None



class BuyAgainQuery(BaseModel):
    """The query parameters of ``GET /v1/users/{user_id}/buy-again``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: ListLength = 10
    date: Day | None = Field(None, description="Score as of the end of this day (UTC; default: now), e.g. to preview "
                                               "a later day; a day before the model's data end counts as its end.",
                             examples=["2026-12-24"])


class AudienceQuery(BaseModel):
    """The query parameters of ``GET /v1/items/{item_id}/audience``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: ListLength = 100
    tier: CityTierParameter = Field(None, description="Only buyers of this city tier (1..5).")
    region: Identifier | None = Field(None, description=(
        "Only buyers of this region: the city their purchases name most often (the `city` column of the "
        "purchases), as `by_region` of the merchant's view lists them."), examples=["Shanghai"])
    date: Day | None = Field(None, description="Past buyers' repeat timing as of the end of this day (UTC; default: "
                                               "the start of today), e.g. to preview a later day; a day before the "
                                               "model's data end counts as its end.", examples=["2026-12-24"])


class MerchantItemPath(BaseModel):
    """The path parameters of ``/v1/merchants/{merchant_id}/items/{item_id}/...``."""

    merchant_id: Identifier = Field(description="Merchant id (catalog merchant_id).", examples=["M-DZ-02"])
    item_id: Identifier = Field(description="One of the merchant's item ids.", examples=["DZ-000001"])


class PopularQuery(BaseModel):
    """The query parameters of ``GET /v1/popular``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city_tier: CityTierParameter = Field(None, description="City tier 1..5; omit for global popularity.")
    category: CategoryFilter = None
    k: ListLength = 20


class RecommendationsResponse(BaseModel):
    """A buyer's top-k list."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_id": "U-000042", "personalized": True, "model_version": "20261123T204300Z-67ef63b5",
        "niche": 0.3, "city_tier": 2, "items": [ITEM_EXAMPLE]}]})

    user_id: str = Field(description="The buyer id asked about.", examples=["U-000042"])
    personalized: bool = Field(description="True when the model knows this buyer's purchases; false for buyers "
                                           "unknown to the model, who get the city-tier-aware cold-start ranking.")
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    niche: float = Field(description="Niche knob used (0 = pure relevance order, 1 = strongest push towards "
                                     "long-tail, priority-region and small-merchant goods).", examples=[0.3])
    city_tier: int | None = Field(None, description="City tier the list was computed for (the `city_tier` "
                                                    "parameter, else the buyer's stored tier); null if unknown.",
                                  examples=[2])
    items: list[RecommendedItem] = Field(description="Best first; fewer than k when fewer items qualify.")


class BuyAgainResponse(BaseModel):
    """The items a buyer bought before, likeliest to be bought again soon first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_id": "U-000042", "model_version": "20261123T204300Z-67ef63b5", "items": [
            {**ITEM_EXAMPLE, "score": 0.62,
             "reason": "you buy this about every 5 weeks; last bought 6 weeks ago; from Danzhai County"}]}]})

    user_id: str = Field(description="The buyer id asked about.", examples=["U-000042"])
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    items: list[RecommendedItem] = Field(description=(
        "The buyer's earlier items, the likeliest to be bought again soon first; `score` is the probability of "
        "buying the item again within the model's horizon (its validation window, 30 days by default) after the "
        "last day of its training data. Unavailable items are left out; empty for a buyer without a history "
        "(or unknown to the model)."))


class AudienceBuyer(BaseModel):
    """A buyer of an item's audience."""

    user_id: str = Field(description="Buyer id.", examples=["U-000042"])
    score: float = Field(description="Probability of buying the item within the audience's horizon.",
                         examples=[0.31])
    reason: str = Field(description="Why the buyer is in the audience.",
                        examples=["buys it about every 5 weeks; last bought 6 weeks ago"])


class AudiencePart(BaseModel):
    """One part of an item's audience."""

    expected_buyers: float = Field(description=(
        "Expected number of the part's buyers (all of them, within the filters, not only those listed) who buy "
        "the item within the horizon: the sum of their probabilities."), examples=[42.7])
    buyers: list[AudienceBuyer] = Field(description="The part's likeliest buyers, likeliest first.")


class AudienceResponse(BaseModel):
    """Who will buy an item: its past buyers due to buy it again, and buyers who never bought it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_id": "DZ-000001", "model_version": "20261123T204300Z-67ef63b5", "horizon_days": 30,
        "repeat": {"expected_buyers": 12.4, "buyers": [
            {"user_id": "U-000042", "score": 0.31, "reason": "buys it about every 5 weeks; last bought 6 weeks ago"}]},
        "first_time": {"expected_buyers": 30.9, "buyers": [
            {"user_id": "U-000917", "score": 0.04, "reason": "bought by buyers with similar purchases"}]}}]})

    item_id: str = Field(description="The item asked about.", examples=["DZ-000001"])
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    horizon_days: float = Field(description="The days after the model's data the probabilities cover.",
                                examples=[30])
    repeat: AudiencePart = Field(description="Buyers who bought the item before, by repeat timing.")
    first_time: AudiencePart = Field(description="Buyers who never bought it, by the first-time audience model.")


class AudienceCounts(BaseModel):
    """Expected buyers of each part and expected units."""

    expected_repeat_buyers: float = Field(description="Expected buyers who bought the item before.", examples=[3.1])
    expected_first_time_buyers: float = Field(description="Expected buyers who never bought it.", examples=[7.9])
    expected_units: float = Field(description="Expected units: expected buyers times the item's units per purchase "
                                              "day.", examples=[12.5])


class AudienceTier(AudienceCounts):
    """The audience in one city tier."""

    city_tier: int = Field(description="City tier 1..5; 0: buyers of unknown tier.", examples=[1])


class AudienceRegion(AudienceCounts):
    """The audience in one region (the buyers' city)."""

    region: str | None = Field(description="The region; null gathers the other regions and buyers of unknown region.",
                               examples=["Shanghai"])


class AudienceMakeUp(AudienceCounts):
    """The size and make-up of an item's audience, without a buyer id: what its merchant may read."""

    merchant_id: str = Field(description="The merchant.", examples=["M-DZ-02"])
    item_id: str = Field(description="The merchant's item asked about.", examples=["DZ-000001"])
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    horizon_days: float = Field(description="The days after the model's data the expectations cover.", examples=[30])
    repeat_share: float = Field(description="Share of the expected buyers who bought the item before.",
                                examples=[0.28])
    by_city_tier: list[AudienceTier] = Field(description="Per city tier with expected buyers, tier order.")
    by_region: list[AudienceRegion] = Field(description=(
        "The ten regions with the most expected buyers, most first, then (region null) all the others."))


class SimilarItemsResponse(BaseModel):
    """Items like a given one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_id": "DZ-000001", "model_version": "20261123T204300Z-67ef63b5",
        "items": [{**ITEM_EXAMPLE, "item_id": "DZ-000007", "reason": "bought by the same buyers as "
                   "Traditional Danzhai Indigo Batik Tablecloth, L; from Danzhai County, Qiandongnan, Guizhou"}]}]})

    item_id: str = Field(description="The item asked about.", examples=["DZ-000001"])
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    items: list[RecommendedItem] = Field(description="Available similar items, most similar first (the item "
                                                     "itself excluded); `score` is the similarity.")


class RankRequest(BaseModel):
    """Candidate items to order for one buyer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "user_id": "U-000042", "item_ids": ["DZ-000001", "WC-000003", "HL-000010"], "city_tier": 2}]})

    user_id: Identifier = Field(description=f"Buyer id (1..{MAX_ID_LENGTH} characters); unknown buyers are "
                                            "ranked by the cold-start model.", examples=["U-000042"])
    item_ids: list[Identifier] = Field(min_length=1, max_length=MAX_CANDIDATES,
                                       description=f"1..{MAX_CANDIDATES} item ids to rank (each 1.."
                                                   f"{MAX_ID_LENGTH} characters); duplicates are ranked once.",
                                       examples=[["DZ-000001", "WC-000003", "HL-000010"]])
    city_tier: int | None = Field(None, ge=MIN_CITY_TIER, le=MAX_CITY_TIER,
                                  description="Buyer's city tier 1..5: the context of unknown buyers, an override "
                                              "for known ones.", examples=[2])


class RankedItem(BaseModel):
    """One ranked candidate."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"item_id": "DZ-000001", "score": 0.8731,
                                                               "campaign": None}]})

    item_id: str = Field(description="Catalog item id.", examples=["DZ-000001"])
    score: float = Field(description="The model's relevance for this buyer, which the list is ordered by (a "
                                     "campaign item lifted up shows the score of the place it takes).",
                         examples=[0.8731])
    campaign: str | None = Field(None, description="The campaign (`campaign_id`) the candidate is shown for; null "
                                                   "for organic ones.", examples=[None])


class RankResponse(BaseModel):
    """Candidates in the model's order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_id": "U-000042", "personalized": True, "model_version": "20261123T204300Z-67ef63b5",
        "items": [{"item_id": "DZ-000001", "score": 0.8731, "campaign": None},
                  {"item_id": "WC-000003", "score": 0.2212, "campaign": None}],
        "unknown_item_ids": ["NOPE-1"], "unavailable_item_ids": ["HL-000010"]}]})

    user_id: str = Field(description="The buyer id asked about.", examples=["U-000042"])
    personalized: bool = Field(description="False when the buyer is unknown to the model (cold-start scores).")
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    items: list[RankedItem] = Field(description="The known, available candidates, best first, by raw relevance "
                                                "(no niche re-ranking, no exclusion of items already bought).")
    unknown_item_ids: list[str] = Field(description="Candidates not in the model's catalog (not ranked).",
                                        examples=[["NOPE-1"]])
    unavailable_item_ids: list[str] = Field(description="Candidates in the catalog but not available for sale "
                                                        "(not ranked).", examples=[["HL-000010"]])


class PopularResponse(BaseModel):
    """Recently popular items, per city tier."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "city_tier": 1, "category": "tea", "model_version": "20261123T204300Z-67ef63b5",
        "items": [{**ITEM_EXAMPLE, "category": "tea", "score": 0.021, "reason": "popular with tier-1 buyers"}]}]})

    city_tier: int | None = Field(None, description="Tier asked for; null means global popularity.", examples=[1])
    category: str | None = Field(None, description="Category filter, if any.", examples=["tea"])
    model_version: str = Field(description="Version id of the model that answered.",
                               examples=["20261123T204300Z-67ef63b5"])
    items: list[RecommendedItem] = Field(description="Available items, most popular first; `score` is the item's "
                                                     "share of recent (time-decayed) purchases.")


class ModelInfo(BaseModel):
    """The manifest of the model being served (all manifest fields are passed through)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "format_version": 2, "model_version": "20261123T204300Z-67ef63b5", "created_at": "2026-11-23T20:43:00+00:00",
        "default_niche": 0.3, "example_buyer": "U0000042",
        "data": {"purchases": "purchases.csv", "catalog": "catalog.csv"},
        "parameters": {"components": {"als": {}, "content": {}, "popularity": {}}},
        "files": {"engine.joblib": "3f2a..."}}]})

    format_version: int = Field(description="Model directory format.", examples=[2])
    model_version: str = Field(description="Version id.", examples=["20261123T204300Z-67ef63b5"])
    created_at: str | None = Field(None, description="When the model was trained (UTC, ISO 8601).",
                                   examples=["2026-11-23T20:43:00+00:00"])
    default_niche: float | None = Field(None, description="The niche knob used when a request gives none.",
                                        examples=[0.3])
    example_buyer: str | None = Field(None, description="A buyer the model knows, to try it on (the storefront "
                                      "preview opens on this buyer): of the buyers with a history, one with the "
                                      "median number of items bought.", examples=["U0000042"])


class HealthResponse(BaseModel):
    """Liveness."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = Field(description="Always \"ok\" while the process answers.", examples=["ok"])


class ReadyResponse(BaseModel):
    """Readiness: a model is loaded."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready",
                                                               "model_version": "20261123T204300Z-67ef63b5"}]})

    status: str = Field(description="\"ready\" when a model is loaded.", examples=["ready"])
    model_version: str = Field(description="Version id of the served model.", examples=["20261123T204300Z-67ef63b5"])


class FieldError(BaseModel):
    """One parameter or body field a request got wrong."""

    loc: list[str | int] = Field(description="Where: \"path\", \"query\", \"header\" or \"body\", then the field.",
                                 examples=[["query", "k"]])
    msg: str = Field(description="What is wrong with it.", examples=["Input should be less than or equal to 1000"])
    type: str = Field(description="The kind of error (pydantic's error type, e.g. `less_than_equal`, "
                                  "`extra_forbidden` for an unknown query parameter).", examples=["less_than_equal"])


class ErrorResponse(BaseModel):
    """Every error answer (4xx and 5xx) has this shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": "unknown item id 'NOPE-1'", "errors": []},
        {"detail": "k: Input should be less than or equal to 1000",
         "errors": [{"loc": ["query", "k"], "msg": "Input should be less than or equal to 1000",
                     "type": "less_than_equal"}]}]})

    detail: str = Field(description="What went wrong, in words (for a bad request, every bad field in one line).",
                        examples=["unknown item id 'NOPE-1'"])
    errors: list[FieldError] = Field(description="The bad fields of a request that failed validation (422); empty "
                                                 "otherwise.")


class ReloadRequest(BaseModel):
    """Which model directory to load (admin API)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"model_dir": "models/2026-11-24"}]})

    model_dir: str | None = Field(None, min_length=1, max_length=4096,
                                  description="Model directory to load (a path on the server, relative to its "
                                              "working directory); omitted or null reloads the directory being "
                                              "served.", examples=["models/2026-11-24"])


class ReloadResponse(BaseModel):
    """The outcome of a successful model reload."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "previous_model_version": "20261123T204300Z-67ef63b5", "model_version": "20261124T061500Z-0b1c2d3e",
        "model_dir": "models/2026-11-24", "seconds": 1.42}]})

    previous_model_version: str | None = Field(description="Version served before the reload; null if no model "
                                                           "was loaded.", examples=["20261123T204300Z-67ef63b5"])
    model_version: str = Field(description="Version served now.", examples=["20261124T061500Z-0b1c2d3e"])
    model_dir: str = Field(description="The directory the model was loaded from.", examples=["models/2026-11-24"])
    seconds: float = Field(description="Time taken to load, verify and prepare the model.", examples=[1.42])


FORECAST_ROW_EXAMPLE: JsonDict = {
    "item_id": "DZ-000001", "period_start": "2026-11-02", "p10": 0.0, "p50": 1.0, "p90": 3.8, "model": "global_gbm",
    "recent_level": 1.4, "previous_level": 1.12, "recent_trend": 0.25, "rising": True}


class ForecastRow(BaseModel):
    """Forecast demand of one series (an item, an item in a city tier, or the merchant's total) in one period."""

    model_config = ConfigDict(json_schema_extra={"examples": [FORECAST_ROW_EXAMPLE]})

    item_id: str | None = Field(None, description="Catalog item id; omitted for the merchant's total (`by=merchant`).",
                                examples=["DZ-000001"])
    city_tier: int | None = Field(None, description="Buyers' city tier 1..5 (0 = unknown) for `by=item,city_tier`; "
                                                    "omitted otherwise.", examples=[2])
    period_start: date = Field(description="First day of the period (a Monday for weekly forecasts).",
                               examples=["2026-11-02"])
    p10: float = Field(description="10th percentile of the units ordered in the period.", examples=[0.0])
    p50: float = Field(description="Median units ordered in the period (for a merchant's total: the median of the "
                                   "total, calibrated on validation windows).", examples=[1.0])
    p90: float = Field(description="90th percentile of the units ordered in the period.", examples=[3.8])
    model: str = Field(description="Forecast method selected for the series (e.g. `global_gbm`, `imapa`, `ma8`), or "
                                   "`total of the selected forecasts` for the merchant's total.",
                       examples=["global_gbm"])
    recent_level: float = Field(description="Units per period sold over the last 13 weeks (28 days for daily "
                                            "forecasts).",
                                examples=[1.4])
    previous_level: float = Field(description="Units per period sold over the 13 weeks (28 days) before those.",
                                  examples=[1.12])
    recent_trend: float | None = Field(None, description="recent_level against previous_level (0.25 = a quarter "
                                                         "more); omitted when nothing sold in those before. The one "
                                                         "trend of items, item x tier rows and totals: a sum of rows "
                                                         "(a city tier, the merchant) has the trend of its summed "
                                                         "units, sum(recent_level) / sum(previous_level) - 1; the "
                                                         "pages call -10% or less falling.",
                                       examples=[0.25])
    rising: bool = Field(description="Whether the recent trend is at least +10% (for `by=item,city_tier`: the city "
                                     "tiers where the item's demand is rising).", examples=[True])


class CurrentRow(BaseModel):
    """One series (or the merchant's total) in the current period: sold so far, and the whole period expected."""

    item_id: str | None = Field(None, description="Catalog item id; omitted for the merchant's total.")
    city_tier: int | None = Field(None, description="Buyers' city tier for `by=item,city_tier`; omitted otherwise.")
    sold_so_far: float = Field(description="Units sold in the period's observed days.", examples=[41.0])
    p10: float = Field(description="10th percentile of the whole period: sold so far plus the forecast of its "
                                   "remaining days.", examples=[41.2])
    p50: float = Field(description="Median of the whole period: sold so far plus the forecast of its remaining days.",
                       examples=[47.3])
    p90: float = Field(description="90th percentile of the whole period, likewise.", examples=[55.0])
    model: str = Field(description="As in the forecast rows.", examples=["global_gbm"])
    recent_level: float = Field(description="As in the forecast rows.", examples=[40.1])
    previous_level: float = Field(description="As in the forecast rows.", examples=[32.9])
    recent_trend: float | None = Field(None, description="As in the forecast rows.", examples=[0.22])
    rising: bool = Field(description="As in the forecast rows.", examples=[True])


class CurrentPeriod(BaseModel):
    """The period the data stops inside: reported as sales so far plus the forecast of its remaining days."""

    period_start: date = Field(description="First day of the current period.", examples=["2026-10-26"])
    days_observed: int = Field(description="Days of the period the sales data covers.", examples=[6])
    days: int = Field(description="Days in the period.", examples=[7])
    label: str = Field(description="What the numbers are, in words.",
                       examples=["sales so far (6 of 7 days) plus the forecast of the remaining 1 day"])
    rows: list[CurrentRow] = Field(description="One row per series of the requested level, or the merchant's total.")


class ForecastQuery(BaseModel):
    """The query parameters of ``GET /v1/merchants/{merchant_id}/forecast``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int | None = Field(None, ge=1, le=max(MAX_HORIZON.values()), examples=[12],
                                description="Periods ahead, 1..the published horizon (26 weeks by default); "
                                            "default: all published periods.")
    by: Literal["item", "item,city_tier", "merchant"] = Field(
        "item", description="Series level: item, item,city_tier, or merchant (the bottom-up total).")


class MerchantForecastResponse(BaseModel):
    """A merchant's published demand forecast."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "merchant_id": "M-DZ-02", "freq": "W", "horizon": 2, "by": "item", "generated_at": "2026-11-01T03:00:00+00:00",
        "data_sha256": "9c1d...", "rows": [FORECAST_ROW_EXAMPLE, {**FORECAST_ROW_EXAMPLE, "period_start": "2026-11-09",
                                                               "p50": 1.2, "p90": 3.5}]}]})

    merchant_id: str = Field(description="The merchant asked about.", examples=["M-DZ-02"])
    freq: str = Field(description="Period length: W (weeks, starting on Monday) or D (days).", examples=["W"])
    horizon: int = Field(description="Periods forecast (the first `horizon` periods of the published forecast).",
                         examples=[12])
    by: str = Field(description="Series level: item, item,city_tier, or merchant (the merchant's total).",
                    examples=["item"])
    generated_at: str = Field(description="When the forecasts were published (UTC, ISO 8601).",
                              examples=["2026-11-01T03:00:00+00:00"])
    data_sha256: str | None = Field(None, description="SHA-256 of the purchases and catalog files forecast from "
                                                      "(omitted when unknown).", examples=["9c1d..."])
    titles: dict[str, str] | None = Field(None, description="The items' titles by item id, from the catalog the "
                                                         "forecasts were published from (omitted for forecasts "
                                                         "published before titles were).")
    rows: list[ForecastRow] = Field(description="One row per series and whole period, ordered by period, then "
                                                "item and tier. The first period is the first whole one after the "
                                                "data's last day.")
    current_period: CurrentPeriod | None = Field(None, description="The period the data stops inside (e.g. the "
                                                                   "week of a Saturday's data), as sales so far plus "
                                                                   "the forecast of its remaining days; omitted when "
                                                                   "the data ends with a whole period.")


MAX_EVENTS = 1000  # most events one POST /v1/events may carry
MAX_QUANTITY = 1_000_000
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # how far in the future a sender's clock may be
EVENT_EXAMPLE: JsonDict = {"event_id": "order-88123-line-1", "user_id": "U-000042", "item_id": "DZ-000001",
                           "type": "purchase", "timestamp": "2026-11-30T09:15:00+08:00", "quantity": 1, "city_tier": 1}


class EventIn(BaseModel):
    """One buyer event sent by a storefront."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    event_id: Identifier = Field(description="The sender's unique id of the event: an event sent again with the same "
                                             "id is not stored twice.", examples=["order-88123-line-1"])
    user_id: Identifier = Field(description="Buyer id.", examples=["U-000042"])
    item_id: Identifier = Field(description="Catalog item id.", examples=["DZ-000001"])
    type: Literal["purchase", "view", "cart", "return"] = Field(
        description="`purchase`, `view`, `cart`, or `return` (cancels a purchase of the item).", examples=["purchase"])
    timestamp: datetime | None = Field(None, description="When it happened: ISO 8601 (without an offset: UTC) or Unix "
                                                         "seconds; default the time the server receives it. From "
                                                         "2000 to one day ahead of the server's clock.",
                                       examples=["2026-11-30T09:15:00+08:00"])
    quantity: float = Field(1.0, gt=0, le=MAX_QUANTITY, description="Units (positive; for a return, the units "
                                                                     "returned).", examples=[1])
    city_tier: CityTierParameter = Field(None, description="The buyer's city tier 1..5, when the sender knows it.")

    @field_validator("timestamp")
    @classmethod
    def _plausible_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if not EARLIEST_EVENT <= value <= datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError(f"timestamp {value.isoformat()} is not between {EARLIEST_EVENT.date()} and one day "
                             "from now")
        return value


class EventsRequest(BaseModel):
    """A batch of buyer events: stored whole or (when any event is bad) not at all."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE]}]})

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS,
                                  description=f"1..{MAX_EVENTS} events; a 422 names each bad one by its index.")


class EventsResponse(BaseModel):
    """What the store did with a batch (durably: on disk before this answer is sent)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"stored": 1, "duplicate_event_ids": [],
                                                               "unknown_item_ids": []}]})

    stored: int = Field(description="Events newly stored.", examples=[1])
    duplicate_event_ids: list[str] = Field(description="Ids of the batch's events stored before (by an earlier "
                                                       "request, or earlier in this batch), not stored again.",
                                           examples=[[]])
    unknown_item_ids: list[str] = Field(
        description="Item ids of the batch's events that the server's catalog lacks (neither the served model's "
                    "items nor added through `PUT /v1/items`), each once, in the batch's order. Their events are "
                    "stored all the same: they change no ranking now, and a later training learns from them "
                    "once the items are in its catalog. A server started with `--unknown-items refuse` answers "
                    "such a batch with a 422 instead.", examples=[[]])


class ItemIn(BaseModel):
    """An item's catalog fields, written through ``PUT /v1/items/{item_id}`` (admin API)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "title": "Conghua Nuomici Lychee, 2.5 kg", "category": "fruit", "region": "Conghua, Guangdong",
        "merchant_id": "M-CH-05", "price": 98.0, "tags": ["seasonal", "priority_region"], "available": True}]})

    title: str = Field(min_length=1, max_length=500, description="Catalog title.")
    description: str | None = Field(None, max_length=10_000, description="Longer text (the content model reads it).")
    category: str | None = Field(None, min_length=1, max_length=MAX_FILTER_LENGTH, description="Catalog category.")
    region: str | None = Field(None, min_length=1, max_length=MAX_FILTER_LENGTH, description="Where it comes from.")
    merchant_id: Identifier | None = Field(None, description="Seller id.")
    price: float | None = Field(None, ge=0, le=10_000_000, description="List price in CNY.")
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^;]+$")]] = Field(
        default_factory=list, max_length=50, description="Labels, e.g. `handmade`, `priority_region`.")
    available: bool = Field(True, description="`false` hides the item from every route at once.")


class ItemWritten(BaseModel):
    """What ``PUT /v1/items/{item_id}`` stored and what it changes now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_id": "CH-000123", "available": True, "in_model": True,
        "updated_at": "2026-11-30T06:10:00.123456+00:00"}]})

    item_id: str = Field(description="The item's id.")
    available: bool = Field(description="Whether the item may be shown.")
    in_model: bool = Field(description="Whether the served model knows the item: its availability applies on every "
                                       "worker within a second; an item the model does not know is added to it, "
                                       "ranked by its content, within a few seconds.")
    updated_at: datetime = Field(description="When the store took the write.")


class RegisteredModel(BaseModel):
    """A model of the registry that ``recommender retrain`` keeps."""

    model_version: str = Field(description="The model's version (a rejected candidate's name when it was not kept).")
    model_dir: str = Field(description="Where the model directory is (empty for a rejected candidate).")
    status: Literal["promoted", "rejected", "failed"] = Field(description="What became of it.")
    reason: str = Field(description="Why, with both models' NDCG@10 on the most recent days.")
    candidate_ndcg: float | None = Field(description="Its NDCG@10 on the held-out recent days.")
    serving_ndcg: float | None = Field(description="The serving model's, on the same days (null: none served).")
    serving_version: str | None = Field(description="The model it was compared with.")
    created_at: datetime = Field(description="When it was registered.")


class ModelsResponse(BaseModel):
    """The model registry, newest first."""

    models: list[RegisteredModel]


Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FILTER_LENGTH)]
CAMPAIGN_TIMES = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _plausible_utc(value: datetime) -> datetime:
    """A campaign's or a lot's time in UTC (UTC when it has no offset), within CAMPAIGN_TIMES."""
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not CAMPAIGN_TIMES[0] <= value <= CAMPAIGN_TIMES[1]:
        raise ValueError(f"must be between {CAMPAIGN_TIMES[0].date()} and {CAMPAIGN_TIMES[1].date()}")
    return value.astimezone(UTC)


PlannedTime = Annotated[datetime, AfterValidator(_plausible_utc)]


class CampaignSelect(BaseModel):
    """Campaign items chosen by attributes: every field given must match one of its values."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Label] = Field(default_factory=list, max_length=50, description="Whole tags, e.g. `handmade`.")
    regions: list[Label] = Field(default_factory=list, max_length=200, description="Catalog regions.")
    merchants: list[Identifier] = Field(default_factory=list, max_length=1000, description="Merchant ids.")
    categories: list[Label] = Field(default_factory=list, max_length=200, description="Catalog categories.")


class CampaignIn(BaseModel):
    """A campaign: items promised ``impressions`` between ``start`` and ``end``, paced evenly over
    the expected traffic and shown only to buyers they fit."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "campaign_id": "new-craft-2026", "name": "New Craftsmanship: palm weaving and combs",
        "select": {"tags": ["handmade"], "regions": ["Fenghuang County, Hunan"]},
        "start": "2026-08-01T00:00:00+08:00", "end": "2026-10-31T23:59:59+08:00", "impressions": 2000000,
        "per_buyer_cap": 3, "max_in_top10": 1}]})

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                             description="Unique id: 1-64 letters, digits, `.`, `_`, `-`.")
    name: str = Field(min_length=1, max_length=200, description="What operators call it.")
    items: list[Identifier] | None = Field(None, min_length=1, max_length=10_000,
                                           description="The campaign's item ids (or `select`).")
    select: CampaignSelect | None = Field(None, description="The campaign's items by attributes (or `items`).")
    start: PlannedTime = Field(description="ISO 8601; without an offset, UTC.")
    end: PlannedTime = Field(description="ISO 8601, after `start`.")
    impressions: int = Field(gt=0, le=10**12, description="The impression budget.")
    per_buyer_cap: int = Field(3, ge=1, le=1000, description="Impressions per buyer at most.")
    max_in_top10: int = Field(1, ge=1, le=10, description="Campaign items in a list's first 10 at most.")
    gate_share: float = Field(0.1, gt=0, le=1, description="The relevance gate: a campaign item may be shown to a "
                                                            "buyer who ranks it within this share of the catalog "
                                                            "(or bought goods of its category or region).")



class DeliveryPoint(BaseModel):
    """Impressions delivered and planned by a time."""

    at: datetime = Field(description="The time (UTC).")
    delivered: int = Field(description="Impressions delivered by then.")
    planned: float = Field(description="Impressions the plan had delivered by then.")


class CampaignOut(BaseModel):
    """A campaign and how its delivery goes."""

    campaign: dict[str, Any] = Field(description="The definition, as posted (times in UTC).")
    status: Literal["scheduled", "running", "exhausted", "ended", "stopped"] = Field(
        description="`exhausted`: the budget is delivered before the end.")
    items: int = Field(description="Campaign items the served model knows.")
    delivered: int = Field(description="Impressions delivered so far, by every worker.")
    planned: float = Field(description="Impressions the plan has delivered by now.")
    pacing_error: float = Field(description="(planned - delivered) / budget: positive when behind the plan.")
    multiplier: float | None = Field(description="This worker's pacing multiplier (0: no lift, 1: to the top); "
                                                 "null when it does not run the campaign.")
    buyers_reached: int = Field(description="Distinct buyers shown a campaign item.")
    per_merchant: dict[str, int] = Field(description="Impressions per merchant.")
    per_region: dict[str, int] = Field(description="Impressions per region.")
    delivery_curve: list[DeliveryPoint] = Field(
        description=f"Delivered against planned over time: the start, the end of each minute with impressions "
                    f"(at most {MAX_CURVE_POINTS} of them, evenly spread) and now or the end.")


class CampaignsResponse(BaseModel):
    """Every campaign, oldest first."""

    campaigns: list[CampaignOut]


class GroupExposure(BaseModel):
    """One region's or merchant's exposure."""

    group: str = Field(description="The region or merchant id.")
    slot_share: float = Field(description="Share of the buyers' top-10 slots showing its items.")
    sales_share: float = Field(description="Share of the training purchases (units) of its items.")


class ExposureByGroup(BaseModel):
    """How evenly the lists spread over the regions or merchants."""

    gini: float | None = Field(description="Gini coefficient of the slots across groups (0: even; null: no slot).")
    least_fifth_share: float | None = Field(
        description="Share of the slots going to the least-exposed fifth of the groups (0.2 when even).")
    groups: list[GroupExposure] = Field(description="Every group, most exposed first.")


class ExposureResponse(BaseModel):
    """Who the served model's default lists show: their top 10, before campaigns."""

    model_version: str
    buyers: int = Field(description="Buyers whose lists were counted: every training buyer when the lists are "
                                    "precomputed, else a sample.")
    k: int = Field(description="Slots per list counted.")
    long_tail_share: float | None = Field(description="Share of the slots showing items outside the most-sold 20%.")
    region: ExposureByGroup
    merchant: ExposureByGroup


class CatalogFacets(BaseModel):
    """The values the list filters take."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "categories": ["fruit", "tea", "weaving"], "regions": ["Fenghuang County, Hunan", "Huili, Sichuan"]}]})

    categories: list[str] = Field(description="Catalog categories, sorted.")
    regions: list[str] = Field(description="Catalog regions, sorted.")


class SalesRow(BaseModel):
    """Units of one item sold in one period."""

    item_id: str = Field(description="Catalog item id.", examples=["DZ-000001"])
    period_start: date = Field(description="First day of the period.", examples=["2026-10-26"])
    units: float = Field(description="Units sold (returns excluded).", examples=[3.0])


class MerchantSalesResponse(BaseModel):
    """A merchant's sales before its published forecast."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "merchant_id": "M-DZ-02", "freq": "W",
        "rows": [{"item_id": "DZ-000001", "period_start": "2026-10-26", "units": 3.0}]}]})

    merchant_id: str = Field(description="The merchant asked about.", examples=["M-DZ-02"])
    freq: str = Field(description="Period length: W (weeks, starting on Monday) or D (days).", examples=["W"])
    rows: list[SalesRow] = Field(description="Units per item and period, the last 52 periods before the forecast.")


class LotIn(BaseModel):
    """A harvest lot a merchant declares: ``units`` of its ``items`` on offer from ``available_from``
    until ``sell_by`` (when it spoils or its season ends)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "lot_id": "pomegranate-2026-a", "items": ["HL-000101", "HL-000102"], "units": 700,
        "available_from": "2026-12-08T00:00:00+08:00", "sell_by": "2027-01-20T00:00:00+08:00", "tiers": [1, 2]}]})

    lot_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                        description="The merchant's id of the lot: 1-64 letters, digits, `.`, `_`, `-`.")
    items: list[Identifier] = Field(min_length=1, max_length=1_000, description="The lot's item ids, the merchant's "
                                                                               "own, known to the served model.")
    units: int = Field(gt=0, le=10**9, description="Units on offer (whole units, positive).")
    available_from: PlannedTime = Field(description="ISO 8601; without an offset, UTC.")
    sell_by: PlannedTime = Field(description="ISO 8601, after `available_from`: when the lot spoils or its season "
                                             "ends.")
    tiers: list[Annotated[int, Field(ge=MIN_CITY_TIER, le=MAX_CITY_TIER)]] = Field(
        [], max_length=MAX_CITY_TIER, description="City tiers it ships to (none: all).")
    regions: list[Identifier] = Field([], max_length=1_000, description="Buyers' regions it ships to (none: all).")


class LotPath(BaseModel):
    """The path parameters of ``/v1/merchants/{merchant_id}/lots/{lot_id}``."""

    merchant_id: Identifier = Field(description="Merchant id (catalog merchant_id).", examples=["M-HL-01"])
    lot_id: Identifier = Field(description="The lot's id.", examples=["pomegranate-2026-a"])


class Quantiles(BaseModel):
    """Units at the 10th, 50th and 90th percentiles."""

    p10: float
    p50: float
    p90: float


class CurvePoint(Quantiles):
    """Cumulative units sold by ``date``: sold so far, then expected."""

    date: datetime


class TierUnits(BaseModel):
    """Expected units (P50) in one city tier."""

    city_tier: int = Field(description="City tier 1..5; 0: buyers of unknown tier.")
    p50: float


class LotAudienceTier(BaseModel):
    """The buyers who could take a lot, in one city tier."""

    city_tier: int = Field(description="City tier 1..5; 0: buyers of unknown tier.")
    expected_buyers: float = Field(description="Expected buyers of the lot's items within the audience horizon "
                                               "(repeat and first-time; a buyer of two items counts twice).")
    expected_units: float


class SellThroughOut(BaseModel):
    """Will the lot sell by its sell-by date: the demand forecast of its items from now (or from
    when it is available) to the sell-by date, against its remaining units."""

    units: float
    sold: float
    remaining: float
    at_risk: bool = Field(description="The P50 of the sales to come is below the remaining units.")
    start: datetime = Field(description="From when the expected sales are counted: now, or when the lot is available.")
    sell_by: datetime
    covered_until: datetime = Field(description="How far the published forecast reaches (at most `sell_by`).")
    expected: Quantiles = Field(description="Units expected to sell from `start` to `sell_by` (the band: the sum of "
                                            "the periods' bands).")
    shortfall: Quantiles = Field(description="Remaining units expected unsold; `p10` if sales come in at their P90.")
    by_city_tier: list[TierUnits] = Field(description="Expected units (P50) per city tier the lot ships to.")
    curve: list[CurvePoint] = Field(description="Cumulative units by date: sold so far, then expected.")


class LotOut(BaseModel):
    """A lot, its sales so far and its projection."""

    merchant_id: str
    lot_id: str
    items: list[str]
    units: int
    units_sold: int = Field(description="Units of the lot's items bought within its window, counted once per event.")
    remaining: int
    available_from: datetime
    sell_by: datetime
    tiers: list[int]
    regions: list[str]
    created_at: datetime
    withdrawn_at: datetime | None = Field(description="When the merchant withdrew it (null: on offer).")
    projection: SellThroughOut | None = Field(description="Null when no forecasts are published (see `note`).")
    audience: list[LotAudienceTier] = Field(description="Who could take the lot, per city tier (its tiers and "
                                                        "regions only); empty without an audience model.")
    note: str | None = Field(None, description="Why something is missing, e.g. no forecasts published.")


class LotsResponse(BaseModel):
    """A merchant's lots (or every merchant's, for the operator)."""

    lots: list[LotOut]


class ClearanceIn(BaseModel):
    """How to start a lot's clearance campaign (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    audience: int = Field(1_000, ge=1, le=100_000, description="The likeliest buyers of each part of each lot "
                                                               "item's audience the campaign may reach.")


class ClearanceOut(BaseModel):
    """A lot's clearance campaign as started, and what sized it."""

    campaign: CampaignOut = Field(description="The campaign (admin routes: `/v1/admin/campaigns/{campaign_id}`).")
    goal_units: float = Field(description="Units to sell beyond the forecast by the sell-by date: the projected "
                                          "shortfall (P50).")
    conversion: float = Field(description="Purchases per impression the budget was sized with: measured on past "
                                          "campaigns, shrunk towards the prior (2% worth 1,000 impressions).")
    measured_impressions: int = Field(description="Campaign impressions measured so far (every campaign).")
    measured_purchases: int = Field(description="Purchases that followed them.")
    audience_buyers: int = Field(description="Buyers the campaign may reach.")

