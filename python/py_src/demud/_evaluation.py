"""Discovery curves and nAUC (Lee & Wagstaff, WHI 2018), the oracle and the random baseline.

`C_i` is the number of distinct classes among the first i selections; with c classes,
`nAUC_t = 100 * sum_{i<=t} C_i / sum_{i<=t} min(i, c)`, the area under the curve relative to
the oracle's, which finds a new class at every selection until all are found. Labels may be
any hashable values (strings, integers); `labels` always lists the whole collection's classes,
one per item, and `order` the selected item indices.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _demud


def _codes(labels: Iterable[Any]) -> Tuple[np.ndarray, int]:
    """Labels coded 0, 1, ... in order of first appearance, and the number of classes."""
    seen: Dict[Any, int] = {}
    codes = np.fromiter((seen.setdefault(label, len(seen)) for label in _as_list(labels)), dtype=np.int64)
    return codes, len(seen)


def _as_list(values: Iterable[Any]) -> list:
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)


def _selected(labels: Any, order: Optional[Any]) -> Tuple[np.ndarray, int]:
    """The class codes of the selections in order, and the collection's number of classes."""
    codes, n_classes = _codes(labels)
    if order is None:
        return codes, n_classes
    order = np.asarray(order)
    if order.ndim != 1 or (order.size and order.dtype.kind not in "iu"):
        raise ValueError(f"order must be a 1-D array of item indices, not {order.dtype} of shape {order.shape}")
    if order.size and (order.min() < 0 or order.max() >= len(codes)):
        raise ValueError(f"order holds item index {order.min() if order.min() < 0 else order.max()}, outside the {len(codes)} labelled items")
    return codes[order.astype(np.int64)], n_classes


def discovery_curve(labels: Any, order: Optional[Any] = None) -> np.ndarray:
    """`C_i` for i = 1..len(order): the number of distinct classes among the first i selections.

    `labels`: one per item of the collection; `order`: the selected item indices in order
    (for example `DEMUD.selections_`). Without `order`, `labels` are the selections' labels in
    selection order.
    """
    selected, _ = _selected(labels, order)
    return _demud.curve_of_codes(selected)


def nauc(
    labels: Any,
    order: Optional[Any] = None,
    t: Union[None, int, Sequence[int]] = None,
    *,
    n_classes: Optional[int] = None,
) -> Union[float, np.ndarray]:
    """nAUC_t in percent (100: every selection finds a new class until all are found).

    `t`: one number of selections or several (default: all of `order`); `n_classes`: the
    collection's number of classes (default: the distinct values of `labels`).
    """
    selected, classes = _selected(labels, order)
    curve = _demud.curve_of_codes(selected)
    classes = classes if n_classes is None else n_classes
    if t is None:
        return _demud.nauc_of_curve(curve, classes, len(curve))
    if np.ndim(t) == 0:
        return _demud.nauc_of_curve(curve, classes, int(t))
    return np.array([_demud.nauc_of_curve(curve, classes, int(at)) for at in t])


def oracle_curve(labels_or_classes: Any, t: int) -> np.ndarray:
    """The oracle's curve, `min(i, c)` for i = 1..t; `labels_or_classes` is the collection's
    labels or its number of classes c."""
    if np.ndim(labels_or_classes) == 0:
        n_classes = int(labels_or_classes)
    else:
        n_classes = _codes(labels_or_classes)[1]
    return _demud.oracle(n_classes, int(t))


def random_baseline(labels: Any, t: int, orders: int = 1000, seed: int = 0) -> np.ndarray:
    """The mean discovery curve of `orders` seeded uniformly random orders of the collection
    (t selections, at most the collection's size)."""
    codes, _ = _codes(labels)
    return _demud.random_curve(codes, int(t), int(orders), int(seed))


def random_nauc(
    labels: Any, at: Union[int, Sequence[int]], orders: int = 1000, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of nAUC_t over `orders` seeded random orders, for each t of
    `at` (clamped to the collection's size): the papers' random baseline, and how far a method
    must be from it to differ from chance."""
    codes, _ = _codes(labels)
    ts = [int(at)] if np.ndim(at) == 0 else [int(t) for t in at]
    mean, sd = _demud.random_nauc_of_codes(codes, ts, int(orders), int(seed))
    return np.asarray(mean), np.asarray(sd)


def nauc_table(
    labels: Any,
    runs: Mapping[str, Any],
    at: Sequence[int] = (10, 50, 300),
    orders: int = 1000,
    seed: int = 0,
):
    """nAUC of several rankings of one collection as a pandas DataFrame, as `demud curve`
    prints it: a row per run (`runs` maps a name to its selected item indices), then the
    random baseline's mean and standard deviation and the oracle; a column per t of `at`
    (NaN where a run made fewer than t selections)."""
    from ._estimator import _pandas

    pandas = _pandas("nauc_table")
    codes, n_classes = _codes(labels)
    ts = [int(t) for t in at]
    rows = {}
    for name, order in runs.items():
        selected, _ = _selected(labels, order)
        curve = _demud.curve_of_codes(selected)
        rows[name] = [
            _demud.nauc_of_curve(curve, n_classes, t) if t <= len(curve) else np.nan for t in ts
        ]
    mean, sd = _demud.random_nauc_of_codes(codes, ts, int(orders), int(seed))
    rows["random"] = list(mean)
    rows["random sd"] = list(sd)
    rows["oracle"] = [100.0 for _ in ts]
    return pandas.DataFrame.from_dict(rows, orient="index", columns=[f"nAUC@{t}" for t in ts])
