#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then
# runs every test and prints the test runner's summary.
#
# A fresh machine has the Rust toolchain, cargo-nextest, gcc, Python 3 and
# pip; everything else the tests need is installed here, one step per need,
# and a step that finds its need already met does nothing. Debian packages
# are installed with apt-get, as root or through sudo.
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/touchpath/target, outside
# the clone, so that clones and repeated runs share one build); TOUCHPATH_VENV
# (default $HOME/.cache/touchpath/venv), the Python environment of the
# package's tests. The Spark tests need Java 17 or later (`java` on the PATH,
# or JAVA_HOME).
#
# Exit status: 0 when every test passes, 1 when a test fails (or does not
# build), 2 when a step cannot install what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpath/target}"
mkdir -p "$CARGO_TARGET_DIR"
VENV="${TOUCHPATH_VENV:-$HOME/.cache/touchpath/venv}"

step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 2; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -E "$@"
  else
    fail "installing needs root: run as root, or install sudo (wanted: $*)"
  fi
}

# Installs Debian packages. The lock timeout lets a run wait for another
# apt-get on the same machine instead of failing at once.
install_debian_packages() {
  command -v apt-get >/dev/null || fail "apt-get not found: install $* by hand"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  as_root "${apt[@]}" update || fail "apt-get update failed"
  as_root "${apt[@]}" install -y --no-install-recommends "$@" || fail "apt-get could not install $*"
}

# Step: Chromium at /usr/bin/chromium, for the browser test of report.html
# (tests/it/html.rs), which fails without it.
install_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    install_debian_packages chromium
  fi
  /usr/bin/chromium --version 2>/dev/null || echo "warning: /usr/bin/chromium --version failed" >&2
}

# Step: a Python environment with what the package's tests use: maturin to
# build it, the table libraries it is checked with (polars, pyarrow, pandas,
# DuckDB), PySpark, pytest.
install_python_tools() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.7,<2" polars pyarrow pandas duckdb "pyspark>=4.0,<5" pytest \
    || fail "pip could not install the Python test tools"
}

# Step: Java for Spark.
check_java() {
  local java=java
  if [ -n "${JAVA_HOME:-}" ]; then java="$JAVA_HOME/bin/java"; fi
  "$java" -version 2>&1 | head -1 || fail "Spark needs Java 17 or later: install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
}

# Builds the package's wheel with the profile of `cargo nextest`, so that it
# reuses that build of polars rather than compiling it again, and installs
# it: the wheel is what the Spark cluster test ships to its executors.
WHEELS="$CARGO_TARGET_DIR/wheels"
build_python_package() {
  rm -rf "$WHEELS"
  VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/maturin" build --quiet --profile dev --manifest-path python/Cargo.toml --out "$WHEELS" \
    && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
      "$WHEELS"/touchpath-*.whl
}

# The test runners' outcomes, in order, for the summary at the end.
outcomes=()
failed=0

# Runs one test runner. A failure is recorded rather than fatal, so that one
# run reports every failure.
run_tests() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    outcomes+=("passed  $name")
  else
    local status=$?
    outcomes+=("FAILED  $name (exit status $status; its output is above)")
    failed=1
  fi
}

summary() {
  step "summary (target directory: $CARGO_TARGET_DIR)"
  printf '%s\n' "${outcomes[@]}"
  return "$failed"
}

main() {
  # Set-up: what the tests need, one step each.
  step "chromium, for the browser test of report.html"
  install_chromium
  step "python environment ($VENV), for the package's tests"
  install_python_tools
  step "java, for the Spark tests"
  check_java

  # Tests: every runner runs, even after another failed.
  run_tests "doc tests: cargo test --doc" cargo test --locked --doc
  run_tests "the test suite: cargo nextest run" cargo nextest run --locked --no-fail-fast
  run_tests "the Python package: its wheel, built and installed" build_python_package
  run_tests "the Python package's tests, Spark's included: pytest" \
    env TOUCHPATH_BIN="$CARGO_TARGET_DIR/debug/touchpath" TOUCHPATH_WHEEL="$(ls "$WHEELS"/touchpath-*.whl 2>/dev/null | head -1)" \
    "$VENV/bin/python" -m pytest -q python/tests

  summary
}

main "$@"
