#!/usr/bin/env bash
# The main job: set up, then explore the embedded synthetic data set, train the demo model on it,
# evaluate the bundled model and then the demo model on its test tracks (the second evaluation's
# runs overview puts both beside MIX and IRM1), separate the test tracks and build the listening
# comparison of the two models. Each step is a dated run folder under runs/ (printed as it
# finishes). About 14-16 minutes on a 2-core CPU beside a test run.
# `bash scripts/demo.sh 2stem` (vocals, accompaniment) or `6stem` (drums, bass, other, vocals,
# guitar, piano) trains, evaluates, separates and listens to that stem set's demo model instead.
set -euo pipefail
cd "$(dirname "$0")/.."
stems="${1:-}"  # empty: the 4-stem demo; 2stem or 6stem: that stem set's demo
case "$stems" in ""|2stem|6stem) ;; *) echo "usage: bash scripts/demo.sh [2stem|6stem]" >&2; exit 2 ;; esac
bash scripts/setup.sh
run() {
    echo "== $*"
    .venv/bin/python -m stemunet.run "$@" --no-progress
}
if [ -n "$stems" ]; then
    # The same synthetic songs, another stem set: train, evaluate (with MIX and IRM1 for these stems), separate, listen.
    run train -f "parameters/train_${stems}_demo.yaml"
    run evaluate -f "parameters/evaluate_${stems}_demo.yaml"
    run separate -f "parameters/separate_${stems}_demo.yaml"
    run listen -f "parameters/listen_${stems}_demo.yaml"
    echo "demo ${stems}: done; the run folders above hold the executed notebooks, figures, metrics and stems"
    exit 0
fi
run explore -f parameters/explore_demo.yaml
run train -f parameters/train_demo.yaml
# The bundled model on the same tracks (its baselines are the demo model's: scored once, below).
run evaluate -f parameters/evaluate_demo.yaml -p checkpoint pretrained -p baselines false
run evaluate -f parameters/evaluate_demo.yaml
run separate -f parameters/separate_demo.yaml
run listen -f parameters/listen_demo.yaml
echo "demo: done; the run folders above hold the executed notebooks, figures, metrics and stems"
