"""The fused product top-k against a brute-force reference."""
import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ranking import (
    GroupedColumns,
    RowIndices,
    exclude,
    product_layout,
    top_k,
    top_k_of_product,
    top_k_of_subset,
)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_fused_top_k_equals_brute_force_with_exclusions(layout):
    rng = np.random.default_rng(3)
    users, items = rng.standard_normal((250, 8)), rng.standard_normal((300, 8))  # 250 buyers: 3 implicit batches
    seen = sp.random(250, 300, density=0.05, format="csr", random_state=4)
    seen.data[:] = 1.0
    mask = rng.random(300) > 0.1
    item_vectors = np.asarray(items, dtype=np.float32, order=layout)
    codes, scores = top_k_of_product(users, item_vectors, 15, seen, mask, threads=1)
    product = users.astype(np.float32) @ items.astype(np.float32).T
    expected_codes, expected_scores = top_k(exclude(product, seen, mask), 15)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    assert not seen[np.arange(250)[:, None], codes].toarray().any()
    assert mask[codes].all()


def test_buyers_with_unused_dimensions_get_the_same_top_k_as_the_full_product():
    """Blends weight some components 0 for some history lengths: such buyers are multiplied
    without those dimensions, with the same result."""
    rng = np.random.default_rng(7)
    users, items = rng.standard_normal((900, 12)), rng.standard_normal((400, 12))
    users[:400, 4:9] = 0.0  # a group of buyers large enough to be split off
    users[400:500, :3] = 0.0  # too few to split off: scored with every dimension
    users[700:, 10] = 0.0
    seen = sp.random(900, 400, density=0.05, format="csr", random_state=8)
    mask = rng.random(400) > 0.1
    codes, scores = top_k_of_product(users, product_layout(items), 10, seen, mask, threads=1)
    expected_codes, expected_scores = top_k(
        exclude(users.astype(np.float32) @ items.astype(np.float32).T, seen, mask), 10)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)


def test_rows_with_fewer_candidates_than_k_are_padded():
    users, items = np.ones((2, 2)), np.diag([2.0, 1.0])
    codes, scores = top_k_of_product(users, items, 3, sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])))
    np.testing.assert_array_equal(codes, [[1, -1], [0, 1]])  # k is capped at the catalog size
    assert np.isneginf(scores[0, 1])


def test_product_layout_is_fortran_float32_and_copies_only_when_needed():
    vectors = np.ones((4, 3))
    laid_out = product_layout(vectors)
    assert laid_out.flags.f_contiguous and laid_out.dtype == np.float32
    assert product_layout(laid_out) is laid_out


def test_row_indices_pick_rows_and_give_unknown_rows_nothing():
    matrix = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]]))
    rows = RowIndices(matrix, np.array([1, -1, 0]))
    assert len(rows) == 3
    assert [rows[i].indices.tolist() for i in range(3)] == [[1], [], [0, 2]]
    users = np.ones((3, 1))
    codes, _ = top_k_of_product(users, np.array([[3.0], [2.0], [1.0]]), 3, rows)
    np.testing.assert_array_equal(codes, [[0, 2, -1], [0, 1, 2], [1, -1, -1]])


@pytest.mark.parametrize("share", [0.02, 0.2])
def test_top_k_of_a_subset_equals_the_fused_top_k_with_that_mask(share):
    rng = np.random.default_rng(5)
    users, items = rng.standard_normal((40, 8)).astype(np.float32), rng.standard_normal((500, 8)).astype(np.float32)
    seen = sp.random(40, 500, density=0.1, format="csr", random_state=6)
    mask = rng.random(500) < share
    kept = np.flatnonzero(mask)
    codes, scores = top_k_of_subset(users, np.ascontiguousarray(items), 25, kept, RowIndices(seen))
    expected_codes, expected_scores = top_k_of_product(users, product_layout(items), 25, seen, mask, threads=1)
    np.testing.assert_array_equal(codes, expected_codes)  # padded with -1 / -inf alike where under 25 qualify
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_top_k_of_an_empty_subset_is_all_padding():
    codes, scores = top_k_of_subset(np.ones((2, 3), dtype=np.float32), np.ones((4, 3), dtype=np.float32), 3,
                                    np.empty(0, dtype=np.int64))
    assert codes.shape == (2, 3) and (codes == -1).all() and np.isneginf(scores).all()


def best_of_groups_by_sorting(scores, groups, preference, k, marked_k):
    """GroupedColumns.best worked out one row at a time by sorting every column."""
    codes, found = [], []
    for row in scores:
        order = np.lexsort((np.arange(len(row)), -preference, -row))  # best, most preferred, first column
        order = order[np.isfinite(row[order])]
        head, seen = [], set()
        for column in order:
            if groups[column] not in seen and len(head) < k:
                seen.add(groups[column])
                head.append(column)
        marked, marked_seen = [], set(seen)
        for column in order:
            if preference[column] > 0 and groups[column] not in marked_seen and len(marked) < marked_k:
                marked_seen.add(groups[column])
                marked.append(column)
        picked = head + [-1] * (k - len(head)) + marked + [-1] * (marked_k - len(marked))
        codes.append(picked)
        found.append([row[c] if c >= 0 else -np.inf for c in picked])
    return np.array(codes), np.array(found, dtype=np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_best_of_groups_equals_sorting_every_column(seed):
    rng = np.random.default_rng(seed)
    n_columns, n_groups = 60, 9
    groups = rng.integers(0, n_groups, n_columns) * 7  # group codes need not be 0..n-1
    preference = np.where(rng.random(n_columns) < 0.3, rng.integers(1, 3, n_columns) / 2, 0.0)
    scores = rng.permuted(np.tile(np.arange(n_columns, dtype=np.float32), (20, 1)), axis=1)
    for row in scores:  # ties inside groups (between groups the order would be arbitrary)
        best_column = np.argmax(np.where(groups == groups[7], row, -np.inf))
        row[groups == groups[7]] = row[best_column]
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[0] = -np.inf  # a row with nothing left
    scores[1, groups != groups[0]] = -np.inf  # one group left: padding in the first part
    layout = GroupedColumns.of(groups, preference)
    codes, found = layout.best(scores[:, layout.order], 4, 3)
    expected_codes, expected_scores = best_of_groups_by_sorting(scores, groups, preference, 4, 3)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(found, expected_scores)
