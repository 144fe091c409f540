#!/usr/bin/env bash
# The CUDA path, measured in one go on a machine with a GPU (nothing in CI has one):
#   1. the tests marked `cuda` (without a GPU pytest reports them as skipped);
#   2. a couple of minutes of training of the default preset (parameters/train.yaml) on the
#      synthetic set, bf16 autocast and channels-last, through python -m stemunet.train;
#   3. training throughput (examples/s) next to the data pipeline's, to see whether data keeps up;
#   4. separation speed of the default preset (x real time, a batch of segments on the GPU);
#   5. the fast BSSEval engine's speed on the GPU next to museval's.
# Usage: bash benchmarks/gpu_check.sh [--smoke]
#   --smoke: every step, cut to seconds and run on whatever device there is (the CPU in CI), to check
#            the script itself works; its numbers mean nothing.
# Set PYTHON to the interpreter (default: .venv/bin/python if present, else python3) and OUT to the
# folder for the training run (default: a temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-$(mktemp -d)}
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

if [ "$SMOKE" = 1 ]; then
    TRAIN=(-p epochs 1 -p samples_per_epoch 4 -p batch_size 2 -p chunk_seconds 1.0 -p valid_chunk_seconds 2.0
           -p sample_rate 8000 -p n_fft 256 -p hop_length 64 -p base_channels 4 -p depth 2 -p max_frequency 0.0
           -p synthetic_train_tracks 3 -p synthetic_test_tracks 1 -p synthetic_seconds 3.0 -p num_workers 0)
    # (the throughput's data figures read a set of 2 short songs, not the demo's 16 x 12 s, whose making took 40 s)
    THROUGHPUT=(--steps 1 --data-batches 1 --workers 0 --batch-size 1 --presets demo
                -p synthetic_train_tracks 2 -p synthetic_test_tracks 1 -p synthetic_seconds 4.0)
    SEPARATION=(--methods demo --seconds 10 --device cpu)
    BSSEVAL=(--seconds 2 --methods 1)
else
    TRAIN=(-p epochs 2 -p samples_per_epoch 2048 -p num_workers 8 -p synthetic_train_tracks 32 -p synthetic_seconds 30.0)
    THROUGHPUT=(--presets default --steps 20 --workers 8 --data-batches 16)
    SEPARATION=(--methods default --seconds 600 --device cuda --batch-segments 16)
    BSSEVAL=(--seconds 60 --methods 4)
fi

"$PYTHON" - <<'PY'
import torch
print(f"torch {torch.__version__}; CUDA {torch.version.cuda}; " +
      (f"GPU: {torch.cuda.get_device_name(0)} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)" if torch.cuda.is_available() else "no GPU"))
PY

echo "== 1. tests marked cuda"
"$PYTHON" -m pytest tests -m cuda -q -rs -p no:cacheprovider

echo "== 2. training: default preset, bf16 autocast, channels-last"
"$PYTHON" -m stemunet.train -f parameters/train.yaml -p mixed_precision bf16 -p channels_last true "${TRAIN[@]}" --run-dir "$OUT/train"
"$PYTHON" - "$OUT/train/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"trained {m['epochs']} epochs, {m['examples_seen']} examples in {m['train_seconds']} s: "
      f"{m['train_examples_per_second']} examples/s on {m['device']} ({m['mixed_precision']})")
PY

echo "== 3. training throughput next to the data pipeline's"
"$PYTHON" benchmarks/training_throughput.py -p mixed_precision bf16 -p channels_last true "${THROUGHPUT[@]}"

echo "== 4. separation speed"
"$PYTHON" benchmarks/separation_speed.py "${SEPARATION[@]}"

echo "== 5. BSSEval: museval and stemunet.evaluation.bsseval (numpy, and CUDA where there is a GPU)"
"$PYTHON" benchmarks/evaluation_speed.py "${BSSEVAL[@]}"
echo "gpu_check: done"
