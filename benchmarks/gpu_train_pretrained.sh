#!/usr/bin/env bash
# The next bundled model on one GPU machine, in one go: fresh synthetic songs generated on every
# core while the GPU trains the recipe for a fixed time budget, then the checkpoint and its training
# record in OUT, ready to score on the validation families and to bundle:
#   1. a probe: one short epoch of the recipe measures examples per second, data pipeline included;
#   2. the run: as many epochs of SAMPLES_PER_EPOCH fresh songs as fit BUDGET_SECONDS at that rate
#      (bf16 autocast and channels-last on the GPU, EMA of the weights, best.pt chosen by validation SDR);
#   3. OUT/model.pt (the run's best.pt) and OUT/training_record/ (parameters.yaml, metrics.json,
#      history.csv, loss_curves.png), and OUT/summary.json with the rate, epochs and seconds.
# Usage: bash benchmarks/gpu_train_pretrained.sh OUT [--smoke]
#   OUT: a new or empty folder.  --smoke: the same steps cut to seconds on whatever device there is
#   (the CPU in CI), to check the script itself; its numbers mean nothing.
# Environment: PYTHON (default .venv/bin/python if present, else python3), BUDGET_SECONDS (default
# 450: with the probe and start-up it stays under 10 minutes), WORKERS (data workers generating
# songs; default: the cores but two), SAMPLES_PER_EPOCH (default 2048).
# Then: python benchmarks/real_validation.py OUT/model.pt, and scripts/bundle_pretrained.py if it wins.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${1:-}
if [ -z "$OUT" ] || [ "${OUT#-}" != "$OUT" ]; then
    echo "usage: bash benchmarks/gpu_train_pretrained.sh OUT [--smoke]" >&2
    exit 2
fi
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    echo "error: $OUT is not empty: name a new folder (nothing there is written over)" >&2
    exit 2
fi
SMOKE=0
[ "${2:-}" = "--smoke" ] && SMOKE=1
CORES=$(nproc)
WORKERS=${WORKERS:-$(( CORES > 3 ? CORES - 2 : 1 ))}
BUDGET_SECONDS=${BUDGET_SECONDS:-450}
SAMPLES_PER_EPOCH=${SAMPLES_PER_EPOCH:-2048}
PROBE_SAMPLES=512
# The recipe: the bundled model's preset, wider (C32), every example a new song (fresh_synthetic),
# a GPU batch, EMA of the weights and best.pt by validation SDR. Validation uses the synthetic
# set's own validation songs: 16 training tracks make 3 of them (a fifth).
RECIPE=(-f parameters/train_pretrained.yaml -p device auto -p mixed_precision auto -p fresh_synthetic true
        -p num_workers "$WORKERS" -p cpu_threads 2 -p base_channels 32 -p batch_size 32 -p ema_decay 0.999
        -p select_by sdr -p valid_every 5 -p synthetic_train_tracks 16)
if [ "$SMOKE" = 1 ]; then
    RECIPE+=(-p device cpu -p mixed_precision off -p num_workers 0 -p cpu_threads 1 -p base_channels 4 -p depth 2
             -p batch_size 2 -p chunk_seconds 1.0 -p valid_chunk_seconds 2.0 -p sample_rate 8000 -p n_fft 256 -p hop_length 64
             -p synthetic_train_tracks 3 -p synthetic_test_tracks 1 -p synthetic_seconds 3.0 -p valid_every 1)
    BUDGET_SECONDS=${SMOKE_BUDGET_SECONDS:-6}
    SAMPLES_PER_EPOCH=8
    PROBE_SAMPLES=8
fi
mkdir -p "$OUT"
"$PYTHON" - <<'PY'
import torch
print(f"torch {torch.__version__}; " + (f"GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU: the CPU"))
PY

echo "== 1. probe: $PROBE_SAMPLES examples, $WORKERS data workers"
"$PYTHON" -m stemunet.train "${RECIPE[@]}" -p epochs 1 -p samples_per_epoch "$PROBE_SAMPLES" --run-dir "$OUT/probe"
EPOCHS=$("$PYTHON" - "$OUT/probe/metrics.json" "$BUDGET_SECONDS" "$SAMPLES_PER_EPOCH" <<'PY'
import json, sys
metrics, budget, per_epoch = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
rate = float(metrics["train_examples_per_second"])
print(max(1, int(budget * rate // per_epoch)))
PY
)

echo "== 2. run: $EPOCHS epochs of $SAMPLES_PER_EPOCH fresh songs (budget ${BUDGET_SECONDS} s)"
"$PYTHON" -m stemunet.train "${RECIPE[@]}" -p epochs "$EPOCHS" -p samples_per_epoch "$SAMPLES_PER_EPOCH" --run-dir "$OUT/run"

echo "== 3. the model and its record"
cp "$OUT/run/checkpoints/best.pt" "$OUT/model.pt"
mkdir -p "$OUT/training_record"
for name in parameters.yaml metrics.json history.csv loss_curves.png; do
    [ -e "$OUT/run/$name" ] && cp "$OUT/run/$name" "$OUT/training_record/"
done
"$PYTHON" - "$OUT" "$EPOCHS" "$BUDGET_SECONDS" <<'PY'
import json, sys
from pathlib import Path
out, epochs, budget = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
probe, run = (json.loads((out / name / "metrics.json").read_text()) for name in ("probe", "run"))
summary = {"probe_examples_per_second": probe["train_examples_per_second"], "budget_seconds": budget, "epochs": epochs,
           "train_seconds": run["train_seconds"], "examples_seen": run["examples_seen"],
           "best_epoch": run.get("best_epoch"), "best_valid_sdr": run.get("best_valid_sdr"), "device": run.get("device"),
           "mixed_precision": run.get("mixed_precision")}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
PY
echo "gpu_train_pretrained: done; model in $OUT/model.pt"
