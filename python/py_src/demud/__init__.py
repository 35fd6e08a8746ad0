"""DEMUD: novelty discovery with explanations, from numpy.

DEMUD (Wagstaff et al., AAAI 2013) keeps an incrementally updated SVD model of the items already
seen, repeatedly selects the remaining item the model explains worst, and explains each
selection by its reconstruction (*expected* content) and residual (*novel* content). Discovery
curves and nAUC (Lee & Wagstaff, WHI 2018) measure, against labels, how fast a ranking finds
every class.

    import numpy as np, demud

    X = np.random.default_rng(0).normal(size=(1000, 64)).astype(np.float32)
    d = demud.DEMUD(k=10, n_select=20).fit(X)
    d.selections_, d.scores_          # item indices and scores, in selection order
    d.expected_, d.residual_          # each selection's expected and novel content
    d.decision_function(X[:5])        # novelty of items under the final model

The engine is the Rust crate `demud` (the same as the `demud` command line); arrays of float32 or
float64 in C or Fortran order, slices and memory maps are read in place.
"""

from ._demud import Model, __version__
from ._estimator import DEMUD, Discovery, Selection
from ._evaluation import (
    discovery_curve,
    nauc,
    nauc_table,
    oracle_curve,
    random_baseline,
    random_nauc,
)

__all__ = [
    "DEMUD",
    "Discovery",
    "Model",
    "Selection",
    "discovery_curve",
    "nauc",
    "nauc_table",
    "oracle_curve",
    "random_baseline",
    "random_nauc",
    "__version__",
]
