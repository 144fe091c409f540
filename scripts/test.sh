#!/usr/bin/env bash
# Set up, then run the whole test suite: unit tests, Papermill runs of every notebook with a
# parameters/ file, every notebook under nbval with its default parameters, and executed run
# notebooks opened in JupyterLab in headless Chromium (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium (the browser test opens run notebooks in JupyterLab)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test: chromium not found; install it (Debian: sudo apt-get install chromium) or the browser test fails" >&2
    fi
fi
exec .venv/bin/python -m pytest tests notebooks --nbval-lax -n 2 --dist loadfile --durations=15 "$@"
