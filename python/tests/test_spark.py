"""`touchpath.spark.run` on real Spark, in `local[2]` and on a standalone
cluster started here: the command line's bytes, retried tasks, and what
reaches the driver."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

import touchpath
import touchpath.spark
from conftest import SAMPLE

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import SparkSession  # noqa: E402


def files(directory: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def sample_table():
    """The sample log as the command line reads a CSV file: every column
    text, as an Arrow table."""
    return pl.read_csv(SAMPLE / "events.csv", infer_schema_length=0).to_arrow()


def expected_report(tmp_path: Path, **options) -> dict:
    """`touchpath.run` on the same rows as one table."""
    table = pl.read_csv(SAMPLE / "events.csv", infer_schema_length=0)
    return files(touchpath.run(table, spend=SAMPLE / "spend.csv", out=tmp_path / "expected", **options).out)


def assert_same_report(actual: Path, expected: dict):
    got = files(actual)
    assert got.keys() == expected.keys()
    for name, content in expected.items():
        assert got[name] == content, name


def builder(master: str):
    # Executors run this Python, which has the package and pyarrow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return SparkSession.builder.master(master).config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")


def stop_any_session():
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture(scope="module")
def local():
    """Spark in this process, two threads; a failed task is retried."""
    stop_any_session()
    session = builder("local[2,2]").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_a_spark_run_writes_the_bytes_of_a_run_on_one_table(local, tmp_path):
    events = local.createDataFrame(sample_table())
    assert events.rdd.getNumPartitions() == 2
    result = touchpath.spark.run(events, spend=SAMPLE / "spend.csv", partitions=5, out=tmp_path / "spark")
    assert result.status == "ok"
    assert_same_report(result.out, expected_report(tmp_path))
    # The rejects name rows by their place in the table, as a run on it does.
    assert result.rejects.height > 1000
    assert result.channels.height > 10


def test_bootstrap_intervals_are_those_of_a_run_on_one_table(local, tmp_path):
    events = local.createDataFrame(sample_table())
    options = {"bootstrap": 30, "interval": 0.8}
    result = touchpath.spark.run(events, spend=SAMPLE / "spend.csv", partitions=3, out=tmp_path / "spark", **options)
    assert result.status == "ok"
    expected = expected_report(tmp_path, **options)
    header = expected["channels.csv"].split(b"\n", 1)[0]
    assert header.endswith(b",conversions_lo,conversions_hi,revenue_lo,revenue_hi,share_of_conversions_lo,share_of_conversions_hi,roas_lo,roas_hi")
    assert_same_report(result.out, expected)


def test_a_sampled_incremental_fit_holds_the_users_of_a_run_on_one_table(local, tmp_path):
    # Each partition draws its users into the fit's sample as the command
    # line does: the same users, the same fit, the same bytes.
    events = local.createDataFrame(sample_table())
    options = {"incremental_sample": 0.5, "models": ["incremental"]}
    result = touchpath.spark.run(events, spend=SAMPLE / "spend.csv", partitions=3, out=tmp_path / "spark", **options)
    assert result.status == "ok"
    expected = expected_report(tmp_path, **options)
    assert_same_report(result.out, expected)
    assert expected["channels.csv"] != expected_report(tmp_path / "whole", models=["incremental"])["channels.csv"]


def test_the_spend_table_can_be_a_spark_dataframe_and_options_apply(local, tmp_path):
    events = local.createDataFrame(sample_table())
    spend = local.createDataFrame(pl.read_csv(SAMPLE / "spend.csv", infer_schema_length=0).to_arrow())
    # Fewer rejected rows listed than the sample has: each partition keeps
    # its first, every merge the first of the union, as one run on the table.
    options = {"lookback": "14d", "models": ["last_click", "linear", "markov", "shapley"], "top": 7, "max_rejects_listed": 50}
    result = touchpath.spark.run(events, spend=spend, partitions=2, out=tmp_path / "spark", **options)
    expected = expected_report(tmp_path, **options)
    got = files(result.out)
    for name in expected.keys() - {"summary.json"}:
        assert got[name] == expected[name], name
    # The spend table was a table, not the file: only its name differs.
    summary, want = json.loads(got["summary.json"]), json.loads(expected["summary.json"])
    assert [entry["path"] for entry in summary["inputs"]["spend"]] == ["<spend>"]
    summary.pop("inputs"), want.pop("inputs")
    assert summary == want
    assert len(result.paths) == 7
    assert result.rejects.height == 50
    assert summary["warnings"]["rejects_not_listed"] == summary["rows"]["rejected"] - 50


def test_journeys_are_written_by_the_executors(local, tmp_path):
    events = local.createDataFrame(sample_table())
    target = tmp_path / "journeys"
    result = touchpath.spark.run(
        events, spend=SAMPLE / "spend.csv", partitions=3, out=tmp_path / "spark", journeys_out=target
    )
    parts = sorted(target.glob("part-*.parquet"))
    assert len(parts) >= 2, "one file per partition, not one through the driver"
    single = touchpath.run(
        pl.read_csv(SAMPLE / "events.csv", infer_schema_length=0), spend=SAMPLE / "spend.csv", journeys_out=True
    )
    expected = single.journeys
    # Spark has no unsigned integers: those columns come back wider.
    written = pl.read_parquet(target / "*.parquet").cast(expected.schema)
    assert written.height == expected.height > 1000
    assert written.sort(written.columns).equals(expected.sort(expected.columns))
    assert result.journeys.count() == written.height


@pytest.mark.parametrize("failing", ["count", "credit"])
def test_a_task_that_fails_once_is_retried_to_the_same_bytes(local, tmp_path, failing):
    environment = local.sparkContext.environment
    environment[touchpath.spark._FAIL_ONCE] = failing
    try:
        events = local.createDataFrame(sample_table())
        result = touchpath.spark.run(events, spend=SAMPLE / "spend.csv", partitions=3, out=tmp_path / "spark")
    finally:
        environment.pop(touchpath.spark._FAIL_ONCE)
    assert_same_report(result.out, expected_report(tmp_path))


def test_bad_input_fails_as_on_the_command_line(local, tmp_path):
    events = local.createDataFrame(pl.DataFrame({"user": ["a"], "when": ["2026-01-01T00:00:00Z"]}).to_arrow())
    with pytest.raises(touchpath.InputError, match="user_id"):
        touchpath.spark.run(events, out=tmp_path / "out")
    events = local.createDataFrame(sample_table())
    with pytest.raises(touchpath.InputError, match="has no meaning here"):
        touchpath.spark.run(events, bucket="0/2")
    with pytest.raises(touchpath.InputError, match="rejected") as caught:
        touchpath.spark.run(events, max_reject_rate=0.001, out=tmp_path / "strict")
    assert caught.value.exit_code == 1
    assert json.loads((tmp_path / "strict" / "summary.json").read_text())["status"] == "reject_rate_exceeded"


def test_what_reaches_the_driver_does_not_grow_with_the_log(local, tmp_path):
    """Ten times the users, the same channels, every model: about the same
    bytes (the coalitions, chain states and rate terms seen still grow a
    little at these sizes). `incremental`'s purchase patterns, which grow
    with the log, stay on the executors: its fit sends the driver one answer
    of a few numbers per rate term per request, and makes a few requests per
    Newton step (how many steps depends on the data, not on its size)."""
    sizes = {}
    for users in (2_000, 20_000):
        data = touchpath.generate(tmp_path / f"log-{users}", users=users, seed=3, format="parquet")
        events = local.read.parquet(str(data / "events.parquet"))
        result = touchpath.spark.run(events, partitions=4, out=tmp_path / f"out-{users}")
        assert result.summary["rows"]["accepted"] > 5 * users
        fit = result.summary["incremental"]
        requests, fit_bytes = result.driver_fit
        # A Newton step asks for its derivatives and at most 40 halvings of
        # its line search, 8 at a time.
        assert fit["iterations"] >= 2 and 3 <= requests <= 6 * (fit["iterations"] + 2), (requests, fit)
        # An answer is at most a gradient and a step: two numbers per term.
        assert fit_bytes <= requests * (16 * fit["features"] + 1024), (fit_bytes, requests, fit)
        sizes[users] = result.driver_bytes - fit_bytes
    assert sizes[20_000] < 1.6 * sizes[2_000], sizes


# A standalone cluster on 127.0.0.1: a master, a worker, two executors,
# with the package shipped to them as an archive of the installed wheel.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def package_archive(tmp_path: Path) -> Path:
    """The wheel the tests run against, unpacked and archived for
    `spark.archives` (executors put it on their Python path)."""
    wheel = os.environ.get("TOUCHPATH_WHEEL")
    if not wheel:
        pytest.fail("set TOUCHPATH_WHEEL to the package's wheel (scripts/test.sh builds it)")
    unpacked = tmp_path / "package"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    target = tmp_path / "touchpath-package.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path in unpacked.iterdir():
            archive.add(path, arcname=path.name)
    return target


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    stop_any_session()
    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("cluster")
    environment = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_WORKER_DIR": str(work)}
    master_port, worker_port = free_port(), free_port()
    spark_class = str(home / "bin" / "spark-class")
    started = []
    logs = open(work / "daemons.log", "w")
    try:
        started.append(
            subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(master_port), "--webui-port", str(free_port())],
                env=environment, stdout=logs, stderr=subprocess.STDOUT,
            )
        )
        wait_for_port(master_port)
        url = f"spark://127.0.0.1:{master_port}"
        started.append(
            subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--port", str(worker_port), "--webui-port", str(free_port()),
                 "--cores", "2", "--memory", "2g", "--work-dir", str(work), url],
                env=environment, stdout=logs, stderr=subprocess.STDOUT,
            )
        )
        wait_for_port(worker_port)
        archive = package_archive(work)
        session = (
            builder(url)
            .config("spark.executor.cores", "1")
            .config("spark.cores.max", "2")
            .config("spark.executor.memory", "768m")
            .config("spark.task.maxFailures", "2")
            .config("spark.archives", f"{archive}#touchpath-package")
            .config("spark.executorEnv.PYTHONPATH", "touchpath-package")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=60)
        logs.close()


def test_on_a_standalone_cluster_with_the_wheel_shipped(cluster, tmp_path):
    def where(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        import touchpath

        for _ in batches:
            pass
        context = TaskContext.get()
        yield pa.RecordBatch.from_pydict(
            {"executor": [str(context.partitionId())], "module": [touchpath.__file__]}
        )

    probe = cluster.range(0, 8, numPartitions=8).mapInArrow(where, "executor string, module string").collect()
    assert all("touchpath-package" in row.module for row in probe), probe
    assert cluster.sparkContext._jsc.sc().getExecutorMemoryStatus().size() == 3, "the driver and two executors"

    events = cluster.createDataFrame(sample_table())
    environment = cluster.sparkContext.environment
    environment[touchpath.spark._FAIL_ONCE] = "count"
    try:
        result = touchpath.spark.run(events, spend=SAMPLE / "spend.csv", partitions=4, out=tmp_path / "spark")
    finally:
        environment.pop(touchpath.spark._FAIL_ONCE)
    assert_same_report(result.out, expected_report(tmp_path))
