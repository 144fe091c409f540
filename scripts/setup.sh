#!/usr/bin/env bash
# Create or reuse .venv/, install ffmpeg (and the FluidR3 GM SoundFont and a C++ compiler for
# pysinsy) when missing, and install stemunet with its extras.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# torchaudio pins one exact torch release; this pair installs from PyPI (a CUDA build that also
# runs on the CPU). Override both to match a machine's CUDA, e.g. TORCH_SPEC="torch==2.11.0".
TORCH_SPEC=${TORCH_SPEC:-torch==2.9.1}
TORCHAUDIO_SPEC=${TORCHAUDIO_SPEC:-torchaudio==2.9.1}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ffmpeg (needed to read MUSDB18 .stem.mp4 and m4a files)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "setup: ffmpeg/ffprobe not found. Install them (Debian: sudo apt-get install ffmpeg;" \
             "conda: conda install -c conda-forge ffmpeg) and run this again." >&2
        exit 1
    fi
fi

# A second General MIDI SoundFont for the synthetic set's design 3 (synthetic_version: 3), which
# draws each sampled part from the installed ones; optional: design 3 works with TimGM6mb alone.
# (Debian's musescore-general-soundfont is not installed: it holds only an Ogg-compressed .sf3,
# which design 3 does not use; its uncompressed .sf2 is musescore-general-soundfont-lossless, 478 MB.)
if [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && [ ! -f /usr/share/soundfonts/FluidR3_GM.sf2 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing fluid-soundfont-gm (FluidR3_GM.sf2, MIT: sampled instruments of synthetic set v3)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluid-soundfont-gm >/dev/null) \
            || echo "setup: could not install fluid-soundfont-gm; synthetic set v3 will sample from TimGM6mb only" >&2
    else
        echo "setup: optional: synthetic set v3 also samples from FluidR3_GM.sf2 (Debian/Ubuntu: sudo apt-get install fluid-soundfont-gm)"
    fi
fi

# A C++ compiler builds pysinsy (published as source only), the singer of synthetic set v3;
# optional: without it v3's vocals are all formant-synthesised.
if ! command -v g++ >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing g++ and python3-dev (to build pysinsy, the singer of synthetic set v3)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ python3-dev >/dev/null) \
            || echo "setup: could not install g++; synthetic set v3 will sing with the formant singer only" >&2
    else
        echo "setup: optional: synthetic set v3 sings with pysinsy, built with a C++ compiler (Debian/Ubuntu: sudo apt-get install g++ python3-dev)"
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv/"
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$PYTHON" -m venv .venv
        else
            echo "setup: '$PYTHON -m venv' failed; install the python3-venv package and run this again." >&2
            exit 1
        fi
    fi
fi

stamp=.venv/.stemunet-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    if ! .venv/bin/python -c "import torch, torchaudio" 2>/dev/null; then
        echo "setup: installing $TORCH_SPEC $TORCHAUDIO_SPEC (a few GB, several minutes the first time)"
        .venv/bin/python -m pip install -q "$TORCH_SPEC" "$TORCHAUDIO_SPEC"
    fi
    echo "setup: installing stemunet with its test, benchmark and JupyterLab extras"
    .venv/bin/python -m pip install -q -e ".[test,bench,lab]"
    # The SoundFont renderer of the synthetic set; --no-deps: pyaudio is for live playback only.
    .venv/bin/python -m pip install -q --no-deps "tinysoundfont>=0.3.7"
    # The singer of synthetic set v3 (the "sing" extra): built from source, so allowed to fail.
    .venv/bin/python -m pip install -q -e ".[sing]" \
        || echo "setup: could not build pysinsy (needs g++ and python3-dev); synthetic set v3 sings with the formant singer only" >&2
    touch "$stamp"
fi
# JupyterLab in this environment refuses to save over an executed run notebook (root included):
# its server reads this from the environment's etc/jupyter (an editable install does not copy it).
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
cp jupyter-config/jupyter_server_config.d/stemunet.json .venv/etc/jupyter/jupyter_server_config.d/stemunet.json
echo "setup: ready ($(.venv/bin/python -c 'import torch, stemunet; print("stemunet", stemunet.__version__, "torch", torch.__version__)'))"
