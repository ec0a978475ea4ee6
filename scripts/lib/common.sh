# common.sh -- shared by scripts/run.sh and scripts/test.sh: installing what
# is missing (Debian/Ubuntu, as root or through sudo) and building.

# Packages the build and the tests need.
PORTICO_BUILD_PACKAGES="gcc pkg-config meson ninja-build scdoc libevent-dev libhiredis-dev
  libjansson-dev libhttp-parser-dev libssl-dev"
PORTICO_RUN_PACKAGES="redis-server redis-tools python3 python3-redis curl"
PORTICO_TEST_PACKAGES="redis-server python3 python3-redis openssl clang libclang-rt-dev systemd
  clang-format-14"
# The dashboard's browser test: Debian's chromium, driven by playwright-core
# (tests/browser/, npm ci) through executablePath; no browser is downloaded.
PORTICO_TEST_PACKAGES="$PORTICO_TEST_PACKAGES chromium"
# Node.js and npm for the Node.js example (examples/node/): installed only when
# the commands are missing (a Node.js from elsewhere that brings npm is kept).
PORTICO_NODE_PACKAGES="nodejs npm"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the named Debian packages that are not installed yet.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get"
    say "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || die "apt-get install failed: ${missing[*]}"
}

# meson setup (once) + ninja for build dir $1 with extra meson options.
build_dir() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || die "meson setup $dir failed"
    fi
    ninja -C "$dir" >/dev/null || { ninja -C "$dir"; die "build in $dir failed"; }
}

# Installs Node.js and npm (PORTICO_NODE_PACKAGES) when node or npm is missing.
ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    # shellcheck disable=SC2086
    ensure_packages $PORTICO_NODE_PACKAGES
}

# Installs the Node.js example's dependencies (examples/node/node_modules, from
# package-lock.json) when they are missing or older than the lock file. Failing
# here is not fatal: the example is then skipped (run.sh) or its test fails.
ensure_node_example() {
    local d=examples/node
    [ -f "$d/package-lock.json" ] || return 0
    command -v npm >/dev/null || { say "no npm: the Node.js example is skipped"; return 0; }
    if [ ! -f "$d/node_modules/.package-lock.json" ] ||
        [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        say "installing the Node.js example's packages (npm ci in $d)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            say "npm ci in $d failed"
    fi
    return 0
}

# Installs the browser test's driver (tests/browser/node_modules: playwright-core,
# from package-lock.json) when it is missing or older than the lock file. Not
# fatal here: the dashboard test then runs npm ci itself, or fails saying why.
ensure_browser_test() {
    local d=tests/browser
    command -v npm >/dev/null || { say "no npm: the dashboard test will fail"; return 0; }
    if [ ! -f "$d/node_modules/.package-lock.json" ] ||
        [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        say "installing the browser test's packages (npm ci in $d)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            say "npm ci in $d failed"
    fi
    return 0
}
