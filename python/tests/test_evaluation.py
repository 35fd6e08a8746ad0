"""Discovery curves and nAUC: hand-computed values, the random baseline's exact expectation,
and the numbers `demud curve` prints for the same run."""

import csv

import numpy as np
import pytest

import demud


def test_discovery_curves_count_the_classes_found():
    np.testing.assert_array_equal(demud.discovery_curve(["a", "a", "b", "c"]), [1, 1, 2, 3])
    labels = np.array(["x", "y", "x", "z", "y"])
    np.testing.assert_array_equal(demud.discovery_curve(labels, [0, 2, 4, 3]), [1, 1, 2, 3])
    with pytest.raises(ValueError, match="item index 9, outside the 5 labelled items"):
        demud.discovery_curve(labels, [0, 9])


def test_nauc_matches_hand_computed_values():
    # Curve 1,2,2,3,3 with 3 classes: the oracle's 1,2,3,3,3 sums to 12, the curve to 11.
    labels = ["a", "b", "a", "c", "b"]
    assert demud.nauc(labels) == pytest.approx(100 * 11 / 12)
    # Selections in another order, of a collection with a fourth class never selected.
    collection = ["a", "b", "c", "d"]
    assert demud.nauc(collection, [0, 1], t=2) == pytest.approx(100.0)
    assert demud.nauc(collection, [0, 0, 1], n_classes=4) == pytest.approx(100 * 4 / 6)
    np.testing.assert_allclose(demud.nauc(labels, t=[1, 2, 5]), [100.0, 100.0, 100 * 11 / 12])
    with pytest.raises(ValueError, match="nAUC at t = 6 needs 6 selections; the curve has 5"):
        demud.nauc(labels, t=6)
    np.testing.assert_array_equal(demud.oracle_curve(3, 5), [1, 2, 3, 3, 3])
    np.testing.assert_array_equal(demud.oracle_curve(labels, 4), [1, 2, 3, 3])


def test_the_random_baseline_matches_the_exact_expectation():
    # Classes of 1 and 3 items: E[C_i] = 2 - P(the first i items all from the big class).
    classes = ["rare", "common", "common", "common"]
    mean = demud.random_baseline(classes, 4, orders=20_000, seed=7)
    np.testing.assert_allclose(mean, [1.0, 1.5, 1.75, 2.0], atol=0.01)
    np.testing.assert_array_equal(mean, demud.random_baseline(classes, 4, orders=20_000, seed=7))
    # nAUC at t = 2: 100 when the rare item comes first or second (probability 1/2), else 2/3.
    means, sds = demud.random_nauc(classes, [2], orders=40_000, seed=3)
    assert means[0] == pytest.approx((100 + 200 / 3) / 2, abs=0.3)
    assert sds[0] == pytest.approx((100 - 200 / 3) / 2, abs=0.3)


def test_the_same_numbers_as_demud_curve(cli, uci, glass, tmp_path):
    labels_path = tmp_path / "labels.csv"
    with open(labels_path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "label"])
        writer.writerows(zip(glass.ids, glass.labels))
    cli("discover", "--features", uci / "glass.csv", "--k", 3, "--n", 60, "--out", tmp_path / "run", "--quiet")
    cli("curve", tmp_path / "run", "--labels", labels_path, "--at", "5,20,60", "--random", 300,
        "--seed", 4, "--table", tmp_path / "table.csv")
    with open(tmp_path / "table.csv", newline="") as file:
        table = {row["run"]: row for row in csv.DictReader(file)}
    fitted = demud.DEMUD(3, n_select=60).fit(glass.features)
    ours = demud.nauc(glass.labels, fitted.selections_, t=[5, 20, 60])
    theirs = [float(table["run"][f"nauc_{t}"]) for t in (5, 20, 60)]
    np.testing.assert_allclose(ours, theirs, atol=5e-5)
    means, _ = demud.random_nauc(glass.labels, [5, 20, 60], orders=300, seed=4)
    np.testing.assert_allclose(means, [float(table["random"][f"nauc_{t}"]) for t in (5, 20, 60)], atol=5e-5)

    pytest.importorskip("pandas")
    frame = demud.nauc_table(glass.labels, {"demud": fitted.selections_, "first 10": np.arange(10)},
                             at=(5, 20, 60), orders=300, seed=4)
    assert list(frame.index) == ["demud", "first 10", "random", "random sd", "oracle"]
    np.testing.assert_allclose(frame.loc["demud"].to_numpy(), ours)
    np.testing.assert_allclose(frame.loc["random"].to_numpy(), means)
    assert np.isnan(frame.loc["first 10", "nAUC@20"]) and frame.loc["oracle", "nAUC@60"] == 100.0
