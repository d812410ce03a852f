# scripts/lib/deps.sh — installs the Debian packages cpd needs to build and test, only when missing.
# Sourced by scripts/run.sh and scripts/test.sh; needs root or sudo only when something is missing.

# Packages every build needs.
# python3-venv and the setuptools/wheel wheels let the tests pip-install clients/python into a
# virtual environment offline (pip --no-index --find-links /usr/share/python-wheels); dpkg-dev
# (dpkg-shlibdeps) lets cpack compute the .deb's dependencies.
CP_DEPS_BUILD="build-essential cmake pkg-config libevent-dev libhiredis-dev libjson-c-dev
libyaml-dev libcmocka-dev libcurl4-openssl-dev redis-server python3 python3-venv
python3-setuptools-whl python3-wheel-whl dpkg-dev"
# Nice to have: prometheus brings promtool, which the metrics test uses to lint /metrics;
# systemd brings systemd-analyze, which the install test uses to verify packaging/cpd.service;
# chromium is the headless browser the dashboard's test (tests/e2e/only_ui.py) drives (without
# it that test exits 77 and ctest reports it skipped).
CP_DEPS_OPTIONAL="prometheus systemd chromium"
# The libFuzzer targets (scripts/fuzz.sh, run by scripts/test.sh): clang and its runtimes.
CP_DEPS_FUZZ="clang-14 libclang-rt-14-dev"

# cp_pkg_installed PKG: true when dpkg has PKG fully installed (not just "config-files" left).
cp_pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# cp_as_root CMD...: run CMD as root (directly, or through sudo when not root).
cp_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "deps: need root or sudo to run: $*" >&2
        return 1
    fi
}

# cp_apt_install PKG...: apt-get install, non-interactive, without starting services.
cp_apt_install() {
    cp_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@"
}

# cp_install_deps: install whatever is missing. Required packages failing is fatal; an optional
# one failing is reported and skipped. apt-get update runs once, and only when something is missing.
cp_install_deps() {
    local missing="" optional="" p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "deps: not a Debian system; assuming the build dependencies are installed" >&2
        return 0
    fi
    for p in $CP_DEPS_BUILD; do
        cp_pkg_installed "$p" || missing="$missing $p"
    done
    for p in $CP_DEPS_OPTIONAL; do
        cp_pkg_installed "$p" || optional="$optional $p"
    done
    if [ -z "$missing" ] && [ -z "$optional" ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        if [ -n "$missing" ]; then
            echo "deps: missing packages:$missing (no apt-get here; install them by hand)" >&2
            return 1
        fi
        echo "deps: optional packages missing:$optional (no apt-get here; skipping)" >&2
        return 0
    fi
    echo "deps: installing:$missing$optional" >&2
    cp_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        cp_apt_install $missing || {
            echo "deps: could not install:$missing" >&2
            return 1
        }
    fi
    for p in $optional; do
        cp_apt_install "$p" ||
            echo "deps: optional package $p could not be installed; continuing without it" >&2
    done
    return 0
}

# cp_install_fuzz_deps: install clang for the fuzz targets when missing (fatal when it cannot).
cp_install_fuzz_deps() {
    local missing="" p
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for p in $CP_DEPS_FUZZ; do
        cp_pkg_installed "$p" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "deps: installing:$missing" >&2
    cp_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
    # shellcheck disable=SC2086
    cp_apt_install $missing || {
        echo "deps: could not install:$missing" >&2
        return 1
    }
}
