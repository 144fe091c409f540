#!/usr/bin/env bash
# The main job: set up, then explore the embedded synthetic data set, train the demo model on it,
# evaluate it, separate its test tracks and build the listening comparison. Each step is a dated
# run folder under runs/ (printed as it finishes). About 8 minutes on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for notebook in explore train evaluate separate listen; do
    echo "== $notebook"
    .venv/bin/python -m stemunet.run "$notebook" -f "parameters/${notebook}_demo.yaml" --no-progress
done
echo "demo: done; the run folders above hold the executed notebooks, figures, metrics and stems"
