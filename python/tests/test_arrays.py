"""numpy in and out: float32 and float64, any memory layout, memory maps and read-only arrays
give the same run; explanations and models round-trip."""

import pickle

import numpy as np
import pytest

import demud


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(7)
    # 300 items near a 5-dimensional subspace of 40 features, a few far off it.
    base = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 40)) + 0.05 * rng.normal(size=(300, 40))
    base[[17, 123, 250]] += rng.normal(scale=3.0, size=(3, 40))
    return base


def run(values, **params):
    fitted = demud.DEMUD(8, n_select=25, **params).fit(values)
    return fitted.selections_, fitted.scores_


def test_every_layout_gives_the_same_run(items):
    indices, scores = run(items)
    for variant in (
        np.asfortranarray(items),
        np.ascontiguousarray(items[::-1])[::-1],  # negative strides
        np.repeat(items, 2, axis=1)[:, ::2],  # a strided view
    ):
        assert not variant.flags.c_contiguous or variant is items
        other_indices, other_scores = run(variant)
        np.testing.assert_array_equal(other_indices, indices)
        np.testing.assert_array_equal(other_scores, scores)


def test_float32_items_are_ranked_in_float32_and_pick_as_float64(items):
    single = items.astype(np.float32)
    indices, scores = run(single)
    double_indices, double_scores = run(single.astype(np.float64))
    np.testing.assert_array_equal(indices, double_indices)
    np.testing.assert_allclose(scores, double_scores, rtol=1e-4)
    fitted = demud.DEMUD(8, n_select=3).fit(single)
    assert fitted.expected_.dtype == np.float64 and fitted.selections_.dtype == np.int64


def test_memory_maps_and_read_only_arrays_are_read_in_place(items, tmp_path):
    path = tmp_path / "items.npy"
    np.save(path, items.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    assert not mapped.flags.writeable
    indices, scores = run(mapped)
    expected_indices, expected_scores = run(items.astype(np.float32))
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(scores, expected_scores)
    fitted = demud.DEMUD(8, n_select=5).fit(mapped)
    assert fitted.decision_function(mapped[:4]).shape == (4,)
    frozen = items.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(run(frozen)[0], run(items)[0])


def test_other_numbers_and_byte_orders_become_float64(items):
    whole = np.rint(items * 10).astype(np.int32)
    np.testing.assert_array_equal(run(whole)[0], run(whole.astype(np.float64))[0])
    swapped = items.astype(">f8")
    np.testing.assert_array_equal(run(swapped)[0], run(items)[0])
    as_lists = items[:50].tolist()
    np.testing.assert_array_equal(run(as_lists)[0], run(items[:50])[0])


def test_expected_plus_residual_is_the_item(items):
    fitted = demud.DEMUD(8, n_select=25).fit(items)
    np.testing.assert_allclose(fitted.expected_ + fitted.residual_, items[fitted.selections_], rtol=1e-12, atol=1e-12)
    # The score is the squared length of the novel content.
    np.testing.assert_allclose((fitted.residual_**2).sum(axis=1), fitted.scores_, rtol=1e-9)
    # With conditioning, explanations are mapped back to the item's own features.
    conditioned = demud.DEMUD(8, n_select=25, conditioning="centre+l2").fit(items)
    np.testing.assert_allclose(
        conditioned.expected_ + conditioned.residual_, items[conditioned.selections_], rtol=1e-9, atol=1e-9
    )


def test_models_round_trip_through_files_json_and_pickle(items, tmp_path):
    fitted = demud.DEMUD(8, n_select=25, conditioning="power+centre").fit(items)
    model = fitted.model_
    path = tmp_path / "model.json"
    fitted.save(path)
    assert demud.Model.load(path) == model
    assert demud.Model.from_json(model.to_json()) == model
    assert pickle.loads(pickle.dumps(model)) == model
    assert model.basis.shape == (40, 8) and model.mean.shape == (40,) and model.count == 25
    np.testing.assert_allclose(model.basis.T @ model.basis, np.eye(8), atol=1e-10)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.selections_, fitted.selections_)
    np.testing.assert_array_equal(again.decision_function(items), fitted.decision_function(items))
    assert repr(again) == repr(fitted) == "DEMUD(k=8, n_select=25, conditioning='power+centre')"
