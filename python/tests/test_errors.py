"""Bad input is a Python exception with the engine's message: ValueError for values, shapes and
parameters, TypeError for what is not numbers, AttributeError for results not made yet."""

import numpy as np
import pytest

import demud


@pytest.fixture
def items():
    return np.random.default_rng(3).normal(size=(40, 6))


@pytest.mark.parametrize(
    "params,message",
    [
        ({"k": 0}, "`k`: must be at least 1, not 0"),
        ({"n_select": 0}, "`n_select`: must be at least 1"),
        ({"init": "first"}, "`init`: 'first' is not \"svd\""),
        ({"init": -2}, "`init`: item index -2 is negative"),
        ({"init": 1.5}, "`init`: 1.5 is not"),
        ({"init": True}, "`init`: True is not"),
        ({"update": "fast"}, "`update`: \"fast\" is not one of brand, full, ross, static"),
        ({"score": "both"}, "`score`: \"both\" is not one of lowhigh, low, high"),
        ({"missing": "skip"}, "`missing`: \"skip\" is not one of error, zero, ignore"),
        ({"compat": "wkiri"}, "`compat`: \"wkiri\" is not one of clean, reference"),
        ({"conditioning": "centre+square"}, "unknown step \"square\""),
        ({"selection": "isolated:many"}, "`selection`: \"isolated:many\" is not"),
        ({"selection": "rare"}, "`selection`: \"rare\" is not"),
        ({"weights": [1.0, -1.0]}, "weight of feature 1 is -1"),
        ({"weights": [[1.0]]}, "one weight per feature"),
        ({"refresh_every": -1}, "`refresh_every`: must be >= 0"),
    ],
)
def test_parameters_are_checked_when_the_estimator_is_made(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("+", r"\+")):
        demud.DEMUD(**params)


def test_set_params_checks_and_keeps_the_old_values_on_refusal():
    estimator = demud.DEMUD(5)
    with pytest.raises(ValueError, match="`update`"):
        estimator.set_params(k=3, update="sideways")
    assert estimator.get_params()["k"] == 5 and estimator.update == "brand"
    with pytest.raises(ValueError, match="unknown parameter"):
        estimator.set_params(components=3)
    estimator.set_params(k=3, score="high")
    assert (estimator.k, estimator.score) == (3, "high")


def test_values_are_checked_against_the_items(items):
    with pytest.raises(ValueError, match="k = 7 exceeds the number of features d = 6"):
        demud.DEMUD(7).fit(items)
    with pytest.raises(ValueError, match="item index 40 is out of range: the collection has 40 items"):
        demud.DEMUD(2, init=40).fit(items)
    with pytest.raises(ValueError, match="the feature weights has 3 features, the collection has 6"):
        demud.DEMUD(2, weights=[1.0, 1.0, 1.0]).fit(items)
    with pytest.raises(ValueError, match="the prior items have 5 features, X has 6"):
        demud.DEMUD(2).fit(items, prior=items[:, :5])
    with pytest.raises(ValueError, match="collection is empty"):
        demud.DEMUD(2).fit(np.zeros((0, 6)))


def test_missing_and_infinite_values_name_the_item_and_feature(items):
    gappy = items.copy()
    gappy[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"item 3, feature 1: value is missing \(NaN\)"):
        demud.DEMUD(2).fit(gappy)
    assert len(demud.DEMUD(2, missing="ignore", n_select=5).fit(gappy).selections_) == 5
    with pytest.raises(ValueError, match="needs every value"):
        demud.DEMUD(2, missing="zero", conditioning="centre").fit(gappy)
    infinite = items.copy()
    infinite[5, 2] = np.inf
    with pytest.raises(ValueError, match="item 5, feature 2: value is infinite"):
        demud.DEMUD(2).fit(infinite)
    fitted = demud.DEMUD(2, n_select=3).fit(items)
    with pytest.raises(ValueError, match="item 5, feature 2: value is infinite"):
        fitted.decision_function(infinite)
    with pytest.raises(ValueError, match="item 5, feature 2: value is infinite"):
        fitted.partial_fit(infinite)


def test_what_is_not_a_collection_is_refused(items):
    with pytest.raises(TypeError, match="X must hold numbers, not <U"):
        demud.DEMUD(2).fit(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"X must be 2-D \(one item per row\), not 1-D"):
        demud.DEMUD(2).fit(items[0])
    with pytest.raises(ValueError, match="prior must be 2-D"):
        demud.DEMUD(2).fit(items, prior=items[0])


def test_results_and_models_are_asked_for_only_once_made(items):
    estimator = demud.DEMUD(2)
    for attribute in ("selections_", "scores_", "expected_", "residual_", "model_", "n_features_in_"):
        assert not hasattr(estimator, attribute), attribute
    with pytest.raises(AttributeError, match="no model yet"):
        estimator.decision_function(items)
    with pytest.raises(AttributeError, match="no model yet"):
        estimator.save("never-written.json")
    fitted = estimator.fit(items)
    with pytest.raises(ValueError, match="the model has 6 features, the collection has 4"):
        fitted.decision_function(items[:, :4])


def test_models_cannot_be_folded_into_by_full_or_static_updates(items):
    for update in ("full", "static"):
        fitted = demud.DEMUD(2, update=update, n_select=5).fit(items)
        with pytest.raises(ValueError, match="items are folded into a model by an incremental update"):
            fitted.partial_fit(items[:3])
        assert fitted.model_.count == (5 if update == "full" else 40)
    with pytest.raises(ValueError, match="give prior items or start from a saved model"):
        model = demud.DEMUD(2, n_select=5).fit(items).model_
        demud.DEMUD(2, init=model).fit(items, prior=items)
