#!/usr/bin/env bash
# Compare touchpath with ChannelAttribution and MAM on a generated log.
#
# usage: scripts/compare-peers.sh [USERS] [OUTDIR]
#
#   USERS   users to simulate with `touchpath generate` (default 20000)
#   OUTDIR  where the log, touchpath's output and the report go
#           (default /tmp/touchpath-peers); OUTDIR/report.md is the result
#
# Environment:
#   SEED=3             generator seed
#   FORMAT=csv         log format: csv or parquet
#   LOOKBACK_DAYS=30   lookback window of touchpath and of the peers
#   TOUCHPATH=...      touchpath binary (default: the newer of the release and debug
#                      binaries in $CARGO_TARGET_DIR, else built there in debug)
#   CARGO_TARGET_DIR   default $HOME/.cache/touchpath/target
#   PEERS_VENV         default $HOME/.cache/touchpath/peers-venv (reused when present)
#   PYTHON=python3     interpreter that creates the venv
#
# Needs network access to PyPI the first time (to fill the venv). Not part of CI.
set -euo pipefail

USERS="${1:-20000}"
OUTDIR="${2:-/tmp/touchpath-peers}"
SEED="${SEED:-3}"
FORMAT="${FORMAT:-csv}"
LOOKBACK_DAYS="${LOOKBACK_DAYS:-30}"
PYTHON="${PYTHON:-python3}"
PEERS_VENV="${PEERS_VENV:-$HOME/.cache/touchpath/peers-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpath/target}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

say() { printf '[compare-peers] %s\n' "$*" >&2; }
die() { printf '[compare-peers] error: %s\n' "$*" >&2; exit 1; }

[[ "$USERS" =~ ^[0-9]+$ && "$USERS" -gt 0 ]] || die "USERS must be a positive integer, got '$USERS'"
[[ "$FORMAT" == csv || "$FORMAT" == parquet ]] || die "FORMAT must be csv or parquet, got '$FORMAT'"
[[ "$LOOKBACK_DAYS" =~ ^[0-9]+$ ]] || die "LOOKBACK_DAYS must be a whole number of days, got '$LOOKBACK_DAYS'"

# ---- 1. the Python venv with both peers -----------------------------------------------

# pip name, import name, version range. ChannelAttribution 2.2.x imports matplotlib
# without declaring it, so it is installed alongside.
PEERS=(
  "ChannelAttribution|ChannelAttribution|>=2.2,<2.3|matplotlib"
  "marketing-attribution-models|mam|>=2.1,<2.2|"
)

if [[ ! -x "$PEERS_VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
  say "creating the venv $PEERS_VENV"
  "$PYTHON" -m venv "$PEERS_VENV" || die "could not create a venv with $PYTHON (is the venv module installed?)"
  "$PEERS_VENV/bin/python" -m pip install --quiet --upgrade pip || say "warning: could not upgrade pip; going on"
else
  say "reusing the venv $PEERS_VENV"
fi
VPY="$PEERS_VENV/bin/python"

has() { "$VPY" -c "import $1" >/dev/null 2>&1; }

if ! has polars || ! has pandas || ! has pyarrow; then
  say "installing polars, pandas, pyarrow"
  "$VPY" -m pip install --quiet polars pandas pyarrow \
    || die "could not install polars/pandas/pyarrow: nothing can be compared without them"
fi

FAILED_PEERS=()
for spec in "${PEERS[@]}"; do
  IFS='|' read -r dist module range extra <<<"$spec"
  if has "$module"; then
    continue
  fi
  say "installing $dist$range ${extra:+(with $extra)}"
  # shellcheck disable=SC2086  # $extra is empty or one package name
  if ! "$VPY" -m pip install --quiet "$dist$range" $extra; then
    FAILED_PEERS+=("$dist")
    say "WARNING: could not install $dist$range; the comparison goes on with the other peer"
  elif ! has "$module"; then
    FAILED_PEERS+=("$dist")
    say "WARNING: $dist installed but 'import $module' fails:"
    "$VPY" -c "import $module" 2>&1 | tail -3 >&2 || true
    say "the comparison goes on with the other peer"
  fi
done
"$VPY" -m pip list 2>/dev/null | grep -iE '^(polars|pandas|channelattribution|marketing.attribution.models) ' >&2 || true

# ---- 2. touchpath ---------------------------------------------------------------------

pick_binary() {
  local rel="$CARGO_TARGET_DIR/release/touchpath" dbg="$CARGO_TARGET_DIR/debug/touchpath"
  if [[ -x "$rel" && -x "$dbg" ]]; then
    if [[ "$rel" -nt "$dbg" ]]; then echo "$rel"; else echo "$dbg"; fi
  elif [[ -x "$rel" ]]; then echo "$rel"
  elif [[ -x "$dbg" ]]; then echo "$dbg"
  fi
}
TOUCHPATH="${TOUCHPATH:-$(pick_binary)}"
if [[ -z "$TOUCHPATH" ]]; then
  say "no touchpath binary in $CARGO_TARGET_DIR: building one (debug)"
  (cd "$REPO" && cargo build --quiet) || die "cargo build failed"
  TOUCHPATH="$CARGO_TARGET_DIR/debug/touchpath"
fi
[[ -x "$TOUCHPATH" ]] || die "touchpath binary $TOUCHPATH is not executable"
say "touchpath: $TOUCHPATH ($(date -r "$TOUCHPATH" '+built %Y-%m-%d %H:%M'))"

mkdir -p "$OUTDIR"
DATA="$OUTDIR/data"
TP_OUT="$OUTDIR/touchpath-out"
say "generating $USERS users (seed $SEED, $FORMAT) into $DATA"
"$TOUCHPATH" generate --users "$USERS" --seed "$SEED" --format "$FORMAT" --one-file --out "$DATA" >&2
EVENTS="$DATA/events.$FORMAT"
[[ -f "$EVENTS" ]] || die "touchpath generate wrote no $EVENTS"

say "running touchpath (lookback ${LOOKBACK_DAYS}d)"
TIME_LOG="$OUTDIR/touchpath-time.txt"
TIMING_JSON="$OUTDIR/touchpath-timing.json"
if [[ -x /usr/bin/time ]]; then
  /usr/bin/time -v -o "$TIME_LOG" \
    "$TOUCHPATH" run --events "$EVENTS" --out "$TP_OUT" --lookback "${LOOKBACK_DAYS}d" \
    >"$OUTDIR/touchpath-stdout.txt" 2>"$OUTDIR/touchpath-stderr.txt" \
    || { cat "$OUTDIR/touchpath-stderr.txt" >&2; die "touchpath run failed"; }
  # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23" and "Maximum resident set size (kbytes): 123"
  awk -v bin="$TOUCHPATH" '
    /Elapsed \(wall clock\) time/ {
      t = $NF; n = split(t, p, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + p[i]
      wall = s
    }
    /Maximum resident set size/ { rss = $NF }
    /User time \(seconds\)/ { user = $NF }
    /System time \(seconds\)/ { sys = $NF }
    END {
      printf "{\"binary\": \"%s\", \"wall_seconds\": %s, \"max_rss_kb\": %s, \"user_seconds\": %s, \"system_seconds\": %s}\n",
        bin, wall, rss, user, sys
    }' "$TIME_LOG" >"$TIMING_JSON"
  TIMING_ARGS=(--timing --touchpath-timing "$TIMING_JSON")
else
  say "warning: /usr/bin/time not found (apt-get install time); touchpath's run is not timed"
  "$TOUCHPATH" run --events "$EVENTS" --out "$TP_OUT" --lookback "${LOOKBACK_DAYS}d" \
    >"$OUTDIR/touchpath-stdout.txt" 2>"$OUTDIR/touchpath-stderr.txt" \
    || { cat "$OUTDIR/touchpath-stderr.txt" >&2; die "touchpath run failed"; }
  TIMING_ARGS=(--timing)
fi
tail -n 4 "$OUTDIR/touchpath-stderr.txt" >&2

# ---- 3. the comparison ----------------------------------------------------------------

REPORT="$OUTDIR/report.md"
set +e
"$VPY" "$HERE/compare_peers.py" --events "$EVENTS" --touchpath-out "$TP_OUT" --out "$REPORT" \
  --lookback-days "$LOOKBACK_DAYS" "${TIMING_ARGS[@]}"
rc=$?
set -e
if ((${#FAILED_PEERS[@]})); then
  say "WARNING: not installed: ${FAILED_PEERS[*]} (the report says so)"
fi
[[ -f "$REPORT" ]] && say "report: $REPORT"
exit "$rc"
