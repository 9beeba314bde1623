#!/usr/bin/env bash
# Install the services the offsite test suite needs on Debian 12 (bookworm):
#   - PostgreSQL 15 (+ server headers), Mosquitto (+ clients), build tools
#   - libGL and GLib, which OpenCV's wheels load (the video analysis draws evidence with OpenCV)
#   - GStreamer's RTSP server with Python bindings (the camera capture tests serve clips with it,
#     run by the system python3, since `gi` does not import inside a virtual environment)
#   - docker-compose (Debian's 1.29), which checks docker-compose.yml without a Docker engine
#   - Chromium, which the dashboard's browser tests drive (Playwright, launched by its path)
#   - TimescaleDB (Apache edition), built from Debian trixie's source package
#     against PostgreSQL 15 (TimescaleDB is not packaged for bookworm).
#
# Run as root. Idempotent: when everything is present it returns in about a second.
# The system's apt configuration is never modified: the trixie source package is
# fetched through a private, throw-away apt configuration in a temporary folder.
set -euo pipefail

PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
PACKAGES=(
    "postgresql-${PG_MAJOR}"
    "postgresql-server-dev-${PG_MAJOR}"
    mosquitto
    mosquitto-clients
    cmake
    gcc
    make
    xz-utils
    dpkg-dev
    ca-certificates
    gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-rtsp
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-tools
    python3-gi
    libgl1
    libglib2.0-0
    docker-compose
    chromium
)
SOURCE_SUITE="trixie"
DEFAULT_MIRROR="http://deb.debian.org/debian"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"

log() { printf '[install-services] %s\n' "$*"; }
die() { printf '[install-services] ERROR: %s\n' "$*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

[[ "$(id -u)" -eq 0 ]] || die "must be run as root"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian 12 (bookworm)"

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

tsdb_paths() {
    TSDB_SO="$("$PG_CONFIG" --pkglibdir)/timescaledb.so"
    TSDB_CONTROL="$("$PG_CONFIG" --sharedir)/extension/timescaledb.control"
}

tsdb_installed() {
    [[ -x "$PG_CONFIG" ]] || return 1
    tsdb_paths
    [[ -f "$TSDB_SO" && -f "$TSDB_CONTROL" ]]
}

tsdb_version() {
    sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$TSDB_CONTROL"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)) && tsdb_installed; then
    log "Debian packages present: ${PACKAGES[*]}"
    log "TimescaleDB $(tsdb_version) present in $(dirname "$TSDB_SO")"
    log "everything is present"
    exit 0
fi

WORK="$(mktemp -d -t offsite-services.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# run_logged LOGNAME CMD...: run quietly; on failure show the tail of its output.
run_logged() {
    local logfile="$WORK/$1.log"
    shift
    if ! "$@" >"$logfile" 2>&1; then
        tail -n 40 "$logfile" >&2
        return 1
    fi
}

# --------------------------------------------------------------------------
# 1. Debian packages
# --------------------------------------------------------------------------
if ((${#missing[@]})); then
    log "apt-get update"
    run_logged apt-update apt-get update || die "apt-get update failed"
    log "installing Debian packages: ${missing[*]}"
    run_logged apt-install apt-get install -y --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || die "package $pkg is still not installed"
    done
else
    log "Debian packages present: ${PACKAGES[*]}"
fi

[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found after installing postgresql-${PG_MAJOR}"

# --------------------------------------------------------------------------
# 2. TimescaleDB (Apache edition) built against PostgreSQL 15
# --------------------------------------------------------------------------
if tsdb_installed; then
    log "TimescaleDB $(tsdb_version) present in $(dirname "$TSDB_SO")"
    log "done"
    exit 0
fi

# Pick the Debian mirror the machine already uses, so the trixie deb-src line
# points at a host that is known to be reachable. apt itself parses every
# source format (one-line .list and deb822 .sources); fall back to reading
# the files directly, then to deb.debian.org.
find_mirror() {
    local uri
    # Prefer the main archive entry (not -security, not a third-party repo).
    # shellcheck disable=SC2016  # $(REPO_URI) is apt's format syntax, not shell
    uri="$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk '$2 ~ /^(bookworm|stable|oldstable|testing|sid|unstable)(-updates|-backports)?$/ \
               && $1 !~ /security/ { print $1; exit }')" || true
    if [[ -z "$uri" ]]; then
        local files=()
        [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
        for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
            [[ -f "$f" ]] && files+=("$f")
        done
        if ((${#files[@]})); then
            # one-line style: "deb [opts] URI suite ..."; deb822 style: "URIs: URI ..."
            uri="$(sed -n -E \
                -e 's/^[[:space:]]*deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z+]+:\/\/[^[:space:]]+).*/\3/p' \
                -e 's/^[[:space:]]*URIs:[[:space:]]*([a-z+]+:\/\/[^[:space:]]+).*/\1/p' \
                "${files[@]}" \
                | grep -E '/debian(/|$)' | grep -v security | head -n1)" || true
        fi
    fi
    printf '%s\n' "${uri:-$DEFAULT_MIRROR}"
}

MIRROR="$(find_mirror)"
MIRROR="${MIRROR%/}"

# apt downloads as the unprivileged _apt user: let it reach the work folder.
chmod 0755 "$WORK"
mkdir -p "$WORK/sources.list.d" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/src"
if getent passwd _apt >/dev/null 2>&1; then
    chown _apt:root "$WORK/src"
fi

signed_by=""
[[ -f "$KEYRING" ]] && signed_by=" [signed-by=$KEYRING]"
printf 'deb-src%s %s %s main\n' "$signed_by" "$MIRROR" "$SOURCE_SUITE" >"$WORK/sources.list"

APT_PRIVATE=(
    -o "Dir::Etc::SourceList=$WORK/sources.list"
    -o "Dir::Etc::SourceParts=$WORK/sources.list.d"
    -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::Cache=$WORK/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Get::List-Cleanup=false"
    # snapshot.debian.org mirrors serve Release files whose Valid-Until has passed
    -o "Acquire::Check-Valid-Until=false"
    -o "Acquire::Languages=none"
)

log "fetching the TimescaleDB source package from $MIRROR ($SOURCE_SUITE)"
run_logged tsdb-update apt-get "${APT_PRIVATE[@]}" update \
    || die "apt-get update for the $SOURCE_SUITE sources at $MIRROR failed"
(cd "$WORK/src" && run_logged tsdb-source apt-get "${APT_PRIVATE[@]}" source --download-only timescaledb) \
    || die "apt-get source timescaledb ($SOURCE_SUITE, $MIRROR) failed"

dsc="$(find "$WORK/src" -maxdepth 1 -name 'timescaledb_*.dsc' | head -n1)"
[[ -n "$dsc" ]] || die "no timescaledb .dsc was downloaded"
log "unpacking $(basename "$dsc")"
run_logged tsdb-unpack dpkg-source -x "$dsc" "$WORK/timescaledb" || die "dpkg-source -x failed"

log "building TimescaleDB (Apache edition) for PostgreSQL ${PG_MAJOR}"
run_logged tsdb-cmake cmake -S "$WORK/timescaledb" -B "$WORK/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DPG_CONFIG="$PG_CONFIG" \
    -DAPACHE_ONLY=ON \
    -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF \
    -DUSE_TELEMETRY=OFF \
    -DWARNINGS_AS_ERRORS=OFF \
    || die "cmake configuration of TimescaleDB failed"
run_logged tsdb-make make -C "$WORK/build" -j"$(nproc 2>/dev/null || echo 2)" \
    || die "building TimescaleDB failed"
run_logged tsdb-install make -C "$WORK/build" install || die "installing TimescaleDB failed"

tsdb_installed || die "build finished but $TSDB_SO or $TSDB_CONTROL is missing"
log "TimescaleDB $(tsdb_version) installed in $(dirname "$TSDB_SO")"
log "done"
