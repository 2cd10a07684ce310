#!/usr/bin/env bash
# Scale benchmark (not part of CI): generated Parquet logs of 1, 10 and 100
# million events, each run through `touchpath run` with the rule-based models
# and with every model, next to the floor (examples/floor.rs: read the same
# columns of the same files and sort them by user and time). Wall time and
# peak RSS come from /usr/bin/time -v; the table replaces the part of
# docs/performance.md between its scale markers.
#
#   scripts/bench-scale.sh                  # 1M, 10M and 100M events
#   SIZES="1 10" scripts/bench-scale.sh     # millions of events to run
#   BUDGET=4GB SIZES=300 RUNS=all FLOOR_MAX=100 scripts/bench-scale.sh
#
# Environment: SIZES ("1 10 100"; empty to only rewrite the table), RUNS (which runs, "rules all"),
# BUDGET (--memory-budget of the runs, "6GB";
# "none" for none), WORK (data and outputs, ~/.cache/touchpath/scale),
# CARGO_TARGET_DIR (~/.cache/touchpath/target), DOC (docs/performance.md),
# FLOOR_MAX (largest size in millions the floor is run on, 100: the floor
# holds the whole sorted table in memory), REPEAT (runs of each command, 1;
# the table shows the fastest, and lists every run's wall time).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpath/target}"
SIZES="${SIZES-1 10 100}"
RUNS="${RUNS:-rules all}"
BUDGET="${BUDGET:-6GB}"
WORK="${WORK:-$HOME/.cache/touchpath/scale}"
DOC="${DOC:-docs/performance.md}"
FLOOR_MAX="${FLOOR_MAX:-100}"
REPEAT="${REPEAT:-1}"
RULES="last_click,first_click,last_non_direct,linear,time_decay,position_based"
# The generator writes about 5.5 events per user.
EVENTS_PER_USER=5.5

cargo build --release --locked --bin touchpath --example floor
BIN="$CARGO_TARGET_DIR/release/touchpath"
FLOOR="$CARGO_TARGET_DIR/release/examples/floor"
mkdir -p "$WORK/results"
budget_flag=()
if [ "$BUDGET" != "none" ]; then budget_flag=(--memory-budget "$BUDGET"); fi

# wall TIMEFILE: the wall time in seconds that /usr/bin/time -v recorded.
wall() {
  python3 -c 'import re, sys
h, m, s = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", open(sys.argv[1]).read()).groups()
print(float(h or 0) * 3600 + float(m) * 60 + float(s))' "$1"
}

# measure NAME COMMAND...: runs it REPEAT times under /usr/bin/time -v and
# keeps the fastest run's files in WORK/results (NAME.time, .out, .err); every
# run's wall time goes to NAME.runs.
measure() {
  local name=$1 base="$WORK/results/$1" best="" seconds run
  shift
  rm -f "$base.runs" "$base.failed"
  for ((run = 1; run <= REPEAT; run++)); do
    echo "== $name ($run/$REPEAT): $*" >&2
    if ! /usr/bin/time -v -o "$base.try.time" "$@" >"$base.try.out" 2>"$base.try.err"; then
      for part in time out err; do mv "$base.try.$part" "$base.$part"; done
      echo "$name failed; see $base.err" >&2
      echo failed >"$base.failed"
      return
    fi
    seconds=$(wall "$base.try.time")
    echo "$seconds" >>"$base.runs"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(not $seconds < $best)"; then
      best=$seconds
      for part in time out err; do mv "$base.try.$part" "$base.$part"; done
    fi
  done
  rm -f "$base.try.time" "$base.try.out" "$base.try.err"
}

for size in $SIZES; do
  users=$(python3 -c "print(round($size * 1e6 / $EVENTS_PER_USER))")
  data="$WORK/data-$size"
  if ! python3 -c "import json,sys; sys.exit(json.load(open('$data/manifest.json'))['users'] != $users)" 2>/dev/null; then
    echo "== generating $users users into $data" >&2
    "$BIN" generate --users "$users" --seed 1 --format parquet --out "$data" >/dev/null
  fi
  if [ -d "$data/events" ]; then events="$data/events"; else events="$data/events.parquet"; fi
  mapfile -t files < <(find "$events" -name '*.parquet' | sort)
  if python3 -c "import sys; sys.exit(not $size <= $FLOOR_MAX)"; then
    measure "floor-$size" "$FLOOR" "${files[@]}"
  fi
  echo "$BUDGET" >"$WORK/results/budget-$size"
  if [[ " $RUNS " == *" rules "* ]]; then
    measure "rules-$size" "$BIN" run --events "$events" --out "$WORK/out-rules-$size" --models "$RULES" \
      "${budget_flag[@]}" --log-format json --format csv
  fi
  if [[ " $RUNS " == *" all "* ]]; then
    measure "all-$size" "$BIN" run --events "$events" --out "$WORK/out-all-$size" \
      "${budget_flag[@]}" --log-format json --format csv
  fi
done

python3 - "$WORK" "$BUDGET" <<'PY' | python3 scripts/doc_section.py "$DOC" scale
import json, os, pathlib, platform, re, subprocess, sys, datetime

work, budget = pathlib.Path(sys.argv[1]), sys.argv[2]
# Every size measured so far in WORK, not only this time's.
sizes = sorted({path.stem.split("-", 1)[1] for path in (work / "results").glob("*.time")}, key=float)

def timing(name):
    path = work / "results" / f"{name}.time"
    if not path.exists() or (work / "results" / f"{name}.failed").exists():
        return None
    text = path.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    hours, minutes, seconds = (float(part) if part else 0.0 for part in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"seconds": hours * 3600 + minutes * 60 + seconds, "rss_gb": rss / 2**20}

def events(size):
    for kind in ("all", "rules"):
        summary = work / f"out-{kind}-{size}" / "summary.json"
        if summary.exists():
            return json.loads(summary.read_text())["rows"]["read"]
    return None

def killed(name):
    """The peak RSS of a run the kernel killed for want of memory, if it was."""
    path = work / "results" / f"{name}.time"
    if not path.exists() or "terminated by signal 9" not in path.read_text():
        return None
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", path.read_text()).group(1))
    return rss / 2**20

def cell(value, fmt):
    return "–" if value is None else fmt.format(value)

def runs(name):
    path = work / "results" / f"{name}.runs"
    return [float(line) for line in path.read_text().split()] if path.exists() else []

rows, speeds, spread = [], {}, []
for size in sizes:
    count, floor = events(size), timing(f"floor-{size}")
    budget_file = work / "results" / f"budget-{size}"
    line = [cell(count, "{:,}"), budget_file.read_text().strip() if budget_file.exists() else "–"]
    oom = killed(f"floor-{size}")
    if oom is not None:
        line += ["out of memory", f"> {oom:.1f}"]
    else:
        line += [cell(floor and floor["seconds"], "{:.1f}"), cell(floor and floor["rss_gb"], "{:.2f}")]
    for kind in ("floor", "rules", "all"):
        times = runs(f"{kind}-{size}")
        if len(times) > 1:
            spread.append(f"{kind} {float(size):g} M: " + ", ".join(f"{time:.1f}" for time in times))
    for kind in ("rules", "all"):
        run = timing(f"{kind}-{size}")
        ratio = run and floor and run["seconds"] / floor["seconds"]
        speed = run and count and count / run["seconds"]
        speeds[(kind, size)] = speed
        line += [cell(run and run["seconds"], "{:.1f}"), cell(ratio, "{:.2f}×"), cell(run and run["rss_gb"], "{:.2f}"),
                 cell(speed and speed / 1e6, "{:.2f}")]
    rows.append("| " + " | ".join(line) + " |")

cpu = "unknown"
for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
memory = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1)) / 1024 / 1024
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
table = "\n".join([
    f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
    f"{platform.release()}; touchpath {commit}, release build. `budget` is the runs' `--memory-budget`.",
    "",
    "Command: `scripts/bench-scale.sh`; each row is the latest measurement of its size, the fastest of "
    "its runs when there were several (`REPEAT`).",
    "",
    "| events | budget | floor s | floor GiB | rules s | rules / floor | rules GiB | rules M events/s "
    "| all s | all / floor | all GiB | all M events/s |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    *rows,
    *(["", "Every run's wall time, in seconds: " + "; ".join(spread) + "."] if spread else []),
])
print(table)
PY
