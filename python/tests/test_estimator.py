"""The estimator's calls agree with each other: discover makes fit's selections one at a time,
decision_function is the score the next selection would get, partial_fit folds items into the
model as a prior or a continued run would."""

import numpy as np
import pytest

import demud


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(11)
    data = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 12)) + 0.1 * rng.normal(size=(200, 12))
    data[[5, 60, 150]] += 4.0 * rng.normal(size=(3, 12))
    return data


def test_discover_yields_fits_selections_one_at_a_time(items):
    fitted = demud.DEMUD(4, n_select=30, conditioning="power+centre+l2").fit(items)
    live = demud.DEMUD(4, n_select=30, conditioning="power+centre+l2")
    run = live.discover(items)
    assert run.total == 30
    for count, selection in enumerate(run, start=1):
        assert isinstance(selection, demud.Selection)
        assert selection.rank == count and live.model_.count == count
        assert selection.index == fitted.selections_[count - 1]
        np.testing.assert_array_equal(selection.residual, fitted.residual_[count - 1])
    np.testing.assert_array_equal(live.selections_, fitted.selections_)
    np.testing.assert_array_equal(live.scores_, fitted.scores_)
    np.testing.assert_array_equal(live.expected_, fitted.expected_)
    assert live.model_ == fitted.model_


def test_decision_function_is_the_score_of_the_next_selection(items):
    for params in ({}, {"score": "high"}, {"weights": np.linspace(0.5, 2.0, 12)}, {"update": "ross"}):
        shorter = demud.DEMUD(4, n_select=10, **params).fit(items)
        longer = demud.DEMUD(4, n_select=11, **params).fit(items)
        scores = shorter.decision_function(items)
        remaining = np.setdiff1d(np.arange(len(items)), shorter.selections_)
        best = remaining[np.argmax(scores[remaining])]
        assert best == longer.selections_[10], params
        np.testing.assert_allclose(scores[best], longer.scores_[10], rtol=1e-9)


def test_partial_fit_models_a_batch_as_a_prior_does_and_folds_more_in(items):
    archive, batch = items[:120], items[120:]
    folded = demud.DEMUD(4).partial_fit(archive)
    assert folded.model_.count == 120
    against_prior = demud.DEMUD(4, n_select=1).fit(batch, prior=archive)
    scores = folded.decision_function(batch)
    assert np.argmax(scores) == against_prior.selections_[0]
    np.testing.assert_allclose(scores.max(), against_prior.scores_[0], rtol=1e-9)

    # Folding the selections of a run into the model it started from is the run's own model.
    run = demud.DEMUD(4, n_select=15, init=folded.model_).fit(batch)
    refolded = demud.DEMUD(4, init=folded.model_).partial_fit(batch[run.selections_])
    np.testing.assert_allclose(refolded.model_.mean, run.model_.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        refolded.model_.singular_values, run.model_.singular_values, rtol=1e-8
    )
    # Folding after a fit continues its model; the selections stay those of the fit.
    run.partial_fit(batch[:5])
    assert run.model_.count == 140 and len(run.selections_) == 15


def test_a_conditioned_partial_fit_conditions_later_items_the_same_way(items):
    folded = demud.DEMUD(4, conditioning="power+centre+l2").partial_fit(items[:120])
    assert folded.model_.conditioning == "power+centre+l2"
    against_prior = demud.DEMUD(4, n_select=1, conditioning="power+centre+l2").fit(items[120:], prior=items[:120])
    scores = folded.decision_function(items[120:])
    np.testing.assert_allclose(scores.max(), against_prior.scores_[0], rtol=1e-9)


def test_selection_rules_and_inits_are_passed_to_the_engine(items):
    isolated = demud.DEMUD(4, n_select=20, selection="isolated:5:3").fit(items)
    plain = demud.DEMUD(4, n_select=20).fit(items)
    np.testing.assert_array_equal(isolated.selections_[:6], plain.selections_[:6])
    assert not np.array_equal(isolated.selections_, plain.selections_)
    assert demud.DEMUD(4, init=17, n_select=2).fit(items).selections_[0] == 17
    assert demud.DEMUD(4, init=np.int64(17), n_select=2).fit(items).selections_[0] == 17
    far = np.argmax(((items - items.mean(axis=0)) ** 2).sum(axis=1))
    assert demud.DEMUD(4, init="mean", n_select=1).fit(items).selections_[0] == far
    assert (
        demud.DEMUD(4, init="random", seed=3, n_select=1).fit(items).selections_[0]
        == demud.DEMUD(4, init="random", seed=3, n_select=1).fit(items).selections_[0]
    )
    static = demud.DEMUD(4, update="static").fit(items)
    assert np.all(np.diff(static.scores_) <= 0), "one model ranks every item once"
    exact = demud.DEMUD(4, n_select=20, exact=True).fit(items)
    np.testing.assert_array_equal(exact.selections_, plain.selections_)


def test_to_frame_has_the_columns_of_selections_csv(items):
    pandas = pytest.importorskip("pandas")
    fitted = demud.DEMUD(4, n_select=5).fit(items)
    labels = np.array([f"class{i % 3}" for i in range(len(items))])
    frame = fitted.to_frame(labels=labels, ids=[f"item{i}" for i in range(len(items))])
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["rank", "index", "id", "label", "score"]
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5]
    assert frame["id"].tolist() == [f"item{i}" for i in fitted.selections_]
    assert frame["label"].tolist() == labels[fitted.selections_].tolist()


def test_get_params_rebuilds_an_equal_estimator(items):
    original = demud.DEMUD(6, n_select=12, update="ross", conditioning="centre", missing="zero", seed=4)
    copy = demud.DEMUD(**original.get_params())
    assert repr(copy) == repr(original)
    np.testing.assert_array_equal(copy.fit(items).selections_, original.fit(items).selections_)
