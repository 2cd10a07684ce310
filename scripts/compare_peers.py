#!/usr/bin/env python3
"""Compare touchpath's attribution with two Python peers on the same journeys.

The peers are

* ChannelAttribution (PyPI ``ChannelAttribution``, C++ core): ``heuristic_models``
  (first touch, last touch, linear) and ``markov_model`` (simulated removal
  effects);
* MAM (PyPI ``marketing-attribution-models``, polars based, module ``mam``):
  last click, first click, linear, Markov (exact removal effects) and Shapley.

The script reads a touchpoint log written by ``touchpath generate`` (clean, CSV
or Parquet), rebuilds the journeys exactly as docs/journeys.md describes, feeds
the distinct paths to each peer, reads the ``channels.csv`` of a
``touchpath run`` over the same log and writes a Markdown report comparing
credited conversions per channel and model family.

Each peer runs in its own Python subprocess (this file, re-invoked with the
hidden ``--worker`` option), so a peer that is missing or crashes does not stop
the other, and each one's wall time and peak RSS are measured on their own.

This is a developer tool, not part of CI: see scripts/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

SEP = " > "  # path separator given to both peers (ChannelAttribution splits on ">" and trims)
NONE_CHANNEL = "(none)"  # touchpath's channel for conversions without touches

# Model families compared, and touchpath's model name for each.
FAMILIES = [
    ("first_click", "First click / first touch"),
    ("last_click", "Last click / last touch"),
    ("linear", "Linear"),
    ("markov", "Markov (first order, removal effects)"),
    ("shapley", "Shapley"),
]

WORKERS = ("journeys", "channelattribution", "mam")
PEER_LABEL = {"channelattribution": "ChannelAttribution", "mam": "MAM"}


class UsageError(Exception):
    """A problem with the inputs that the user can fix; printed without a traceback."""


# --------------------------------------------------------------------------------------
# Journeys, built with polars exactly as touchpath builds them (docs/journeys.md)
# --------------------------------------------------------------------------------------

EVENT_TYPES = ("impression", "click", "visit", "conversion")
LOG_COLUMNS = ("user_id", "timestamp", "channel", "campaign", "stage", "event_type", "revenue")


def read_events(path: Path):
    """Read a clean touchpoint log (CSV or Parquet) into a normalised polars frame.

    Output columns: user_id (str), ts (i64 microseconds UTC), is_conv (bool),
    channel, campaign, stage, event_type (str), revenue (f64, 0 on touches).
    """
    import polars as pl

    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Everything as strings: the log's own values, parsed below like touchpath does.
        df = pl.read_csv(path, infer_schema=False)
    elif suffix in (".parquet", ".pq"):
        df = pl.read_parquet(path)
    else:
        raise UsageError(f"{path}: expected a .csv, .parquet or .pq file")

    # Column names: exact, else case/space-insensitive (as in docs/data-format.md).
    rename = {}
    for want in LOG_COLUMNS:
        if want in df.columns:
            continue
        hits = [c for c in df.columns if c.strip().lower() == want]
        if len(hits) == 1:
            rename[hits[0]] = want
    df = df.rename(rename)
    missing = [c for c in ("user_id", "timestamp", "channel") if c not in df.columns]
    if missing:
        raise UsageError(f"{path}: missing required column(s) {', '.join(missing)}; found {df.columns}")
    for opt in ("campaign", "stage", "event_type", "revenue"):
        if opt not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(opt))

    ts = pl.col("timestamp")
    dtype = df.schema["timestamp"]
    if dtype == pl.String:
        ts = ts.str.strip_chars().str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    elif isinstance(dtype, pl.Datetime):
        ts = ts.dt.replace_time_zone("UTC") if dtype.time_zone is None else ts.dt.convert_time_zone("UTC")
        ts = ts.dt.cast_time_unit("us")
    else:
        raise UsageError(f"{path}: timestamp column has type {dtype}; expected RFC 3339 strings or a Datetime")

    event_type = pl.col("event_type").cast(pl.String).str.strip_chars().str.to_lowercase()
    event_type = pl.when(event_type.is_null() | (event_type == "")).then(pl.lit("visit")).otherwise(event_type)

    df = df.select(
        pl.col("user_id").cast(pl.String).str.strip_chars().alias("user_id"),
        ts.dt.epoch("us").alias("ts"),
        # Channel normalisation: trim, lower-case, runs of spaces/hyphens/underscores -> "_".
        pl.col("channel").cast(pl.String).str.strip_chars().str.to_lowercase()
        .str.replace_all(r"[\s_-]+", "_").fill_null("").alias("channel"),
        pl.col("campaign").cast(pl.String).str.strip_chars().fill_null("").alias("campaign"),
        pl.col("stage").cast(pl.String).str.strip_chars().str.to_lowercase().fill_null("").alias("stage"),
        event_type.alias("event_type"),
        pl.col("revenue").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False).alias("revenue"),
        pl.col("revenue").is_not_null().alias("_has_rev"),
    )

    # This script is for clean logs: refuse (with counts) what a dirty log carries.
    problems = df.select(
        (pl.col("user_id").is_null() | (pl.col("user_id") == "")).sum().alias("missing user_id"),
        pl.col("ts").is_null().sum().alias("unparsable timestamp"),
        (~pl.col("event_type").is_in(EVENT_TYPES)).sum().alias("unknown event_type"),
        ((pl.col("event_type") != "conversion") & (pl.col("channel") == "")).sum().alias("touch without channel"),
        ((pl.col("event_type") == "conversion") & pl.col("_has_rev") & pl.col("revenue").is_null())
        .sum().alias("unparsable revenue"),
        ((pl.col("event_type") == "conversion") & (pl.col("revenue") < 0)).sum().alias("negative revenue"),
    ).row(0, named=True)
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        detail = ", ".join(f"{k}: {v}" for k, v in bad.items())
        raise UsageError(
            f"{path}: this comparison needs a clean log (touchpath generate without --dirty); found {detail}"
        )

    is_conv = pl.col("event_type") == "conversion"
    return df.drop("_has_rev").with_columns(
        is_conv.alias("is_conv"),
        pl.when(is_conv).then(pl.col("revenue").fill_null(0.0)).otherwise(0.0).alias("revenue"),
    )


def build_journeys(events, lookback_us: int | None):
    """Split each user's ordered events into journeys (docs/journeys.md).

    Returns (journeys, stats): one row per journey with user_id, converted,
    revenue, channels (list[str] in path order) and n (path length); stats
    mirror the journey fields of touchpath's summary.json.
    """
    import polars as pl

    # Order: instant; touches before conversions; channel; campaign; then the
    # remaining columns so the order is total. Strings sort in byte order.
    ev = events.sort(
        ["user_id", "ts", "is_conv", "channel", "campaign", "event_type", "stage", "revenue"]
    ).with_row_index("ord")
    conv_i = pl.col("is_conv").cast(pl.Int64)
    # Journey index: conversions strictly before this row, per user. A conversion
    # closes journey k = number of earlier conversions; touches after the last
    # conversion have k = the user's conversion count (the non-converting journey).
    ev = ev.with_columns((conv_i.cum_sum().over("user_id") - conv_i).alias("j"))

    conversions = ev.filter(pl.col("is_conv")).select(
        "user_id", "j", pl.col("ts").alias("conv_ts"), "revenue", pl.col("ord").alias("conv_ord")
    )
    touches = ev.filter(~pl.col("is_conv")).select("user_id", "j", "ts", "channel", "ord")
    touches = touches.join(conversions.select("user_id", "j", "conv_ts"), on=["user_id", "j"], how="left")
    if lookback_us is None:
        in_window = pl.lit(True)
    else:
        in_window = pl.col("conv_ts").is_null() | ((pl.col("conv_ts") - pl.col("ts")) <= lookback_us)
    touches = touches.with_columns(in_window.alias("in_window"))
    outside = touches.filter(~pl.col("in_window")).height

    paths = (
        touches.filter(pl.col("in_window"))
        .group_by(["user_id", "j"])
        .agg(pl.col("channel").sort_by("ord").alias("channels"), pl.len().cast(pl.Int64).alias("n"),
             pl.col("ord").min().alias("first_ord"))
    )
    converting = conversions.join(paths, on=["user_id", "j"], how="left").select(
        "user_id", "j", pl.lit(True).alias("converted"), "revenue",
        pl.col("channels").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("n").fill_null(0), pl.col("conv_ord").alias("sort_ord"),
    )
    non_converting = paths.join(conversions.select("user_id", "j"), on=["user_id", "j"], how="anti").select(
        "user_id", "j", pl.lit(False).alias("converted"), pl.lit(0.0).alias("revenue"),
        "channels", "n", pl.col("first_ord").alias("sort_ord"),
    )
    journeys = pl.concat([converting, non_converting]).sort("sort_ord").drop("sort_ord")

    conv_lengths = converting.get_column("n").sort()
    nconv = converting.height

    def nearest_rank(p: float) -> int:
        if nconv == 0:
            return 0
        return int(conv_lengths[max(0, math.ceil(p / 100 * nconv) - 1)])

    stats = {
        "users": events.get_column("user_id").n_unique(),
        "touches": touches.height,
        "touches_outside_window": outside,
        "conversions_total": nconv,
        "conversions_first": converting.filter(pl.col("j") == 0).height,
        "conversions_repeat": converting.filter(pl.col("j") > 0).height,
        "conversions_without_touches": converting.filter(pl.col("n") == 0).height,
        "revenue": round(float(conversions.get_column("revenue").sum()), 2),
        "journeys_converting": nconv,
        "journeys_non_converting": non_converting.height,
        "path_length_mean": round(float(conv_lengths.mean()), 4) if nconv else 0.0,
        "path_length_p50": nearest_rank(50),
        "path_length_p90": nearest_rank(90),
        "path_length_max": int(conv_lengths.max()) if nconv else 0,
    }
    return journeys, stats


def aggregate_paths(journeys):
    """Distinct non-empty paths with total conversions, conversion value and nulls.

    The input ChannelAttribution expects (``a > b > c`` strings); MAM's
    "grouped_journey" input is derived from it.
    """
    import polars as pl

    return (
        journeys.filter(pl.col("n") > 0)
        .with_columns(pl.col("channels").list.join(SEP).alias("path"))
        .group_by("path")
        .agg(
            pl.col("converted").cast(pl.Int64).sum().alias("total_conversions"),
            pl.col("revenue").sum().alias("total_conversion_value"),
            (~pl.col("converted")).cast(pl.Int64).sum().alias("total_null"),
        )
        .sort("path")
    )


# --------------------------------------------------------------------------------------
# The peers
# --------------------------------------------------------------------------------------


def _signature(fn) -> str:
    import inspect

    try:
        return f"{getattr(fn, '__qualname__', fn.__name__)}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        doc = (fn.__doc__ or "").strip().splitlines()
        return doc[0] if doc else fn.__name__


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def run_channelattribution(paths, opts, timer) -> dict:
    import contextlib
    import io

    # The package prints a banner on import and on every call unless flg_pro=False.
    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca
    timer.mark("import peer")

    pdf = paths.to_pandas()
    timer.mark("to pandas")
    seed = opts["ca_seed"]
    out: dict = {
        "version": _version("ChannelAttribution"),
        "signatures": [_signature(ca.heuristic_models), _signature(ca.markov_model)],
        "models": {},
        "notes": [],
    }

    with contextlib.redirect_stdout(io.StringIO()):
        h = ca.heuristic_models(pdf, "path", "total_conversions", var_value="total_conversion_value",
                                sep=">", flg_pro=False)
    timer.mark("heuristic_models")
    for fam, col in (("first_click", "first_touch"), ("last_click", "last_touch"), ("linear", "linear_touch")):
        out["models"][fam] = {
            "conversions": dict(zip(h["channel_name"], map(float, h[f"{col}_conversions"]))),
            "revenue": dict(zip(h["channel_name"], map(float, h[f"{col}_value"]))),
        }

    def markov(seed_value: int, **extra):
        with contextlib.redirect_stdout(io.StringIO()):
            return ca.markov_model(pdf, "path", "total_conversions", var_value="total_conversion_value",
                                   var_null="total_null", order=1, out_more=True, sep=">", seed=seed_value,
                                   verbose=False, flg_pro=False, **extra)

    res = markov(seed)
    timer.mark("markov_model")
    result, re_df = res["result"], res["removal_effects"]
    out["models"]["markov"] = {
        "conversions": dict(zip(result["channel_name"], map(float, result["total_conversions"]))),
        "revenue": dict(zip(result["channel_name"], map(float, result["total_conversion_value"]))),
        "removal_effects": dict(zip(re_df["channel_name"], map(float, re_df["removal_effects_conversion"]))),
        "removal_effects_value": dict(
            zip(re_df["channel_name"], map(float, re_df["removal_effects_conversion_value"]))),
        "seed": seed,
    }
    out["notes"].append("no Shapley model in the free ChannelAttribution package")

    # Run-to-run noise of the simulation: the same chain with other seeds, and once
    # with ten times the default number of simulations (timed apart: "noise check").
    extra = {}
    for s in opts["ca_noise_seeds"]:
        r = markov(s)["result"]
        extra[str(s)] = dict(zip(r["channel_name"], map(float, r["total_conversions"])))
    out["markov_other_seeds"] = extra
    if opts["ca_noise_seeds"]:
        r = markov(seed, nsim_start=1e6)["result"]
        out["markov_1e6"] = dict(zip(r["channel_name"], map(float, r["total_conversions"])))
        timer.mark(f"noise check ({len(extra)} seeds + nsim_start=1e6)")
    return out


def run_mam(paths, opts, timer) -> dict:
    import polars as pl

    import mam
    from mam import MAM
    timer.mark("import peer")

    # MAM's "grouped_journey" format: one row per (path, outcome) with its number of
    # occurrences. Without conversion_value_colname a converting row is worth 1 per
    # occurrence, so MAM's "attribution" is then credited conversions.
    grouped = pl.concat([
        paths.filter(pl.col("total_conversions") > 0).select(
            "path", pl.lit(True).alias("has_conversion"), pl.col("total_conversions").alias("occurrences")),
        paths.filter(pl.col("total_null") > 0).select(
            "path", pl.lit(False).alias("has_conversion"), pl.col("total_null").alias("occurrences")),
    ])
    model = MAM(grouped, format_type="grouped_journey", channels_colname="path",
                journey_with_conv_colname="has_conversion", occurrences_colname="occurrences",
                path_separator=SEP, verbose=False)
    timer.mark("MAM(...) preprocess")

    out: dict = {
        "version": _version("marketing-attribution-models"),
        "signatures": [_signature(MAM.__init__).replace("__init__", "MAM"), _signature(MAM.run_first_click),
                       _signature(MAM.run_markov), _signature(MAM.run_shapley)],
        "module_file": mam.__file__,
        "models": {},
        "notes": [],
    }

    def credited(result) -> dict:
        df = result.to_polars()
        return {str(c): float(v) for c, v in zip(df["channels"].cast(pl.String), df["attribution"])}

    for fam, run in (("first_click", model.run_first_click), ("last_click", model.run_last_click),
                     ("linear", model.run_linear)):
        out["models"][fam] = {"conversions": credited(run())}
    timer.mark("heuristics (3 models)")

    mk = model.run_markov(transition_to_same_state=False)
    re_df = mk.metadata["removal_effect"]
    removal = {str(c): float(v) for c, v in zip(re_df.index, re_df["removal_effect"])}
    out["models"]["markov"] = {"conversions": credited(mk), "removal_effects": removal}
    timer.mark("run_markov")

    if opts["mam_shapley"]:
        sh = model.run_shapley(max_size=None)
        out["models"]["shapley"] = {"conversions": credited(sh)}
        timer.mark("run_shapley(max_size=None)")
        out["shapley_clamped"], out["shapley_negatives"] = _clamp_shapley(sh)
        out["shapley_default_max_size"] = credited(model.run_shapley())
        timer.mark("run_shapley() default max_size=4")
    return out


def _clamp_shapley(result) -> tuple[dict, dict]:
    """MAM's exact Shapley credit with touchpath's rule for negative values.

    MAM's conv_table holds, per converting channel set, each channel's Shapley
    value scaled to the set's conversions; negative values are kept. touchpath
    sets them to 0 and renormalises (equal shares when none is positive).
    Returns the clamped channel totals and, per channel, the negative credit
    MAM kept (summed over channel sets).
    """
    table = result.metadata["conv_table"]
    name = next(c for c in table.columns if c.startswith("attribution_shapley"))
    sep = SEP
    clamped: dict[str, float] = {}
    negatives: dict[str, float] = {}
    for comb, weights, conv in zip(table["combinations"], table[name], table["conversions"]):
        chans = comb.split(sep)
        pos = [max(0.0, w) for w in weights]
        total = sum(pos)
        shares = [w / total for w in pos] if total > 0 else [1 / len(chans)] * len(chans)
        for c, w, sh in zip(chans, weights, shares):
            clamped[c] = clamped.get(c, 0.0) + sh * conv
            if w < 0:
                negatives[c] = negatives.get(c, 0.0) + w
    return clamped, negatives


# --------------------------------------------------------------------------------------
# Worker: one subprocess per peer
# --------------------------------------------------------------------------------------


class Timer:
    def __init__(self):
        self.t0 = self.last = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def mark(self, name: str):
        now = time.perf_counter()
        self.phases.append((name, now - self.last))
        self.last = now


def worker_main(args) -> int:
    import resource

    result: dict = {"worker": args.worker, "ok": False}
    timer = Timer()
    try:
        try:
            import polars as pl
        except ImportError as e:
            raise UsageError(f"polars is not installed in this Python ({sys.executable}): {e}") from e
        result["polars_version"] = pl.__version__
        timer.mark("import polars")
        events = read_events(Path(args.events))
        timer.mark("read log")
        lookback_us = None if args.lookback_days is None else round(args.lookback_days * 86400 * 1_000_000)
        journeys, stats = build_journeys(events, lookback_us)
        timer.mark("build journeys")
        paths = aggregate_paths(journeys)
        timer.mark("aggregate paths")
        result["journeys"] = stats
        result["distinct_paths"] = paths.height
        del events, journeys
        opts = {
            "ca_seed": args.ca_seed,
            "ca_noise_seeds": [int(s) for s in args.ca_noise_seeds.split(",") if s.strip()],
            "mam_shapley": not args.no_mam_shapley,
        }
        if args.worker == "channelattribution":
            result.update(run_channelattribution(paths, opts, timer))
        elif args.worker == "mam":
            result.update(run_mam(paths, opts, timer))
        result["ok"] = True
    except ImportError as e:
        result["error"] = f"not installed or not importable: {e}"
    except UsageError as e:
        result["error"] = str(e)
    except Exception as e:  # noqa: BLE001 - report any failure of a peer, keep the other
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    result["phases"] = timer.phases
    result["cpu_seconds"] = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    Path(args.result).write_text(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


def run_worker(name: str, args, workdir: Path) -> dict:
    """Run one worker in a fresh interpreter; return its result (with wall time)."""
    res_file = workdir / f"{name}.json"
    log_file = workdir / f"{name}.log"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--result", str(res_file),
           "--events", args.events, "--ca-seed", str(args.ca_seed), "--ca-noise-seeds", args.ca_noise_seeds]
    cmd += ["--lookback-days", "none" if args.lookback_days is None else repr(args.lookback_days)]
    if args.no_mam_shapley:
        cmd.append("--no-mam-shapley")
    print(f"[compare_peers] running {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(log_file, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=args.worker_timeout)
    wall = time.perf_counter() - t0
    if res_file.exists():
        result = json.loads(res_file.read_text())
    else:
        tail = log_file.read_text()[-2000:]
        result = {"worker": name, "ok": False, "error": f"worker exited with code {proc.returncode}: {tail}"}
    result["wall_seconds"] = wall
    if not result["ok"]:
        print(f"[compare_peers] {name} FAILED: {result['error']} (log: {log_file})", file=sys.stderr)
        if result.get("traceback"):
            print(result["traceback"], file=sys.stderr)
    else:
        print(f"[compare_peers] {name} done in {wall:.2f} s", file=sys.stderr)
    return result


# --------------------------------------------------------------------------------------
# touchpath's side
# --------------------------------------------------------------------------------------


def read_touchpath(out_dir: Path) -> dict:
    channels_csv = out_dir / "channels.csv"
    if not channels_csv.is_file():
        raise UsageError(f"{channels_csv} not found: run `touchpath run --events LOG --out {out_dir}` first")
    models: dict[str, dict] = {}
    with channels_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"model", "channel", "conversions", "revenue"}
        if not need <= set(reader.fieldnames or ()):
            raise UsageError(f"{channels_csv}: expected columns {sorted(need)}, found {reader.fieldnames}")
        for row in reader:
            m = models.setdefault(row["model"], {"conversions": {}, "revenue": {}})
            m["conversions"][row["channel"]] = float(row["conversions"] or 0)
            m["revenue"][row["channel"]] = float(row["revenue"] or 0)
    tp = {"models": models, "summary": None, "removal_effects": None}
    summary = out_dir / "summary.json"
    if summary.is_file():
        tp["summary"] = json.loads(summary.read_text())
    re_csv = out_dir / "removal_effects.csv"
    if re_csv.is_file():
        with re_csv.open(newline="") as f:
            tp["removal_effects"] = {r["channel"]: float(r["removal_effect"]) for r in csv.DictReader(f)}
    return tp


def parse_duration_days(text: str) -> float | None:
    """touchpath's lookback syntax (30d, 12h, 2w, 1d12h, none) in days."""
    if text in (None, "none"):
        return None
    units = {"w": 7.0, "d": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)([wdhms])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return float("nan")
    return sum(float(n) * units[u] for n, u in parts)


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def fmt(x, nd=1) -> str:
    return "—" if x is None else f"{x:,.{nd}f}"


def channel_order(*maps) -> list[str]:
    names = set()
    for m in maps:
        if m:
            names |= set(m)
    return sorted(names - {NONE_CHANNEL}) + ([NONE_CHANNEL] if NONE_CHANNEL in names else [])


def family_table(lines, tp_conv, peers: list[tuple[str, dict | None, str | None]], total: float):
    """peers: (label, {channel: conversions} or None, reason when None). Returns {label: max |diff| %}."""
    maxdiff = {}
    header = ["channel", "touchpath"]
    for label, data, _ in peers:
        header += [label, f"Δ {label} (pp)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for ch in channel_order(tp_conv, *[d for _, d, _ in peers]):
        tpv = tp_conv.get(ch) if tp_conv is not None else None
        row = [f"`{ch}`", fmt(tpv)]
        for label, data, _ in peers:
            v = None if data is None else data.get(ch, 0.0 if ch != NONE_CHANNEL else None)
            row.append(fmt(v))
            if v is not None and tpv is not None and total:
                d = (v - tpv) / total * 100
                maxdiff[label] = max(maxdiff.get(label, 0.0), abs(d))
                row.append(f"{d:+.2f}")
            else:
                row.append("")
        lines.append("| " + " | ".join(row) + " |")
    tot = ["**total**", fmt(sum(tp_conv.values())) if tp_conv else "—"]
    for _, data, _ in peers:
        tot += [fmt(sum(data.values())) if data else "—", ""]
    lines.append("| " + " | ".join(tot) + " |")
    lines.append("")
    for label, data, why in peers:
        if data is None:
            lines.append(f"- {label}: {why}")
        elif tp_conv is not None:
            lines.append(f"- max |Δ| touchpath vs {label}: **{maxdiff.get(label, 0.0):.3f} %** of conversions")
    lines.append("")
    return maxdiff


def render_report(args, tp, results, timing_tp) -> str:
    jr = results["journeys"]
    ca = results["channelattribution"]
    mm = results["mam"]
    summary = tp["summary"] or {}
    tp_total = float(summary.get("conversions", {}).get("total") or 0) or None
    stats = next((r["journeys"] for r in (jr, ca, mm) if r.get("journeys")), None)
    if tp_total is None and "last_click" in tp["models"]:
        tp_total = sum(tp["models"]["last_click"]["conversions"].values())

    L: list[str] = []
    L += ["# touchpath vs. ChannelAttribution and MAM", ""]
    L.append(f"- log: `{args.events}`; touchpath output: `{args.touchpath_out}`; "
             f"lookback: {'none' if args.lookback_days is None else f'{args.lookback_days:g} days'}")
    tp_lb = (summary.get("config") or {}).get("lookback")
    if tp_lb is not None:
        tp_days = parse_duration_days(tp_lb)
        same = (tp_days is None and args.lookback_days is None) or (
            tp_days is not None and args.lookback_days is not None and abs(tp_days - args.lookback_days) < 1e-6)
        L.append(f"- touchpath's run used `--lookback {tp_lb}`" + ("" if same else
                 " — **differs from this script's lookback: the comparison is not like for like**"))
        if (summary.get("config") or {}).get("path_transform", "none") != "none":
            L.append("- **touchpath ran with a path transform; the peers see untransformed paths**")
    for r in (ca, mm):
        if r.get("ok"):
            L.append(f"- {PEER_LABEL[r['worker']]} {r['version']} (polars {r.get('polars_version')})")
        else:
            L.append(f"- **{PEER_LABEL[r['worker']]} did not run**: {r.get('error')}")
    L.append("")

    # ---- journeys
    L += ["## Journeys", ""]
    if stats is None:
        L += ["Journeys could not be built: " + (jr.get("error") or "unknown error"), ""]
    else:
        L.append("Built by this script with polars (docs/journeys.md) and, for reference, from touchpath's "
                 "summary.json. Every row should match.")
        L.append("")
        L.append("| | this script | touchpath |")
        L.append("|---|---:|---:|")
        tp_vals = {
            "users": summary.get("users"),
            "touches": summary.get("touches"),
            "touches_outside_window": summary.get("touches_outside_window"),
            "conversions_total": summary.get("conversions", {}).get("total"),
            "conversions_first": summary.get("conversions", {}).get("first"),
            "conversions_repeat": summary.get("conversions", {}).get("repeat"),
            "conversions_without_touches": summary.get("conversions", {}).get("without_touches"),
            "revenue": summary.get("revenue"),
            "journeys_converting": summary.get("journeys", {}).get("converting"),
            "journeys_non_converting": summary.get("journeys", {}).get("non_converting"),
            "path_length_mean": summary.get("path_length", {}).get("mean"),
            "path_length_p50": summary.get("path_length", {}).get("p50"),
            "path_length_p90": summary.get("path_length", {}).get("p90"),
            "path_length_max": summary.get("path_length", {}).get("max"),
        }
        mismatches = []
        for k, v in stats.items():
            t = tp_vals.get(k)
            flag = ""
            if t is not None and abs(float(t) - float(v)) > 1e-6 * max(1.0, abs(float(v))):
                flag = " ≠"
                mismatches.append(k)
            L.append(f"| {k.replace('_', ' ')} | {v}{flag} | {'—' if t is None else t} |")
        L.append("")
        dp = next((r.get("distinct_paths") for r in (jr, ca, mm) if r.get("distinct_paths")), None)
        L.append(f"Distinct non-empty paths given to the peers: {dp}. "
                 f"Conversions with an empty path (excluded from the peers, credited to `{NONE_CHANNEL}` "
                 f"by touchpath): {stats['conversions_without_touches']}.")
        if mismatches:
            L.append("")
            L.append(f"**Mismatch with touchpath's summary in: {', '.join(mismatches)}** — the peers do not see "
                     "the same journeys (or touchpath ran on a different log or with other settings).")
        L.append("")

    # ---- per family
    overview: dict[str, dict[str, float]] = {}
    peer_data = {}
    for fam, title in FAMILIES:
        tp_model = tp["models"].get(fam)
        L += [f"## {title} (`{fam}`)", ""]
        tp_conv = tp_model["conversions"] if tp_model else None
        if tp_conv is None:
            L += [f"touchpath: **not in this touchpath output** (no `{fam}` rows in channels.csv).", ""]
        peers = []
        for r in (ca, mm):
            label = PEER_LABEL[r["worker"]]
            if not r.get("ok"):
                peers.append((label, None, f"did not run: {r.get('error')}"))
                continue
            m = r["models"].get(fam)
            if m is None:
                why = "; ".join(r.get("notes", [])) or f"no {fam} model"
                peers.append((label, None, why if fam == "shapley" else f"no {fam} model"))
            else:
                peers.append((label, m["conversions"], None))
        if fam == "markov" and mm.get("ok") and mm["models"].get("markov"):
            re_m = mm["models"]["markov"]["removal_effects"]
            conv_channels = {c for c, v in mm["models"]["markov"]["conversions"].items()}
            s = sum(v for c, v in re_m.items() if c in conv_channels)
            n = sum(mm["models"]["markov"]["conversions"].values())
            peers.append(("MAM RE-share", {c: re_m[c] / s * n for c in re_m if c in conv_channels} if s else None,
                          "removal effects all zero"))
        if fam == "shapley" and mm.get("ok") and mm.get("shapley_clamped"):
            peers.append(("MAM clamped", mm["shapley_clamped"], None))
        if fam == "shapley" and mm.get("ok") and mm.get("shapley_default_max_size"):
            peers.append(("MAM max_size=4", mm["shapley_default_max_size"], None))
        md = family_table(L, tp_conv, peers, tp_total or 0)
        overview[fam] = md if tp_conv else {}
        peer_data[fam] = peers

        if fam == "markov":
            L += _markov_notes(tp, ca, mm)
        if fam == "shapley" and mm.get("ok") and "shapley" in mm["models"]:
            neg = mm.get("shapley_negatives") or {}
            L.append("- `MAM` is `run_shapley(max_size=None)`: the exact Shapley value of the conversion-rate "
                     "game on each converting journey's set of channels, as touchpath computes it, but MAM keeps "
                     "**negative** values where touchpath sets them to 0 and renormalises. Negative credit MAM "
                     "kept, summed over channel sets: "
                     + (", ".join(f"`{c}` {v:.1f}" for c, v in sorted(neg.items())) or "none") + ".")
            L.append("- `MAM clamped` applies touchpath's rule to MAM's per-set values (derived here from "
                     "`metadata[\"conv_table\"]`, not a MAM output).")
            L.append("- `MAM max_size=4` is `run_shapley()` with its default: each journey's channel set is cut "
                     "to the **alphabetically** last four channels before the game is played.")
            L.append("")

    # ---- revenue (ChannelAttribution gives it for every model)
    if ca.get("ok"):
        L += ["## Revenue (ChannelAttribution only)", "",
              "max |Δ| of credited revenue, touchpath vs ChannelAttribution, in % of total revenue:", "",
              "| model | max abs Δ |", "|---|---:|"]
        rev_total = float(summary.get("revenue") or 0)
        for fam, _ in FAMILIES:
            if fam in ca["models"] and fam in tp["models"] and rev_total:
                a, b = ca["models"][fam]["revenue"], tp["models"][fam]["revenue"]
                d = max(abs(a.get(c, 0.0) - b.get(c, 0.0)) for c in set(a) | set(b) - {NONE_CHANNEL})
                L.append(f"| {fam} | {d / rev_total * 100:.3f} % |")
        L.append("")

    # ---- overview
    ov = ["## Overview: max |Δ| per channel, in % of total conversions", "",
          "| model | ChannelAttribution | MAM | MAM under touchpath's convention |", "|---|---:|---:|---:|"]
    convention = {"markov": "MAM RE-share", "shapley": "MAM clamped"}
    for fam, _ in FAMILIES:
        cells = []
        for key in ("ChannelAttribution", "MAM", convention.get(fam, "MAM")):
            if fam not in tp["models"]:
                cells.append("not in this touchpath output")
            elif key in overview.get(fam, {}):
                cells.append(f"{overview[fam][key]:.3f} %")
            elif key == "ChannelAttribution" and fam == "shapley":
                cells.append("no such model")
            elif not (ca if key == "ChannelAttribution" else mm).get("ok"):
                cells.append("did not run")
            else:
                cells.append("—")
        ov.append(f"| {fam} | " + " | ".join(cells) + " |")
    ov.append("")
    ov.append("The last column derives MAM's numbers with touchpath's conventions (see the markov and shapley "
              "sections): channel totals ∝ removal effects, negative Shapley values set to 0.")
    ov.append("")
    # Put the overview right after the header block.
    insert_at = L.index("## Journeys")
    L[insert_at:insert_at] = ov

    # ---- timing
    if args.timing:
        L += _timing_section(timing_tp, results)

    # ---- method
    L += ["## Method", "",
          "- Journeys: per user, events sorted by (instant, touches before conversions, channel, campaign, "
          "event type, stage, revenue); each conversion closes a journey whose path is the touches since the "
          "previous conversion no older than the lookback; touches after the last conversion form one "
          "non-converting journey (no window). Channels trimmed, lower-cased, runs of spaces/hyphens/"
          "underscores → `_`.",
          f"- Peers get the distinct non-empty paths joined with `{SEP.strip()}`; conversions with an empty path "
          "are excluded (touchpath credits them to `(none)`). Δ = (peer − touchpath) ÷ touchpath's total "
          "conversions × 100, in percentage points.", ""]
    for r in (ca, mm):
        if r.get("ok"):
            L.append(f"{PEER_LABEL[r['worker']]} {r['version']} APIs (signatures from the installed package):")
            L.append("")
            L += [f"    {s}" for s in r["signatures"]]
            L.append("")
    L.append("Calls: `heuristic_models(df, \"path\", \"total_conversions\", var_value=\"total_conversion_value\", "
             "sep=\">\", flg_pro=False)`; `markov_model(df, \"path\", \"total_conversions\", "
             "var_value=\"total_conversion_value\", var_null=\"total_null\", order=1, out_more=True, sep=\">\", "
             f"seed={args.ca_seed}, verbose=False, flg_pro=False)` (simulation defaults otherwise); "
             "`MAM(df, format_type=\"grouped_journey\", channels_colname=\"path\", "
             "journey_with_conv_colname=\"has_conversion\", occurrences_colname=\"occurrences\", "
             "path_separator=\" > \")` then `run_first_click()`, `run_last_click()`, `run_linear()`, "
             "`run_markov(transition_to_same_state=False)`, `run_shapley(max_size=None)` and `run_shapley()`.")
    L.append("")
    return "\n".join(L)


def _markov_notes(tp, ca, mm) -> list[str]:
    L = []
    tre = tp.get("removal_effects")
    cre = ca["models"]["markov"]["removal_effects"] if ca.get("ok") else None
    mre = mm["models"]["markov"]["removal_effects"] if mm.get("ok") and "markov" in mm["models"] else None
    if tre or cre or mre:
        L += ["Removal effects (touchpath: removal_effects.csv; ChannelAttribution: "
              "`removal_effects_conversion`, simulated; MAM: `metadata[\"removal_effect\"]`, exact):", "",
              "| channel | touchpath | ChannelAttribution | MAM |", "|---|---:|---:|---:|"]
        for ch in channel_order(tre, cre, mre):
            cells = [fmt(m.get(ch) if m else None, 4) for m in (tre, cre, mre)]
            L.append(f"| `{ch}` | " + " | ".join(cells) + " |")
        L.append("")
        if tre and mre:
            d = max(abs(tre.get(c, 0) - mre.get(c, 0)) for c in set(tre) | set(mre))
            L.append(f"- max |RE touchpath − RE MAM| = {d:.2e} (both exact, self-loops dropped).")
        if tre and cre:
            d = max(abs(tre.get(c, 0) - cre.get(c, 0)) for c in set(tre) | set(cre))
            L.append(f"- max |RE touchpath − RE ChannelAttribution| = {d:.4f} (simulation).")
    if ca.get("ok") and ca.get("markov_other_seeds"):
        base = ca["models"]["markov"]["conversions"]
        runs = {str(ca["models"]["markov"]["seed"]): base, **ca["markov_other_seeds"]}
        total = sum(base.values()) or 1
        chans = sorted(set().union(*runs.values()))
        spread = {c: (min(r.get(c, 0) for r in runs.values()), max(r.get(c, 0) for r in runs.values()))
                  for c in chans}
        widest = max(chans, key=lambda c: spread[c][1] - spread[c][0])
        distinct = len({tuple(round(r.get(c, 0), 6) for c in chans) for r in runs.values()})
        L.append(f"- ChannelAttribution simulation noise: over seeds {', '.join(runs)} ({distinct} distinct "
                 f"results), a channel's credit spreads by up to "
                 f"{spread[widest][1] - spread[widest][0]:.1f} conversions "
                 f"({(spread[widest][1] - spread[widest][0]) / total * 100:.3f} % of conversions, `{widest}` "
                 f"{spread[widest][0]:.1f} to {spread[widest][1]:.1f}).")
        tpm = (tp["models"].get("markov") or {}).get("conversions")
        if tpm:
            inside = [c for c in chans if spread[c][0] - 1e-9 <= tpm.get(c, 0) <= spread[c][1] + 1e-9]
            L.append(f"  touchpath's exact credit lies within that seed range for {len(inside)} of "
                     f"{len(chans)} channels.")
            if ca.get("markov_1e6"):
                big = ca["markov_1e6"]
                d = max(abs(big.get(c, 0) - tpm.get(c, 0)) for c in chans)
                L.append(f"  With `nsim_start=1e6` (10× the default) the max |Δ| to touchpath falls to "
                         f"{d:.1f} conversions ({d / total * 100:.3f} %).")
    if ca.get("ok") and "markov" in ca["models"]:
        rv, rc = ca["models"]["markov"]["removal_effects_value"], ca["models"]["markov"]["removal_effects"]
        d = max(abs(rv.get(c, 0) - rc.get(c, 0)) for c in rc)
        L.append(f"- ChannelAttribution splits revenue by separate value removal effects "
                 f"(`removal_effects_conversion_value`, up to {d:.4f} from the conversion ones); touchpath "
                 "splits revenue with the conversion removal effects.")
    L.append("- `MAM` is MAM's own credit: each journey's value is split over its touches in proportion to "
             "the channels' removal effects (every touch of a repeated channel takes a share), with no rescaling; "
             "`MAM RE-share` is MAM's removal effects normalised × conversions, which is what touchpath and "
             "ChannelAttribution report per channel.")
    L.append("")
    return L


def _timing_section(timing_tp, results) -> list[str]:
    L = ["## Timing and memory", ""]
    L.append("| what | wall (s) | peak RSS (MiB) | phases (s) |")
    L.append("|---|---:|---:|---|")
    if timing_tp:
        rss = timing_tp.get("max_rss_kb")
        L.append(f"| touchpath run (`{timing_tp.get('binary', '?')}`) | {timing_tp.get('wall_seconds', 0):.2f} | "
                 f"{'—' if rss is None else f'{rss / 1024:.0f}'} | one process: read, validate, journeys, all "
                 f"{timing_tp.get('models', '?')} models, reports |")
    else:
        L.append("| touchpath run | — | — | not timed: pass `--touchpath-timing FILE` |")
    names = {"journeys": "path building only (Python + polars)",
             "channelattribution": "ChannelAttribution, end to end", "mam": "MAM, end to end"}
    for key in WORKERS:
        r = results[key]
        if not r.get("ok"):
            L.append(f"| {names[key]} | — | — | failed: {r.get('error', '')[:80]} |")
            continue
        phases = "; ".join(f"{n} {s:.2f}" for n, s in r["phases"])
        # The noise check (extra ChannelAttribution runs) is not part of "end to end".
        wall = r["wall_seconds"] - sum(s for n, s in r["phases"] if n.startswith("noise check"))
        L.append(f"| {names[key]} | {wall:.2f} | {r['max_rss_kb'] / 1024:.0f} | {phases} |")
    L.append("")
    L.append("Each Python row is one fresh interpreter (`wall` includes its start-up and imports; peak RSS from "
             "`resource.getrusage(RUSAGE_SELF)` in that process). The peers' rows include reading the log and "
             "building the paths with polars; ChannelAttribution's wall time leaves out its noise check (extra "
             "`markov_model` runs, listed among the phases), its peak RSS does not. `touchpath run` is timed by the caller with `/usr/bin/time -v`.")
    if timing_tp and "debug" in str(timing_tp.get("binary", "")):
        L.append("")
        L.append("**touchpath was a debug build: its time is not representative of a release build.**")
    L.append("")
    return L


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def lookback_arg(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        v = parse_duration_days(text.strip().lower())  # touchpath's syntax: 30d, 12h, 1d12h, 2w
        if v is None or math.isnan(v):
            raise argparse.ArgumentTypeError(
                f"expected a number of days, a duration like 30d or 12h, or 'none'; got {text!r}") from None
    if not v > 0 or math.isinf(v):
        raise argparse.ArgumentTypeError("the lookback must be a positive number of days")
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Compare touchpath's channels.csv with ChannelAttribution and MAM on the same journeys "
                    "and write a Markdown report.",
        epilog="Example: touchpath generate --users 20000 --seed 3 --out /tmp/d && "
               "touchpath run --events /tmp/d/events.csv --out /tmp/tp --lookback 30d && "
               "compare_peers.py --events /tmp/d/events.csv --touchpath-out /tmp/tp --out /tmp/report.md",
    )
    p.add_argument("--events", required=True, metavar="FILE",
                   help="clean touchpoint log written by `touchpath generate` (.csv, .parquet or .pq)")
    p.add_argument("--touchpath-out", metavar="DIR",
                   help="output directory of `touchpath run` over the same log (channels.csv, summary.json)")
    p.add_argument("--out", metavar="REPORT.md", help="where to write the Markdown report")
    p.add_argument("--lookback-days", type=lookback_arg, default=30.0, metavar="DAYS",
                   help="lookback window: days (30), a touchpath duration (30d, 12h, 1d12h) or 'none'; must "
                        "match touchpath's --lookback (default 30 days)")
    p.add_argument("--timing", action="store_true",
                   help="add a timing and peak-memory table (each peer runs in its own subprocess)")
    p.add_argument("--touchpath-timing", metavar="FILE.json",
                   help="JSON with touchpath's wall_seconds and max_rss_kb (written by compare-peers.sh)")
    p.add_argument("--ca-seed", type=int, default=0, help="seed of ChannelAttribution's markov_model (default 0)")
    p.add_argument("--ca-noise-seeds", default="1,2,3,4,5,6,7,8,9", metavar="S1,S2,...",
                   help="extra seeds to show the run-to-run noise of ChannelAttribution's simulation, plus one "
                        "run with nsim_start=1e6 (default 1,...,9; empty string to skip)")
    p.add_argument("--no-mam-shapley", action="store_true", help="skip MAM's Shapley models (the slowest part)")
    p.add_argument("--worker-timeout", type=float, default=3600, metavar="SECONDS",
                   help="give up on a peer after this long (default 3600)")
    p.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is None and (args.touchpath_out is None or args.out is None):
        p.error("--touchpath-out and --out are required")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    try:
        if not Path(args.events).is_file():
            raise UsageError(f"{args.events}: no such file")
        tp = read_touchpath(Path(args.touchpath_out))
        timing_tp = None
        if args.touchpath_timing:
            try:
                timing_tp = json.loads(Path(args.touchpath_timing).read_text())
            except (OSError, ValueError) as e:
                raise UsageError(f"--touchpath-timing {args.touchpath_timing}: {e}") from e
            if "models" not in timing_tp and tp.get("summary"):
                # The models the run credited, as its summary lists them.
                timing_tp["models"] = len(tp["summary"].get("models", []))
        # Workers' results and logs go beside the report (REPORT.logs/), kept for inspection.
        workdir = Path(args.out).parent / (Path(args.out).stem + ".logs")
        workdir.mkdir(parents=True, exist_ok=True)
        results = {"journeys": run_worker("journeys", args, workdir)}
        if not results["journeys"].get("ok"):
            # Same code in every worker: if the log cannot be read, nothing else can run.
            raise UsageError(f"could not build journeys: {results['journeys'].get('error')}")
        for name in ("channelattribution", "mam"):
            results[name] = run_worker(name, args, workdir)
        report = render_report(args, tp, results, timing_tp)
        Path(args.out).write_text(report)
        print(f"[compare_peers] report written to {args.out}", file=sys.stderr)
        failed = [PEER_LABEL[n] for n in ("channelattribution", "mam") if not results[n].get("ok")]
        if failed:
            print(f"[compare_peers] WARNING: {', '.join(failed)} did not run; see the report", file=sys.stderr)
        return 0 if len(failed) < 2 else 1
    except UsageError as e:
        print(f"compare_peers: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
