#!/usr/bin/env bash
# The side-by-side benchmark: the tutorial's workloads in numpy, numba and joblib and in
# parmemo, on the same inputs, answers checked equal, then docs/benchmarks.md's compare
# section and docs/benchmarks.svg written. Takes a few minutes; not part of CI (CI
# builds the Rust side).
#
#   bash benches/compare/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/target/compare"
venv="$here/.venv"
python="${PYTHON:-python3}"

echo "==> Python environment ($venv)"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet numpy scipy numba joblib

echo "==> parmemo's side (release build)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p parmemo-compare
binary="$root/target/release/parmemo-compare"

echo "==> inputs, generated once and shared as raw files"
rm -rf "$work"
mkdir -p "$work"
"$venv/bin/python" "$here/workloads.py" data "$work/data"

echo "==> Python"
"$venv/bin/python" "$here/workloads.py" run "$work/data" "$work/python"

echo "==> parmemo"
"$binary" run "$work/data" "$work/parmemo"

echo "==> report"
{
    echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr)."
    echo "Versions: $(rustc --version | cut -d' ' -f1-2);"
    echo "$("$venv/bin/python" "$here/workloads.py" versions)."
} >"$work/machine.txt"
"$venv/bin/python" "$here/report.py" "$work/python" "$work/parmemo" \
    "$root/docs/benchmarks.md" "$work/ratios.tsv" "$work/machine.txt"
"$binary" chart "$work/ratios.tsv" "$root/docs/benchmarks.svg"
echo "==> wrote docs/benchmarks.md (compare section) and docs/benchmarks.svg"
