#!/usr/bin/env bash
# The main job: set up, then explore the embedded synthetic data set, train the demo model on it,
# evaluate the bundled model and then the demo model on its test tracks (the second evaluation's
# runs overview puts both beside MIX and IRM1), separate the test tracks and build the listening
# comparison of the two models. Each step is a dated run folder under runs/ (printed as it
# finishes). About 14-16 minutes on a 2-core CPU beside a test run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run() {
    echo "== $*"
    .venv/bin/python -m stemunet.run "$@" --no-progress
}
run explore -f parameters/explore_demo.yaml
run train -f parameters/train_demo.yaml
# The bundled model on the same tracks (its baselines are the demo model's: scored once, below).
run evaluate -f parameters/evaluate_demo.yaml -p checkpoint pretrained -p baselines false
run evaluate -f parameters/evaluate_demo.yaml
run separate -f parameters/separate_demo.yaml
run listen -f parameters/listen_demo.yaml
echo "demo: done; the run folders above hold the executed notebooks, figures, metrics and stems"
