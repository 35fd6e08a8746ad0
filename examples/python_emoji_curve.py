# %% [markdown]
# # DEMUD from Python: what is new among 1,911 emoji?
#
# Ranks the EfficientNet-Lite0 `pool` features of the Google emoji (the README's emoji
# benchmark) with the `demud` Python package, and draws the discovery curve against the emoji's
# 10 categories, with the random baseline, the oracle and static SVD. Cells (`# %%`) run one by
# one in VS Code, Jupyter (jupytext) or Spyder, or all at once:
#
#     pip install ./python matplotlib
#     python examples/python_emoji_curve.py [FEATURES.npy] [LABELS.csv] [CURVE.png]
#
# Defaults: results/emoji/pool.npy, results/emoji/category.csv, results/emoji/python_curve.png.
# `scripts/benchmark-emoji` installs the emoji into results/emoji/ and writes the labels
# (category.csv, subcategory.csv) and manifest.csv; the features are then (about 15 s in a
# release build):
#
#     demud extract --images results/emoji/node_modules/emoji-datasource-google \
#         --manifest results/emoji/manifest.csv --out results/emoji/pool.npy
#
# Any `.npy` with its items file beside it (`<stem>.items.csv`, as `demud extract` writes it)
# and any `id,label` file will do.

# %%
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; drop this line in a notebook
import matplotlib.pyplot as plt
import numpy as np

import demud

arguments = sys.argv[1:] if "ipykernel" not in sys.modules else []
features_path = Path(arguments[0] if len(arguments) > 0 else "results/emoji/pool.npy")
labels_path = Path(arguments[1] if len(arguments) > 1 else "results/emoji/category.csv")
chart_path = Path(arguments[2] if len(arguments) > 2 else "results/emoji/python_curve.png")


def read_rows(path):
    """The rows of a CSV with a header, skipping `#` comment lines."""
    with open(path, newline="") as file:
        return list(csv.DictReader(line for line in file if not line.startswith("#")))


# Read in place: the engine borrows the memory map, nothing is copied for the ranking itself.
features = np.load(features_path, mmap_mode="r")
ids = [row["id"] for row in read_rows(features_path.with_name(features_path.stem + ".items.csv"))]
label_of = {row["id"]: row["label"] for row in read_rows(labels_path)}
labels = np.array([label_of[i] for i in ids])
print(f"{features.shape[0]} items x {features.shape[1]} features ({features.dtype}), {len(set(labels))} classes")

# %% [markdown]
# DEMUD as `demud discover` ranks `.npy` features: the signed square root, centring and unit
# length (`power+centre+l2`, fitted on the collection), k = 20, 300 selections.

# %%
t = 300
ranked = demud.DEMUD(k=20, n_select=t, conditioning="power+centre+l2").fit(features)
static = demud.DEMUD(k=20, n_select=t, update="static").fit(features)
for rank, index in enumerate(ranked.selections_[:10], start=1):
    print(f"{rank:3d}  {ids[index]:45s} {labels[index]:22s} {ranked.scores_[rank - 1]:.4f}")

# %% [markdown]
# nAUC at 10, 50 and 300 selections against 1,000 random orders (mean and sd) and the oracle.

# %%
runs = {"DEMUD (power+centre+l2)": ranked.selections_, "static SVD (raw)": static.selections_}
try:
    print(demud.nauc_table(labels, runs, at=(10, 50, 300)).round(2).to_string())
except ImportError:  # without pandas
    for name, order in runs.items():
        print(name, np.round(demud.nauc(labels, order, t=[10, 50, 300]), 2))
    print("random", np.round(demud.random_nauc(labels, [10, 50, 300])[0], 2))

# %% [markdown]
# The discovery curve: distinct categories among the first i selections.

# %%
steps = np.arange(1, t + 1)
figure, axes = plt.subplots(figsize=(7, 4.5))
axes.plot(steps, demud.oracle_curve(labels, t), color="black", linestyle=":", label="oracle")
for name, order in runs.items():
    axes.plot(steps, demud.discovery_curve(labels, order), label=name)
axes.plot(steps, demud.random_baseline(labels, t), color="grey", linestyle="--", label="random (mean of 1000)")
axes.set_xscale("log")
axes.set_xlabel("selections")
axes.set_ylabel("categories found")
axes.set_title(f"{features_path.name}: {len(labels)} emoji, {len(set(labels))} categories")
axes.legend(loc="lower right")
figure.tight_layout()
chart_path.parent.mkdir(parents=True, exist_ok=True)
figure.savefig(chart_path, dpi=120)
print(f"wrote {chart_path}")
