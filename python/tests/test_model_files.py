"""Model files go both ways between the package and the command line: a file written by
`demud discover --model-out` loads in Python and continues there exactly as `--model-in`
continues it, and a file saved from Python is accepted by `--model-in` and continued the same
way, with and without conditioning."""

import json

import numpy as np
import pytest

import demud


@pytest.fixture
def halves(glass, tmp_path):
    """Glass split into an archive (first 110 items) and a batch (the rest), as CSV files in
    the fixture's layout and as arrays."""
    header = "id,label," + ",".join(f"f{j}" for j in range(glass.features.shape[1]))
    paths = []
    for name, rows in (("archive", slice(0, 110)), ("batch", slice(110, None))):
        path = tmp_path / f"{name}.csv"
        lines = [header] + [
            ",".join([i, label, *map(repr, values)])
            for i, label, values in zip(glass.ids[rows], glass.labels[rows], glass.features[rows].tolist())
        ]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths[0], paths[1], glass.features[:110], glass.features[110:]


def test_a_command_line_model_loads_and_continues_as_model_in_continues_it(cli, halves, tmp_path):
    archive_csv, batch_csv, archive, batch = halves
    model_path = tmp_path / "model.json"
    cli("discover", "--features", archive_csv, "--k", 3, "--n", 40, "--out", tmp_path / "first",
        "--model-out", model_path, "--quiet")
    loaded = demud.DEMUD.load(model_path)
    assert loaded.model_.count == 40 and loaded.model_.k == 3 and loaded.k == 3
    assert loaded.model_.conditioning == "none" and loaded.model_.n_features_in == 9
    # The model is the one Python makes from the same run.
    same_run = demud.DEMUD(3, n_select=40).fit(archive)
    assert same_run.model_ == loaded.model_

    cli("discover", "--features", batch_csv, "--model-in", model_path, "--n", 30,
        "--out", tmp_path / "second", "--quiet")
    cli_indices, cli_scores = cli.selections(tmp_path / "second")
    continued = demud.DEMUD.load(model_path, n_select=30).fit(batch)
    np.testing.assert_array_equal(continued.selections_, cli_indices)
    np.testing.assert_allclose(continued.scores_, cli_scores, rtol=1e-12, atol=0)


def test_a_python_model_is_continued_by_model_in(cli, halves, tmp_path):
    archive_csv, batch_csv, archive, batch = halves
    first = demud.DEMUD(3, n_select=40).fit(archive)
    model_path = tmp_path / "from-python.json"
    first.save(model_path)
    assert json.loads(model_path.read_text())["format"] == "demud-model"
    cli("discover", "--features", batch_csv, "--model-in", model_path, "--n", 30,
        "--model-out", tmp_path / "after.json", "--out", tmp_path / "second", "--quiet")
    cli_indices, cli_scores = cli.selections(tmp_path / "second")
    continued = demud.DEMUD(3, n_select=30, init=first.model_).fit(batch)
    np.testing.assert_array_equal(continued.selections_, cli_indices)
    np.testing.assert_allclose(continued.scores_, cli_scores, rtol=1e-12, atol=0)
    # And the command line's model after those selections is Python's.
    assert demud.Model.load(tmp_path / "after.json") == continued.model_


def test_conditioned_models_carry_their_conditioning_both_ways(cli, glass, tmp_path):
    """`.npy` features: the command line conditions them (power+centre+l2 by default) and its
    model file carries the fitted conditioner; Python makes the same run, the same file, the
    same explanations in the original features, and continues it the same way."""
    features = glass.features.astype(np.float32)
    np.save(tmp_path / "archive.npy", features[:110])
    np.save(tmp_path / "batch.npy", features[110:])
    cli_model = tmp_path / "cli.json"
    cli("discover", "--features", tmp_path / "archive.npy", "--k", 3, "--n", 40,
        "--out", tmp_path / "first", "--model-out", cli_model, "--quiet")
    first = demud.DEMUD(3, n_select=40, conditioning="power+centre+l2").fit(features[:110])
    cli_indices, cli_scores = cli.selections(tmp_path / "first")
    np.testing.assert_array_equal(first.selections_, cli_indices)
    np.testing.assert_allclose(first.scores_, cli_scores, rtol=1e-12, atol=0)
    np.testing.assert_allclose(first.expected_, np.load(tmp_path / "first" / "expected.npy"), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(first.residual_, np.load(tmp_path / "first" / "residual.npy"), rtol=1e-9, atol=1e-9)

    python_model = tmp_path / "python.json"
    first.save(python_model)
    assert python_model.read_text() == cli_model.read_text(), "the same model, the same file"
    loaded = demud.DEMUD.load(cli_model)
    assert loaded.model_.conditioning == "power+centre+l2" and loaded.conditioning is None

    cli("discover", "--features", tmp_path / "batch.npy", "--model-in", python_model, "--n", 25,
        "--out", tmp_path / "second", "--quiet")
    cli_indices, cli_scores = cli.selections(tmp_path / "second")
    continued = demud.DEMUD.load(cli_model, n_select=25).fit(features[110:])
    np.testing.assert_array_equal(continued.selections_, cli_indices)
    np.testing.assert_allclose(continued.scores_, cli_scores, rtol=1e-12, atol=0)
    # A loaded model is the start: another init, or another conditioning (as --model-in
    # refuses it), is refused.
    with pytest.raises(ValueError, match="give no init"):
        demud.DEMUD.load(cli_model, init="svd")
    with pytest.raises(ValueError, match="conditioned by power\\+centre\\+l2"):
        demud.DEMUD.load(cli_model, conditioning="centre")


def test_model_files_are_checked_when_read(tmp_path, glass):
    missing = tmp_path / "absent.json"
    with pytest.raises(FileNotFoundError, match="absent.json"):
        demud.DEMUD.load(missing)
    not_json = tmp_path / "notes.json"
    not_json.write_text("these are notes\n")
    with pytest.raises(ValueError, match="not a demud model state"):
        demud.Model.load(not_json)
    model_path = tmp_path / "model.json"
    demud.DEMUD(2, n_select=5).fit(glass.features).save(model_path)
    state = json.loads(model_path.read_text())
    state["model"]["basis"]["data"] = [2.0 * v for v in state["model"]["basis"]["data"]]
    bent = tmp_path / "bent.json"
    bent.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="not orthonormal"):
        demud.Model.load(bent)
    state["version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="version 99 is not supported"):
        demud.Model.load(future)
