"""Which catalog listings are the same product, so that a list shows each product once.

Merchants list the same goods under their own item ids: twelve "Menghai Pu'er Tea Cake, Gift Box,
2 Cakes", some titled "Smallholder ..." or "Origin-direct ...". A catalog may say which listings are
one product (the optional column ``product_id``); where it does not, listings are one product when
their titles are near-identical within a category: the same quantities (every number in the title:
"357 g" and "200 g" are two products) and a cosine of at least :data:`TITLE_SIMILARITY` between
their word TF-IDF vectors (scikit-learn's ``TfidfVectorizer``, fitted on the catalog's titles, so
words many titles share, such as "Smallholder", weigh little). Titles are grouped by complete-linkage
clustering (scikit-learn's ``AgglomerativeClustering``), so every two listings of a product are that
close: single links would chain "Silk Fan, Standard" to "Silk Scarf, Standard" through "Silk Fan, Pair".

On the demo marketplace's 2,000 listings, against the generator's own product (the title without its
marketing prefix: 329 products), the 320 products found at 0.8 hold 93.9% of the pairs of listings of
one product, and 91.2% of the pairs they join are one product; the others are mostly the same goods in
the same quantity packed otherwise ("Mizhi Yellow Millet, 5 kg" and "..., Gift Box, 5 kg").

:class:`Products` is computed at training time and saved with the engine, which ranks one listing
per product (:meth:`recommender.engine.RecommendationEngine.recommend`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

TITLE_SIMILARITY = 0.8  # cosine of word TF-IDF vectors from which two titles name one product
NUMBER = r"\d+(?:[.,]\d+)?"
WORD = r"[^\s,;()]+"


@dataclass(frozen=True)
class Products:
    """The product code of every item code (catalog row): listings of one product share it."""

    of: np.ndarray  # int64, one per item

    @cached_property
    def shared(self) -> bool:
        """Whether any product has more than one listing (else deduplication changes nothing)."""
        return len(np.unique(self.of)) < len(self.of)

    def listings(self, item: int) -> np.ndarray:
        """The item codes of every listing of item code ``item``'s product (itself included)."""
        return np.flatnonzero(self.of == self.of[item])

    def first_listings(self, codes: np.ndarray, scores: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
        """Of each row of item ``codes`` (-1 padding; ``-inf`` scores unusable), the listings to keep
        (boolean, same shape): per product, the usable slot of highest ``scores``, on a tie of highest
        ``tie_break`` (same shape), then the earliest."""
        codes = np.atleast_2d(codes)
        scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        valid = (codes >= 0) & np.isfinite(scores)
        rows = np.broadcast_to(np.arange(codes.shape[0])[:, None], codes.shape).ravel()
        columns = np.broadcast_to(np.arange(codes.shape[1]), codes.shape).ravel()
        product = np.where(valid, self.of[np.maximum(codes, 0)], -1).ravel()
        order = np.lexsort((columns, -np.asarray(tie_break, dtype=np.float64).ravel(),
                            -np.where(valid, scores, 0.0).ravel(), product, rows))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (rows[order][1:] != rows[order][:-1]) | (product[order][1:] != product[order][:-1])
        keep = np.zeros(codes.size, dtype=bool)
        keep[order[first]] = True
        return keep.reshape(codes.shape) & valid

    def extended(self, catalog: pd.DataFrame) -> Products:
        """The products of ``catalog``, whose first rows are the items known here (items listed since
        appended): the known items keep their products; an added item joins the product it names
        or whose titles its own nearly repeats, else is a product of its own."""
        fresh = product_codes(catalog)
        n = len(self.of)
        # a fresh product holding known items maps to their product; one of added items only gets a new code
        known_of_fresh: dict[int, int] = {}
        for fresh_code, code in zip(fresh[:n].tolist(), self.of.tolist()):
            known_of_fresh.setdefault(fresh_code, code)
        next_code = int(self.of.max()) + 1 if n else 0
        added = np.empty(len(fresh) - n, dtype=np.int64)
        for position, fresh_code in enumerate(fresh[n:].tolist()):
            if fresh_code not in known_of_fresh:
                known_of_fresh[fresh_code] = next_code
                next_code += 1
            added[position] = known_of_fresh[fresh_code]
        return Products(np.concatenate([self.of, added]))


def product_codes(catalog: pd.DataFrame, similarity: float = TITLE_SIMILARITY) -> np.ndarray:
    """A product code (int64, 0..n_products-1) for every catalog row: listings with the same
    ``product_id``, or (without one) near-identical titles in the same category, share one."""
    n = len(catalog)
    if not 0.0 < similarity <= 1.0:
        raise ValueError(f"product title similarity must be in (0, 1], got {similarity!r}")
    named = _product_ids(catalog)
    links = [_title_links(catalog, similarity, unnamed=named == "")]
    if (named != "").any():
        ids = pd.Series(named)
        rows = np.flatnonzero(named != "")
        first = ids[rows].groupby(ids[rows], sort=False).transform(lambda group: group.index[0]).to_numpy()
        links.append(sp.coo_matrix((np.ones(len(rows)), (rows, first)), shape=(n, n)))
    graph = sp.csr_matrix(sum(links[1:], links[0]))
    _, codes = connected_components(graph, directed=False)
    _, codes = np.unique(codes, return_inverse=True)  # numbered in catalog order of first listing
    return codes.astype(np.int64)


def build_products(catalog: pd.DataFrame, similarity: float = TITLE_SIMILARITY) -> Products:
    """The :class:`Products` of a catalog (see :func:`product_codes`)."""
    return Products(product_codes(catalog, similarity))


def _product_ids(catalog: pd.DataFrame) -> np.ndarray:
    """The catalog's ``product_id`` per row as text, "" where missing (all "" without the column)."""
    if "product_id" not in catalog:
        return np.full(len(catalog), "", dtype=object)
    return catalog["product_id"].astype(object).where(catalog["product_id"].notna(), "").astype(str).str.strip(
    ).to_numpy(dtype=object)


def _title_links(catalog: pd.DataFrame, similarity: float, unnamed: np.ndarray) -> sp.coo_matrix:
    """Pairs of rows whose titles name one product (see the module's docstring), one of each pair
    ``unnamed``: each such row is linked to the first listing of its group of titles, so titles
    never join two named products."""
    from sklearn.cluster import AgglomerativeClustering  # training only: a loaded model never imports it
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(catalog)
    rows = np.arange(n)
    if not unnamed.any() or n < 2 or "title" not in catalog:
        return sp.coo_matrix((n, n))
    titles = catalog["title"].astype(str).str.lower().to_numpy()[rows]
    vectors = TfidfVectorizer(analyzer="word", token_pattern=WORD, sublinear_tf=True).fit_transform(titles)
    numbers = pd.Series(titles).str.findall(NUMBER).str.join(" ").to_numpy()
    category = (catalog["category"].astype(str).to_numpy()[rows] if "category" in catalog
                else np.zeros(len(rows), dtype=object))
    found_rows, found_cols = [], []
    for _, members in pd.Series(np.arange(len(rows))).groupby([category, numbers], sort=False):
        members = members.to_numpy()
        if len(members) < 2:
            continue
        distance = 1.0 - (vectors[members] @ vectors[members].T).toarray()
        clusters = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete",
                                           distance_threshold=1.0 - similarity + 1e-9).fit_predict(
            np.clip(distance, 0.0, None))
        first = pd.Series(members).groupby(clusters).transform("first").to_numpy()
        linked = unnamed[members]
        found_rows.append(rows[members[linked]])
        found_cols.append(rows[first[linked]])
    if not found_rows:
        return sp.coo_matrix((n, n))
    pairs_rows, pairs_cols = np.concatenate(found_rows), np.concatenate(found_cols)
    return sp.coo_matrix((np.ones(len(pairs_rows)), (pairs_rows, pairs_cols)), shape=(n, n))
