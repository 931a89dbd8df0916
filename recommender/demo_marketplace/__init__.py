"""A demo marketplace: rural Chinese farm produce and handicrafts sold to buyers in tier 1-3 cities.

The project's default data set, generated deterministically per seed with learnable signal
(tastes, niche buyers, long-tailed popularity, seasonality, festivals, repeat purchases, late
launches for cold start). See :mod:`recommender.demo_marketplace.generator`.
"""
from recommender.demo_marketplace.generator import Marketplace, generate_marketplace, write_demo_marketplace

__all__ = ["Marketplace", "generate_marketplace", "write_demo_marketplace"]
