"""The DEMUD estimator: scikit-learn / PyOD conventions over the engine's calls."""

from __future__ import annotations

import os
from typing import Any, Iterator, NamedTuple, Optional, Union

import numpy as np

from . import _demud

_PARAMETERS = (
    "k",
    "n_select",
    "init",
    "update",
    "score",
    "conditioning",
    "missing",
    "compat",
    "selection",
    "weights",
    "seed",
    "exact",
    "refresh_every",
)


class Selection(NamedTuple):
    """One selection: its 1-based `rank`, the item's 0-based `index`, its `score` (the
    reconstruction error under the model that selected it), and its explanation in the item's
    own features: `expected` content (the model's reconstruction) and novel content
    `residual = x - expected`."""

    rank: int
    index: int
    score: float
    expected: np.ndarray
    residual: np.ndarray


def as_items(values: Any, what: str) -> np.ndarray:
    """`values` as a 2-D float32 or float64 numpy array, without a copy when it already is one
    (memory maps, slices and Fortran order included); other numbers become float64."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and array.dtype.itemsize in (4, 8):
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
    elif array.dtype.kind in "fiub":
        array = array.astype(np.float64)
    else:
        raise TypeError(f"{what} must hold numbers, not {array.dtype}")
    if array.ndim != 2:
        raise ValueError(
            f"{what} must be 2-D (one item per row), not {array.ndim}-D with shape {array.shape}"
        )
    return array


class DEMUD:
    """DEMUD novelty discovery (Wagstaff et al. 2013).

    Repeatedly selects the remaining item that a model of the items seen so far (their mean and
    top-`k` principal directions) explains worst, explains it by its reconstruction (expected
    content) and residual (novel content), and adds it to the model.

    Parameters
    ----------
    k : int
        Principal components of the model (at most the number of features).
    n_select : int or None
        Selections `fit` makes (default: every item).
    init : "svd", "mean", "random", int or Model
        First selection: the item with the largest error under the top-k SVD of all items,
        the item farthest from the mean, a seeded random item (`seed`), or that 0-based item
        (score 0). A `Model` (from `DEMUD.load` or another estimator's `model_`) starts the run
        from that model instead, as `demud discover --model-in` does.
    update : "brand", "ross", "full" or "static"
        Model update after each selection: Brand 2002 incremental SVD, Ross et al. 2008 with
        mean tracking, a new SVD of all selections, or none (one SVD of the collection ranks
        every item once: the papers' "SVD" baseline).
    score : "lowhigh", "low" or "high"
        Which residuals count: both signs, only features below expected, only above.
    conditioning : str or None
        Steps applied to the features before DEMUD ranks them, joined by "+": "centre", "l2"
        (unit length), "power" (signed square root), "whiten:D"; or "none". Fitted on `prior`
        when given, else on `X`. None (default): the starting model's when `init` is a Model,
        else "none". For CNN features "power+centre+l2" is the measured best (what
        `demud discover` applies to .npy features).
    missing : "error", "zero" or "ignore"
        NaN values: refuse them, replace them by 0, or score observed features only.
    compat : "clean" or "reference"
        "reference" reproduces wkiri/DEMUD item for item (with update="brand").
    selection : str
        "residual" (DEMUD), or "isolated[:WARMUP[:K]]": after WARMUP selections every other
        one takes the item farthest from its K-th nearest neighbour.
    weights : array of float or None
        One non-negative weight per feature, multiplying the residual.
    seed : int
        Seed of the random init.
    exact : bool
        Re-project every item at every selection instead of the fast update.
    refresh_every : int
        Recompute the fast update's state exactly every this many selections (0: never).

    Attributes
    ----------
    selections_ : ndarray of int64, (n_selected,)
        Item indices in selection order.
    scores_ : ndarray of float64, (n_selected,)
        Each selection's score (in the conditioned space DEMUD ranked in).
    expected_, residual_ : ndarray of float64, (n_selected, n_features)
        Each selection's expected and novel content, in the items' own features.
    model_ : Model
        The model after the last selection (or after `partial_fit`).
    n_features_in_ : int
        Number of features of the items.
    """

    def __init__(
        self,
        k: int = 50,
        *,
        n_select: Optional[int] = None,
        init: Union[str, int, _demud.Model] = "svd",
        update: str = "brand",
        score: str = "lowhigh",
        conditioning: Optional[str] = None,
        missing: str = "error",
        compat: str = "clean",
        selection: str = "residual",
        weights: Optional[Any] = None,
        seed: int = 0,
        exact: bool = False,
        refresh_every: int = 256,
    ) -> None:
        self.k = k
        self.n_select = n_select
        self.init = init
        self.update = update
        self.score = score
        self.conditioning = conditioning
        self.missing = missing
        self.compat = compat
        self.selection = selection
        self.weights = weights
        self.seed = seed
        self.exact = exact
        self.refresh_every = refresh_every
        self._params = self._checked_params()
        self._forget()

    # -- parameters (scikit-learn's protocol, without depending on it) -----------------------

    def _checked_params(self) -> _demud.Params:
        weights = None
        if self.weights is not None:
            weights = np.ascontiguousarray(self.weights, dtype=np.float64)
            if weights.ndim != 1:
                raise ValueError(
                    f"invalid parameter `weights`: one weight per feature (1-D), not shape {weights.shape}"
                )
        return _demud.Params(
            self.k,
            n_select=self.n_select,
            init=self.init,
            update=self.update,
            score=self.score,
            conditioning=self.conditioning,
            missing=self.missing,
            compat=self.compat,
            selection=self.selection,
            weights=weights,
            seed=self.seed,
            exact=self.exact,
            refresh_every=self.refresh_every,
        )

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters, by name."""
        return {name: getattr(self, name) for name in _PARAMETERS}

    def set_params(self, **params: Any) -> "DEMUD":
        """Sets parameters by name (checked; nothing changes if one is refused)."""
        unknown = set(params) - set(_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; the parameters are {list(_PARAMETERS)}")
        previous = self.get_params()
        for name, value in params.items():
            setattr(self, name, value)
        try:
            self._params = self._checked_params()
        except Exception:
            for name, value in previous.items():
                setattr(self, name, value)
            raise
        return self

    def __repr__(self) -> str:
        defaults = DEMUD.__init__.__kwdefaults__ or {}
        shown = []
        for name in _PARAMETERS:
            value = getattr(self, name)
            default = 50 if name == "k" else defaults.get(name)
            if name == "k" or value is not default and not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"DEMUD({', '.join(shown)})"

    # -- results ---------------------------------------------------------------------------

    def _forget(self) -> None:
        # Results come from one of: a finished `fit` (arrays), a live `discover` run (read
        # from it, so they always agree with its model), or none.
        self._fitted: Optional[tuple] = None
        self._run: Optional[_demud.Run] = None
        self._model: Optional[_demud.Model] = None

    def _result(self, position: int, name: str) -> np.ndarray:
        if self._run is not None:
            return (self._run.indices, self._run.scores, self._run.expected, self._run.residual)[position]()
        if self._fitted is None:
            raise AttributeError(f"{name}: this DEMUD has made no selections yet; call fit or discover first")
        return self._fitted[position]

    @property
    def selections_(self) -> np.ndarray:
        """Item indices in selection order."""
        return self._result(0, "selections_")

    @property
    def scores_(self) -> np.ndarray:
        """Each selection's score."""
        return self._result(1, "scores_")

    @property
    def expected_(self) -> np.ndarray:
        """Each selection's expected content (one row per selection)."""
        return self._result(2, "expected_")

    @property
    def residual_(self) -> np.ndarray:
        """Each selection's novel content (one row per selection)."""
        return self._result(3, "residual_")

    @property
    def model_(self) -> _demud.Model:
        """The model after the last selection, or after `partial_fit`."""
        if self._model is not None:
            return self._model
        if self._run is not None:
            model = self._run.model()
            if model is not None:
                return model
        raise AttributeError("model_: this DEMUD has no model yet; call fit, discover, partial_fit or DEMUD.load first")

    @property
    def n_features_in_(self) -> int:
        """Number of features of the items."""
        return self.model_.n_features_in

    # -- the estimator ---------------------------------------------------------------------

    def fit(self, X: Any, prior: Optional[Any] = None) -> "DEMUD":
        """Makes `n_select` selections (default: all) among the rows of `X`.

        `prior`: items (same features) the model starts from, which are never selected ("rank
        today's batch against the archive"); the conditioning is fitted on them. The GIL is
        released while the engine works (`X` is read in place: do not write to it from another
        thread meanwhile); Ctrl-C raises KeyboardInterrupt between two selections and leaves
        the estimator as it was.
        """
        items = as_items(X, "X")
        prior_items = None if prior is None else as_items(prior, "prior")
        indices, scores, expected, residual, model = _demud.fit(self._params, items, prior_items)
        self._forget()
        self._fitted = (indices, scores, expected, residual)
        self._model = model
        return self

    def discover(self, X: Any, prior: Optional[Any] = None) -> "Discovery":
        """Selections among the rows of `X`, one per iteration (up to `n_select`).

        Returns an iterator of `Selection`s; while it runs, `selections_`, `scores_`,
        `expected_`, `residual_` and `model_` describe the selections made so far. The
        iterator keeps its own copy of the items (conditioned, or as given), so `X` may change
        meanwhile; it survives a KeyboardInterrupt, and iterating again continues the run.
        """
        items = as_items(X, "X")
        prior_items = None if prior is None else as_items(prior, "prior")
        run = _demud.Run(self._params, items, prior_items)
        self._forget()
        self._run = run
        return Discovery(run)

    def partial_fit(self, X: Any) -> "DEMUD":
        """Folds the rows of `X` into the model, in order, with the incremental update
        ("brand" or "ross"), conditioned as the model's items were. Without a model yet, the
        model is the top-k SVD of `X` (with the conditioning fitted on `X`), or the starting
        model of `init=<Model>` with `X` folded in."""
        items = as_items(X, "X")
        base = self._current_model()
        if base is None:
            model = _demud.model_of(self._params, items)
        else:
            model = _demud.fold_items_into(self._params, base, items)
        self._settle()
        self._model = model
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Novelty of each row of `X` under the current model: its reconstruction error
        (higher is more novel, as in PyOD), with this estimator's score method, weights and
        missing-value policy."""
        model = self._current_model()
        if model is None:
            raise AttributeError("decision_function: this DEMUD has no model yet; call fit, partial_fit or DEMUD.load first")
        return _demud.score_items_under(self._params, model, as_items(X, "X"))

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the current model in the command line's model format
        (`demud discover --model-in PATH` continues from it)."""
        self.model_.save(os.fspath(path))

    @classmethod
    def load(cls, path: Union[str, os.PathLike], **params: Any) -> "DEMUD":
        """An estimator continuing the model in `path` (written by `save` or by
        `demud discover --model-out`): `fit` and `discover` start from it, `decision_function`
        scores under it. k, update, score and compat default to the model's; any parameter
        may be given."""
        if "init" in params:
            raise ValueError("DEMUD.load starts from the model in the file: give no init")
        model = _demud.Model.load(os.fspath(path))
        settings = {"k": model.k, "update": model.update, "score": model.score, "compat": model.compat}
        settings.update(params)
        settings["init"] = model
        estimator = cls(**settings)
        estimator._model = model
        return estimator

    def to_frame(self, labels: Optional[Any] = None, ids: Optional[Any] = None):
        """The selections as a pandas DataFrame with the columns of the command line's
        `selections.csv`: rank, index, id and label (when given: one per item of X), score."""
        pandas = _pandas("DEMUD.to_frame")
        indices = self.selections_
        columns = {"rank": np.arange(1, len(indices) + 1), "index": indices}
        if ids is not None:
            columns["id"] = np.asarray(ids, dtype=object)[indices]
        if labels is not None:
            columns["label"] = np.asarray(labels, dtype=object)[indices]
        columns["score"] = self.scores_
        return pandas.DataFrame(columns)

    # -- internals -------------------------------------------------------------------------

    def _current_model(self) -> Optional[_demud.Model]:
        try:
            return self.model_
        except AttributeError:
            return self.init if isinstance(self.init, _demud.Model) else None

    def _settle(self) -> None:
        """Turns a live run's results into arrays (the run is let go)."""
        if self._run is not None:
            run = self._run
            self._fitted = (run.indices(), run.scores(), run.expected(), run.residual())
            self._model = run.model()
            self._run = None

    def __getstate__(self) -> dict:
        self._settle()
        state = dict(self.__dict__)
        del state["_params"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._params = self._checked_params()


class Discovery:
    """The selections of `DEMUD.discover`, one per iteration."""

    def __init__(self, run: _demud.Run) -> None:
        self._run = run

    def __iter__(self) -> Iterator[Selection]:
        return self

    def __next__(self) -> Selection:
        step = next(self._run)
        return Selection(*step)

    @property
    def total(self) -> int:
        """Number of selections the run makes in all."""
        return self._run.total

    def __repr__(self) -> str:
        return f"<demud.Discovery: {len(self._run.indices())} of {self.total} selections made>"


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:
        return False


def _pandas(caller: str):
    try:
        import pandas
    except ImportError as error:
        raise ImportError(f"{caller} returns a pandas DataFrame: install pandas (pip install pandas)") from error
    return pandas
