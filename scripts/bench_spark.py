"""Runs `touchpath.spark.run` on a log, for docs/spark.md's measurements.

    python scripts/bench_spark.py --events /data/bench/events --spend /data/bench/spend.parquet \\
        --out /tmp/spark-report [--master 'local[2]'] [--partitions N]

Starts a Spark session (the start is part of what a job pays), reads the
log with Spark's Parquet or CSV reader, runs every model and writes the
report to --out. Prints one JSON line: seconds to start Spark, seconds of
the run, and the bytes the executors sent the driver; with --phases, logs
the time of each phase of the run on stderr. Run it with the
Python of an environment where the release wheel is installed (`maturin
build --release --manifest-path python/Cargo.toml`, then pip install), so
that it measures the release build, as `touchpath run` is measured.
"""

import argparse
import json
import logging
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", required=True)
    parser.add_argument("--spend")
    parser.add_argument("--out", required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--models", help="comma-separated models (default: every model)")
    parser.add_argument("--phases", action="store_true", help="log each phase's time on stderr")
    arguments = parser.parse_args()
    if arguments.phases:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    started = time.monotonic()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    import touchpath.spark

    session = (
        SparkSession.builder.master(arguments.master)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", arguments.driver_memory)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    ready = time.monotonic()
    reader = session.read.option("header", "true") if arguments.events.endswith(".csv") else session.read
    events = reader.csv(arguments.events) if arguments.events.endswith(".csv") else reader.parquet(arguments.events)
    models = arguments.models.split(",") if arguments.models else None
    result = touchpath.spark.run(
        events, spend=arguments.spend, partitions=arguments.partitions, out=arguments.out, models=models
    )
    done = time.monotonic()
    print(
        json.dumps(
            {
                "start_seconds": round(ready - started, 2),
                "run_seconds": round(done - ready, 2),
                "events": result.summary["rows"]["accepted"],
                "driver_bytes": result.driver_bytes,
                "status": result.status,
            }
        )
    )
    session.stop()


if __name__ == "__main__":
    main()
