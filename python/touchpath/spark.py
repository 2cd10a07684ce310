"""touchpath on Spark: the run of `touchpath.run`, on a cluster's executors.

    >>> import touchpath.spark
    >>> events = spark.read.parquet("s3://bucket/touchpoints/")
    >>> result = touchpath.spark.run(events, spend="spend.csv", lookback="30d")
    >>> result.channels            # a polars DataFrame, as channels.csv

The log never travels to the driver. Each row gets its index in the table
and a key, the hash of its user id as touchpath reads it; the rows are
repartitioned by that key, so every event of a user is in one partition,
and each partition runs the same Rust kernel as the command line, on Arrow
batches (`mapInArrow`):

0. the latest valid timestamp of each partition (the end of the log's time,
   which `incremental` counts up to; skipped when it does not run);
1. each partition's counts: a small state (row accounting, chain
   transitions, coalitions, purchase-rate exposures, KPIs) and its path
   totals, which Spark sums by path and ranks, so only the first paths
   reach the driver; and its purchase patterns, which Spark adds up into
   16 shards kept on the executors, where `incremental`'s fit asks for its
   sums at each Newton step;
2. with the models fitted on the driver and broadcast, each partition's
   credit and moments of truth, as sums.

The driver merges and adds what the partitions sent (its size grows with
channels, campaigns, chain states and coalitions, not with the log) and
writes the report: byte for byte what `touchpath run` writes from the same
rows as one table. The kernel's result depends only on a partition's set of
rows, so a retried task changes nothing. `journeys_out` writes the
per-conversion table from the executors, as a Parquet dataset.

Every executor needs the `touchpath` package installed (the same wheel as
the driver's) and pyarrow; see docs/spark.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from . import InputError, InternalError, Result, _arguments, _inputs, _native, _result

__all__ = ["run"]

# The columns the kernel adds: each row's 0-based index in the whole table
# (by which rejected rows are named) and its partitioning key.
ROW = "__touchpath_row"
KEY = "__touchpath_user"

# Pass 1's rows: one state per partition, then its path totals (kind
# `channel` or `stage`) and its histogram bars (kind `kpi_*`, with value and
# count).
_COUNT_SCHEMA = (
    "state binary, kind string, key string, name string, journeys long, conversions long, "
    "revenue string, touches long, time_to_conversion string, value long, count long"
)

# Pass 2's rows: one tally per partition, then its histogram bars.
_CREDIT_SCHEMA = "tally binary, kind string, key string, value long, count long"

# Fault injection for the retry tests: the name of a pass whose first
# attempt on partition 0 fails after it has produced its first batch.
_FAIL_ONCE = "TOUCHPATH_SPARK_FAIL_ONCE"

_log = logging.getLogger("touchpath.spark")

# Fitted models kept by each Python worker, by the fit's hash, so that the
# tasks of one run a worker takes refit once.
_FITTED: dict = {}

# Shards of purchase patterns kept by each Python worker while `incremental`
# is fitted, by (fit, shard), so that each request does not decode them
# again.
_SHARDS: dict = {}

# Line-search steps asked for at once in `incremental`'s fit: each request
# is a round trip through the executors; the fit is the same whatever the
# number.
_CANDIDATES = 8


def run(
    events: Any,
    spend: Any = None,
    *,
    config: Any = None,
    partitions: Optional[int] = None,
    journeys_out: Any = None,
    **options: Any,
) -> Result:
    """Runs `touchpath run` on a Spark DataFrame of the touchpoint log, on
    the executors; returns the `Result` of `touchpath.run`.

    `events` is a Spark DataFrame with the log's columns (any types
    touchpath reads: text, numbers, timestamps). `spend` is a path, a table
    with `__arrow_c_stream__`, or a Spark DataFrame (read on the driver: it
    is small). `partitions` is how many partitions the users are split
    into (default: the larger of the input's partitions and the cluster's
    default parallelism). `journeys_out` is a directory for the
    per-conversion table, written as Parquet by the executors; the result's
    `journeys` is then that dataset as a Spark DataFrame. The other options
    are the flags of `touchpath run`; `events`, `bucket` and `emit_state`
    have no meaning here.
    """
    import pyarrow as pa
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    given = dict(options)
    scratch = None
    if given.get("out") is None:
        scratch = tempfile.TemporaryDirectory(prefix="touchpath-")
        given["out"] = Path(scratch.name) / "out"
    spend_paths, spend_tables = _spend(spend)
    arguments = _arguments("run", {"config": config, **given})
    if spend_paths:
        arguments = ["--spend", *spend_paths] + arguments
    job, needs_end, top = _native.plan_job(arguments)
    # The log's columns are checked here, on the driver, with the messages
    # of the command line, before any task runs.
    _native.user_keys(job, pa.Table.from_batches([], _arrow_schema(events.schema)))

    session = events.sparkSession
    if partitions is not None and partitions < 1:
        raise InputError(f"partitions: expected at least 1, got {partitions}")
    count = partitions or max(events.rdd.getNumPartitions(), session.sparkContext.defaultParallelism)

    # Each row's index in the table: the rows before its input partition,
    # then its place in it.
    # (Counted by the same kind of task as the one that numbers them:
    # Spark may plan `spark_partition_id()` on a table in the driver's memory
    # as if it had one partition.)
    with _phase("row_counts"):
        sizes = dict(events.select(events.columns[0]).mapInArrow(_sizes, "partition int, rows long").collect())
    offsets, total = {}, 0
    for partition in sorted(sizes):
        offsets[partition] = total
        total += sizes[partition]
    added = [StructField(ROW, LongType(), False), StructField(KEY, LongType(), False)]
    keyed_schema = StructType(events.schema.fields + added)
    prepared = (
        events.mapInArrow(_keyed(job, offsets), keyed_schema)
        .repartition(count, KEY)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counted = None
    try:
        with _phase("keys_and_shuffle"):
            shuffled = prepared.count()
        if shuffled != total:
            raise InternalError(f"{total} rows counted, {shuffled} keyed: is the DataFrame deterministic?")
        _log.info("%d rows in %d partitions", total, count)
        arrow_schema = _arrow_schema(prepared.schema)
        end = None
        if needs_end:
            with _phase("end_of_log"):
                end = prepared.mapInArrow(_latest(job, arrow_schema), "latest long").agg(F.max("latest")).first()[0]

        counted = prepared.mapInArrow(_count(job, count, end, arrow_schema), _COUNT_SCHEMA).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        # States are added up on the executors, in a tree: the driver gets
        # one, whatever the number of partitions.
        with _phase("counts"):
            states = _merged(
                counted.where(F.col("state").isNotNull() & F.col("kind").isNull())
                .select("state")
                .rdd.map(lambda row: bytes(row.state)),
                _merge_states,
                count,
            )
        rank = Window.partitionBy("kind").orderBy(F.desc("conversions"), F.desc("journeys"), F.asc("name"))
        with _phase("paths"):
            paths = (
                counted.where(F.col("kind").isin("channel", "stage"))
                .groupBy("kind", "key", "name")
                .agg(
                    F.sum("journeys").alias("journeys"),
                    F.sum("conversions").alias("conversions"),
                    F.sum(F.col("revenue").cast("decimal(38,0)")).alias("revenue"),
                    F.sum("touches").alias("touches"),
                    F.sum(F.col("time_to_conversion").cast("decimal(38,0)")).alias("time_to_conversion"),
                )
                .withColumn("rank", F.row_number().over(rank))
                .where(F.col("rank") <= top)
                .collect()
            )
        path_rows = [
            (row.kind, row.name, row.journeys, row.conversions, int(row.revenue), row.touches,
             int(row.time_to_conversion))
            for row in paths
        ]

        bars = counted.where(F.col("kind").startswith("kpi_")).select("kind", "key", "value", "count")

        with _phase("merge"):
            driver = _native.Driver(arguments, states, spend_tables)
        tallies: list = []
        medians: list = []
        journeys = None
        fit_requests, fit_bytes = 0, 0
        if driver.attributes():
            with _phase("fit"):
                fit_requests, fit_bytes = _fit_incremental(driver, counted)
                fit = driver.fit()
            broadcast = session.sparkContext.broadcast(fit)
            credited = prepared.mapInArrow(_credit(broadcast, arrow_schema), _CREDIT_SCHEMA).persist(
                StorageLevel.MEMORY_AND_DISK
            )
            with _phase("credit"):
                tallies = _merged(
                    credited.where(F.col("tally").isNotNull()).select("tally").rdd.map(lambda row: bytes(row.tally)),
                    _merge_tallies,
                    count,
                )
            bars = bars.unionByName(credited.where(F.col("tally").isNull()).select("kind", "key", "value", "count"))
            with _phase("medians"):
                medians = [(row.kind, row.key, row.value) for row in _medians(bars).collect()]
            credited.unpersist()
            if journeys_out is not None:
                empty = _native.Fitted(fit).journeys(pa.Table.from_batches([], arrow_schema))
                journeys_schema = _spark_schema(pa.table(empty).schema)
                target = os.fspath(journeys_out)
                rows = prepared.mapInArrow(_journeys(broadcast, arrow_schema, journeys_schema), journeys_schema)
                with _phase("journeys"):
                    rows.write.mode("overwrite").parquet(target)
                journeys = session.read.parquet(target)
            broadcast.unpersist()
        collected = (
            sum(map(len, states))
            + fit_bytes
            + sum(map(len, tallies))
            + sum(len(repr(row)) for row in path_rows)
            + sum(len(repr(row)) for row in medians)
        )
        with _phase("report"):
            status, out, text = driver.finish(tallies, path_rows, medians)
    finally:
        if counted is not None:
            counted.unpersist()
        prepared.unpersist()
    result = _result(status, Path(out), text, None, scratch)
    result.journeys = journeys
    result.driver_bytes = collected
    result.driver_fit = (fit_requests, fit_bytes)
    return result


@contextlib.contextmanager
def _phase(name: str) -> Iterator[None]:
    """Logs how long a phase of the run took (logger `touchpath.spark`)."""
    started = time.monotonic()
    yield
    _log.info("phase %s: %.2f s", name, time.monotonic() - started)


def _spend(spend: Any) -> tuple[list[str], list[tuple[str, Any]]]:
    """The spend table as paths or Arrow tables; a Spark DataFrame is
    brought to the driver (a spend table is small)."""
    items = [] if spend is None else list(spend) if isinstance(spend, (list, tuple)) else [spend]
    return _inputs([_spark_to_arrow(item) if hasattr(item, "sparkSession") else item for item in items], "spend")


def _spark_to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    if callable(getattr(frame, "toArrow", None)):  # Spark 4
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


def _arrow_schema(schema: Any) -> Any:
    """The Arrow schema of Spark rows as `mapInArrow` hands them over:
    timestamps in UTC (Spark 4.1 and later ask for the zone by name)."""
    import inspect

    from pyspark.sql.pandas.types import to_arrow_schema

    if "timezone" in inspect.signature(to_arrow_schema).parameters:
        return to_arrow_schema(schema, timezone="UTC")
    return to_arrow_schema(schema)


def _spark_schema(schema: Any) -> Any:
    """The Spark schema of a table from the kernel; Spark has no unsigned
    integers, so they are widened."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    widened = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(), pa.uint64(): pa.int64()}
    return from_arrow_schema(pa.schema([field.with_type(widened.get(field.type, field.type)) for field in schema]))


def _table(batches: Iterator[Any], schema: Any) -> Any:
    """A partition's batches as one Arrow table (no copy of the buffers);
    `schema` is that of a partition without rows."""
    import pyarrow as pa

    batches = list(batches)
    return pa.Table.from_batches(batches, batches[0].schema if batches else schema)


def _batches(table: Any, schema: Any) -> Iterator[Any]:
    """A table from the kernel, in the types Spark was promised."""
    import pyarrow as pa

    table = pa.table(table).cast(schema)
    yield from table.to_batches()


def _arrow_of(ddl: str) -> Any:
    """The Arrow schema of one of the kernel's Spark schemas (binary,
    string and long columns), without a Spark context: on an executor."""
    import pyarrow as pa

    types = {"binary": pa.binary(), "string": pa.string(), "long": pa.int64()}
    return pa.schema([(name, types[kind]) for name, kind in (part.split() for part in ddl.split(","))])


def _rows(schema: Any, values: dict, length: int) -> Any:
    """A batch of `schema` with `values` for some columns and nulls in the
    others."""
    import pyarrow as pa

    columns = [
        pa.array(values[field.name], field.type) if field.name in values else pa.nulls(length, field.type)
        for field in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _rows_of(schema: Any, table: Any) -> Iterator[Any]:
    """The rows of a kernel's table as batches of `schema`."""
    columns = {name: table.column(name).cast(schema.field(name).type) for name in table.schema.names}
    import pyarrow as pa

    arrays = [
        columns[field.name].combine_chunks() if field.name in columns else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    if table.num_rows:
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _medians(bars: Any) -> Any:
    """The nearest-rank median of each histogram of bars: the smallest
    value at least half the counts do not exceed (`median` in
    touchpath's moment module)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    summed = bars.groupBy("kind", "key", "value").agg(F.sum("count").alias("count"))
    histogram = Window.partitionBy("kind", "key")
    running = histogram.orderBy("value").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return (
        summed.withColumn("seen", F.sum("count").over(running))
        .withColumn("total", F.sum("count").over(histogram))
        .where(F.col("seen") >= F.greatest(F.expr("(total + 1) div 2"), F.lit(1)))
        .groupBy("kind", "key")
        .agg(F.min("value").alias("value"))
    )


def _fit_incremental(driver: Any, counted: Any) -> tuple:
    """Runs `incremental`'s fit when the run has it: the purchase patterns
    of every partition are split into shards and added up by shard on the
    executors, where they stay; the driver's solver asks for a few sums over
    them at each Newton step, which the executors compute per shard and add
    up in shard order, taking the Newton step from the summed Hessian there,
    so that the driver receives one small answer per request.
    Returns the requests made and the bytes the driver received."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    index = driver.pattern_index()
    if index is None:
        return 0, 0
    shards = (
        counted.where(F.col("kind") == "patterns")
        .select("state")
        .rdd.flatMap(_pattern_shards(index))
        .reduceByKey(_merge_shards, _native.SHARDS, partitionFunc=lambda shard: shard)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # Names this fit's shards in the workers' caches: a shard's bytes do not
    # change within a fit (retried tasks give the same), so they are
    # decoded once per worker, not hashed again at each request.
    token = os.urandom(16)
    received, rounds = 0, 0
    try:
        while True:
            request = driver.fit_request(_CANDIDATES)
            if request is None:
                break
            total = (
                shards.map(_answer(token, request)).repartition(1).mapPartitions(_add_answers(request)).collect()[0]
            )
            received += len(total)
            driver.fit_answer(total)
            rounds += 1
    finally:
        shards.unpersist()
    _log.info("incremental: %d requests to the shards of purchase patterns, %d bytes back", rounds, received)
    return rounds, received


def _pattern_shards(index: bytes):
    def shards(row):
        from touchpath import _touchpath as native

        return native.pattern_shards(index, bytes(row.state))

    return shards


def _merge_shards(left: bytes, right: bytes) -> bytes:
    from touchpath import _touchpath as native

    return native.merge_shards(left, right)


def _answer(token: bytes, request: bytes):
    def answer(item):
        from touchpath import _touchpath as native

        shard, patterns = item
        key = (token, shard)
        if key not in _SHARDS:
            for stale in [other for other in _SHARDS if other[0] != token]:
                del _SHARDS[stale]
            _SHARDS[key] = native.Shard(patterns)
        return shard, _SHARDS[key].answer(request)

    return answer


def _add_answers(request: bytes):
    def add(answers: Iterator[tuple]) -> Iterator[bytes]:
        from touchpath import _touchpath as native

        yield native.add_answers(request, list(answers))

    return add


def _merged(items: Any, merge: Any, partitions: int) -> list:
    """The items of an RDD merged into one on the executors, in a tree of
    about √n-way merges, and collected: a list of one item."""
    width = partitions
    while True:
        width = 1 if width <= 4 else math.ceil(math.sqrt(width))
        items = items.repartition(width).mapPartitions(lambda part: _fold(part, merge))
        if width == 1:
            return items.collect()


def _fold(items: Iterator[bytes], merge: Any) -> Iterator[bytes]:
    total = None
    for item in items:
        total = item if total is None else merge(total, item)
    if total is not None:
        yield total


def _merge_states(left: bytes, right: bytes) -> bytes:
    from touchpath import _touchpath as native

    return native.merge_states(left, right)


def _merge_tallies(left: bytes, right: bytes) -> bytes:
    from touchpath import _touchpath as native

    return native.merge_tallies(left, right)


def _sizes(batches):
    import pyarrow as pa
    from pyspark import TaskContext

    rows = sum(batch.num_rows for batch in batches)
    yield pa.RecordBatch.from_pydict(
        {"partition": pa.array([TaskContext.get().partitionId()], pa.int32()), "rows": pa.array([rows], pa.int64())}
    )


def _fail_once(name: str) -> None:
    if os.environ.get(_FAIL_ONCE) != name:
        return
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None and context.partitionId() == 0 and context.attemptNumber() == 0:
        raise RuntimeError(f"touchpath: failure injected into the first attempt of pass {name!r}")


def _keyed(job: bytes, offsets: dict):
    def keyed(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        from touchpath import _touchpath as native

        start = offsets.get(TaskContext.get().partitionId(), 0)
        for batch in batches:
            keys = pa.table(native.user_keys(job, pa.Table.from_batches([batch]))).column(0).combine_chunks()
            rows = pa.array(range(start, start + batch.num_rows), pa.int64())
            start += batch.num_rows
            yield pa.RecordBatch.from_arrays(
                batch.columns + [rows, keys.cast(pa.int64())], names=batch.schema.names + [ROW, KEY]
            )

    return keyed


def _latest(job: bytes, schema: Any):
    def latest(batches):
        import pyarrow as pa

        from touchpath import _touchpath as native

        value = native.partition_latest(job, _table(batches, schema))
        yield pa.RecordBatch.from_pydict({"latest": pa.array([value], pa.int64())})

    return latest


def _count(job: bytes, partitions: int, end: Optional[int], schema: Any):
    def count(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        from touchpath import _touchpath as native

        partition = TaskContext.get().partitionId()
        state, patterns, paths, bars = native.partition_count(job, partition, partitions, end, _table(batches, schema))
        output = _arrow_of(_COUNT_SCHEMA)
        yield _rows(output, {"state": [state]}, 1)
        yield _rows(output, {"state": [patterns], "kind": ["patterns"]}, 1)
        _fail_once("count")
        yield from _rows_of(output, pa.table(paths))
        yield from _rows_of(output, pa.table(bars))

    return count


def _fitted(broadcast: Any):
    from touchpath import _touchpath as native

    fit = broadcast.value
    digest = hashlib.blake2b(fit, digest_size=16).digest()
    if digest not in _FITTED:
        _FITTED.clear()
        _FITTED[digest] = native.Fitted(fit)
    return _FITTED[digest]


def _credit(broadcast: Any, schema: Any):
    def credit(batches):
        import pyarrow as pa

        _fail_once("credit")
        tally, bars = _fitted(broadcast).credit(_table(batches, schema))
        output = _arrow_of(_CREDIT_SCHEMA)
        yield _rows(output, {"tally": [tally]}, 1)
        yield from _rows_of(output, pa.table(bars))

    return credit


def _journeys(broadcast: Any, schema: Any, output: Any):
    def journeys(batches):
        yield from _batches(_fitted(broadcast).journeys(_table(batches, schema)), _arrow_schema(output))

    return journeys
