"""Shared fixtures: the UCI reference data committed in the repository, and the `demud`
command line, whose runs and model files the package must agree with."""

import csv
import os
import subprocess
from pathlib import Path
from typing import List, NamedTuple

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
UCI = REPOSITORY / "tests" / "fixtures" / "uci"


class Table(NamedTuple):
    """A features CSV of the fixtures: `id,label,f0,...`."""

    ids: List[str]
    labels: List[str]
    features: np.ndarray


def read_table(path: Path) -> Table:
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][:2] == ["id", "label"], f"{path}: unexpected header {rows[0]}"
    body = rows[1:]
    return Table(
        ids=[row[0] for row in body],
        labels=[row[1] for row in body],
        features=np.array([[float(v) for v in row[2:]] for row in body]),
    )


@pytest.fixture(scope="session")
def uci() -> Path:
    assert (UCI / "reference").is_dir(), (
        f"the reference fixtures are missing: {UCI} should hold glass.csv, ecoli.csv and "
        "reference/; they are part of the repository (git checkout -- tests/fixtures)"
    )
    return UCI


@pytest.fixture(scope="session")
def glass(uci) -> Table:
    return read_table(uci / "glass.csv")


class Cli:
    """The `demud` binary."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, *args) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.path), *map(str, args)], capture_output=True, text=True
        )
        assert result.returncode == 0, f"demud {' '.join(map(str, args))} failed:\n{result.stderr}"
        return result

    def selections(self, run_folder: Path):
        """(indices, scores) of a run folder's selections.csv."""
        with open(run_folder / "selections.csv", newline="") as file:
            rows = list(csv.DictReader(file))
        return (
            np.array([int(r["index"]) for r in rows]),
            np.array([float(r["score"]) for r in rows]),
        )


@pytest.fixture(scope="session")
def cli() -> Cli:
    """The command line (`DEMUD_CLI`, default target/debug/demud). test.sh builds it and sets
    DEMUD_REQUIRE_CLI=1, so there a missing binary fails rather than skips."""
    path = Path(os.environ.get("DEMUD_CLI", REPOSITORY / "target" / "debug" / "demud"))
    if not path.is_file():
        message = f"the demud command line is not built at {path} (cargo build -p demud-cli, or set DEMUD_CLI)"
        if os.environ.get("DEMUD_REQUIRE_CLI") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return Cli(path)
