#!/usr/bin/env bash
# Does synthetic set v2 transfer better than v1? Same model, recipe and budget (the README demo's,
# parameters/train_demo.yaml: 0.91 M parameters, 16 songs x 12 s, 16 epochs x 96 chunks), trained
# once on each design, each model scored (benchmarks/real_transfer.py) on stempeg's real MUSDB18
# excerpt and on the v1 and v2 synthetic test sets (4 songs x 12 s each).
#   bash benchmarks/synthetic_ablation.sh [OUTDIR]     # about 15 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-runs/synthetic_ablation}
mkdir -p "$OUT"
test_set() {  # the demo recipe's synthetic test set of design $1 (generated when missing)
    "$PY" -c "from stemunet.config import DataConfig; from stemunet.datasets import resolve_root
print(resolve_root(DataConfig(synthetic_train_tracks=16, synthetic_test_tracks=4, synthetic_seconds=12.0, synthetic_version=$1), progress=False))"
}
for version in 1 2; do
    if [ ! -f "$OUT/v$version/checkpoints/best.pt" ]; then
        echo "== training on synthetic set v$version"
        "$PY" -m stemunet.train -f parameters/train_demo.yaml -p synthetic_version "$version" --run-dir "$OUT/v$version"
    fi
done
for version in 1 2; do
    echo; echo "===== model trained on v$version"
    echo "-- real MUSDB18 excerpt"; "$PY" benchmarks/real_transfer.py "$OUT/v$version"
    for data in 1 2; do
        echo "-- synthetic test set v$data"; "$PY" benchmarks/real_transfer.py "$OUT/v$version" "$(test_set $data)"
    done
done
