#!/usr/bin/env bash
# Set up, then run the whole test suite: unit tests, Papermill runs of every notebook with a
# parameters/ file, and every notebook under nbval with its default parameters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests notebooks --nbval-lax --durations=15 "$@"
