#!/usr/bin/env bash
# Builds the Python package and runs its tests; safe to run any number of times.
#
# 1. A venv of its own, python/.venv (created once): the package must install where only numpy
#    is (the project venv .venv holds torch, whose libtorch the Rust crates link, and is left
#    alone); pytest and pandas (the optional DataFrame results) are installed when missing.
# 2. `pip install ./python`, the README's one-liner, into it: pip builds the wheel with maturin
#    (from PyPI, in pip's build environment), bundling Debian's OpenBLAS, and replaces any
#    previous install. cargo builds in the workspace's target directory (CARGO_TARGET_DIR if
#    set), so a second run only rebuilds what changed.
# 3. The `demud` command line (debug build; DEMUD_CLI names another), whose runs and model
#    files the tests compare with.
# 4. pytest python/tests.
#
# Needs what scripts/setup installs (Rust, Debian's OpenBLAS, python3 with venv; libtorch for
# the command line) and PyPI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv="$root/python/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "python/test.sh: could not create a venv in $venv (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
python="$venv/bin/python"
pip=("$python" -m pip --disable-pip-version-check -q)
if ! "$python" -c 'import numpy, pytest, pandas' >/dev/null 2>&1; then
  echo "python/test.sh: installing numpy, pytest and pandas into $venv" >&2
  "${pip[@]}" install numpy pytest pandas
fi

echo "python/test.sh: pip install ./python" >&2
"${pip[@]}" install ./python

if [ -z "${DEMUD_CLI:-}" ]; then
  cargo build --quiet -p demud-cli
  target_dir="$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  export DEMUD_CLI="$target_dir/debug/demud"
fi
export DEMUD_CLI DEMUD_REQUIRE_CLI=1

# From outside the source tree, so that `import demud` is the installed package.
cd "$root/python/tests"
"$python" -m pytest -q -p no:cacheprovider .
