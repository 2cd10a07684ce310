#!/usr/bin/env bash
# Ingest benchmark (not part of CI): one large file shaped like many real
# exports (about 16 events per user, ISO-8601 text timestamps, seven text
# columns), read by the polars floor (scripts/floor.py: read user, time,
# channel and type, parse the time, sort by user and time) and by
# `touchpath run` (every model; the rule-based ones; every model with
# `incremental` fitted on a sample of users), in turn, REPEAT times each;
# then touchpath under a memory budget on that Parquet file and on a large
# CSV file. Wall time and peak RSS come from /usr/bin/time -v; the table
# replaces the part of docs/performance.md between its ingest markers.
#
#   scripts/bench-ingest.sh                          # 67 M rows, 10 GB CSV
#   USERS=1000000 CSV_USERS=0 REPEAT=1 scripts/bench-ingest.sh
#
# Environment: USERS (users of the Parquet file, 4 250 000: about 67 million
# rows), CSV_USERS (users of the CSV file, 9 100 000: about 10 GB; 0 for
# none), REPEAT (runs of the floor and of each in-memory run, 3), BUDGET
# (the budgeted runs' --memory-budget, 4GB), SAMPLE (the share of users
# `incremental` is fitted on in the last run of each turn, 0.25), WORK
# (data, outputs and the floor's venv, ~/.cache/touchpath/ingest), PYTHON
# (a Python with polars; default: a venv made in WORK), CARGO_TARGET_DIR,
# DOC.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpath/target}"
USERS="${USERS:-4250000}"
CSV_USERS="${CSV_USERS:-9100000}"
REPEAT="${REPEAT:-3}"
BUDGET="${BUDGET:-4GB}"
WORK="${WORK:-$HOME/.cache/touchpath/ingest}"
DOC="${DOC:-docs/performance.md}"
SCENARIO=datasets/scenarios/long_journeys.toml
RULES="last_click,first_click,last_non_direct,linear,time_decay,position_based"
SAMPLE="${SAMPLE:-0.25}"

cargo build --release --locked --bin touchpath
BIN="$CARGO_TARGET_DIR/release/touchpath"
mkdir -p "$WORK/results"
if [ -z "${PYTHON:-}" ]; then
  if [ ! -x "$WORK/venv/bin/python" ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet polars
  fi
  PYTHON="$WORK/venv/bin/python"
fi

# data NAME USERS FORMAT: generates WORK/NAME unless it holds that many users.
data() {
  local dir="$WORK/$1"
  if ! python3 -c "import json,sys; sys.exit(json.load(open('$dir/manifest.json'))['users'] != $2)" 2>/dev/null; then
    echo "== generating $2 users as $3 into $dir" >&2
    "$BIN" generate --users "$2" --seed 1 --scenario "$SCENARIO" --format "$3" --text-timestamps --one-file \
      --out "$dir" -q
  fi
}

# measure NAME COMMAND...: one run under /usr/bin/time -v, appended to
# WORK/results/NAME.runs as "seconds peak_kib"; its stderr in NAME.err.
measure() {
  local name=$1 base="$WORK/results/$1"
  shift
  echo "== $name: $*" >&2
  if /usr/bin/time -v -o "$base.time" "$@" >"$base.out" 2>"$base.err"; then
    python3 - "$base.time" >>"$base.runs" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
h, m, s = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text).groups()
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)
print(float(h or 0) * 3600 + float(m) * 60 + float(s), rss)
PY
  else
    echo "$name failed; see $base.err" >&2
    echo "failed 0" >>"$base.runs"
  fi
}

data parquet "$USERS" parquet
rm -f "$WORK"/results/*.runs
parquet="$WORK/parquet/events.parquet"
for ((run = 1; run <= REPEAT; run++)); do
  measure floor "$PYTHON" scripts/floor.py "$parquet"
  measure all "$BIN" run --events "$parquet" --out "$WORK/out-all" --log-format json --format csv
  measure rules "$BIN" run --events "$parquet" --out "$WORK/out-rules" --models "$RULES" --log-format json --format csv
  measure sampled "$BIN" run --events "$parquet" --out "$WORK/out-sampled" --incremental-sample "$SAMPLE" \
    --log-format json --format csv
done
measure budget-parquet "$BIN" run --events "$parquet" --out "$WORK/out-budget-parquet" --memory-budget "$BUDGET" \
  --log-format json --format csv
if [ "$CSV_USERS" != 0 ]; then
  data csv "$CSV_USERS" csv
  measure budget-csv "$BIN" run --events "$WORK/csv/events.csv" --out "$WORK/out-budget-csv" \
    --memory-budget "$BUDGET" --log-format json --format csv
fi

python3 - "$WORK" "$BUDGET" "$REPEAT" "$SAMPLE" <<'PY' | python3 scripts/doc_section.py "$DOC" ingest
import datetime, json, os, pathlib, platform, re, subprocess, sys

work, budget, repeat, sample = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def runs(name):
    path = work / "results" / f"{name}.runs"
    if not path.exists():
        return []
    return [None if seconds == "failed" else (float(seconds), int(kib) / 2**20)
            for seconds, kib in (line.split() for line in path.read_text().splitlines())]

def rows(name):
    summary = work / f"out-{name}" / "summary.json"
    return json.loads(summary.read_text())["rows"]["read"] if summary.exists() else None

def size(path):
    return path.stat().st_size / 2**30 if path.exists() else None

floor = runs("floor")
lines = []
for name, what in [("floor", "polars floor (`scripts/floor.py`)"), ("all", "`touchpath run`, every model"),
                   ("rules", "`touchpath run`, the six rule-based models"),
                   ("sampled", f"`touchpath run`, every model, `--incremental-sample {sample}`")]:
    measured = runs(name)
    ok = [run for run in measured if run]
    if not ok:
        continue
    fastest = min(ok)
    ratios = [run[0] / base[0] for run, base in zip(measured, floor) if run and base]
    events = rows("all") or rows("rules")
    every = ", ".join(f"{run[0]:.1f}" if run else "failed" for run in measured)
    ratio = f"{min(ratios):.2f}–{max(ratios):.2f}×" if ratios and name != "floor" else "–"
    speed = f"{events / fastest[0] / 1e6:.2f}" if events else "–"
    lines.append(f"| {what} | {fastest[0]:.1f} | {every} | {max(run[1] for run in ok):.2f} | {ratio} | {speed} |")
parquet, csv = work / "parquet" / "events.parquet", work / "csv" / "events.csv"
budgeted = []
for name, label in [("budget-parquet", "the Parquet file"), ("budget-csv", "the CSV file")]:
    for run in runs(name):
        events = rows(name)
        if run:
            budgeted.append(f"| {label}, `--memory-budget {budget}` | {run[0]:.1f} | {run[1]:.2f} "
                            f"| {events:,} | {events / run[0] / 1e6:.2f} |")
        else:
            budgeted.append(f"| {label}, `--memory-budget {budget}` | failed | | | |")

cpu = "unknown"
for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
memory = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1)) / 2**20
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
events = rows("all") or rows("rules")
table = "\n".join([
    f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
    f"{platform.release()}; touchpath {commit}, release build. Command: `scripts/bench-ingest.sh`.",
    "",
    f"One Parquet file of {events:,} rows ({size(parquet):.2f} GiB; `touchpath generate --scenario "
    "long_journeys --text-timestamps --one-file`), text timestamps, about 16 events per user; the floor "
    f"and each run in turn, {repeat} times. Ratios are touchpath's wall time over the floor's in the same "
    "round, the lowest and highest of the rounds; GiB is the highest peak RSS.",
    "",
    "| run | fastest s | every run, s | peak GiB | / floor | M events/s |",
    "|---|---:|---|---:|---:|---:|",
    *lines,
    "",
    "Under a memory budget (one run each"
    + (f"; the CSV file is {size(csv):.1f} GiB" if runs("budget-csv") and size(csv) else "") + "):",
    "",
    "| run | wall s | peak GiB | rows | M events/s |",
    "|---|---:|---:|---:|---:|",
    *budgeted,
])
print(table)
PY
