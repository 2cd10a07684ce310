"""The Python API against the command line's bytes."""

import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import touchpath
from conftest import SAMPLE


def files(directory: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def without_inputs(summary: bytes) -> dict:
    """summary.json without what names the inputs (paths, hashes)."""
    document = json.loads(summary)
    document.pop("inputs", None)
    return document


# Files that name the inputs: the same run on a table and on the file it
# was read from differs there only.
NAMING_INPUTS = {"summary.json", "rejects.csv"}


def test_every_flag_of_the_command_line_is_an_option_and_back(cli):
    for command in ["run", "validate", "paths", "generate", "evaluate"]:
        help_text = cli(command, "--help").stdout
        flags = set(re.findall(r"^\s+(?:-\w, )?--([a-z][a-z0-9-]*)", help_text, flags=re.M))
        flags -= {"help", "version", "quiet", "log-format"}  # the embedding program's business
        assert {flag.replace("-", "_") for flag in flags} == set(touchpath.options(command)), command


def test_a_run_from_paths_writes_the_command_lines_bytes(sample_report, tmp_path):
    result = touchpath.run(SAMPLE / "events.csv", spend=str(SAMPLE / "spend.csv"))
    assert result.status == "ok"
    written = result.write(tmp_path / "copy")
    expected = files(sample_report)
    assert files(written).keys() == expected.keys()
    for name, content in files(written).items():
        if name == "summary.json":
            # The same inputs, named the same way; only where the report was written differs.
            assert without_inputs(content) == without_inputs(expected[name])
            assert json.loads(content)["inputs"] == json.loads(expected[name])["inputs"]
        else:
            assert content == expected[name], name
    # The tables are the files.
    assert result.channels.equals(pl.read_csv(sample_report / "channels.csv", infer_schema_length=None))
    assert result.summary == json.loads((sample_report / "summary.json").read_text())
    assert "last_click" in str(result)


def sample_as_text() -> pl.DataFrame:
    """The sample log as the command line reads a CSV file: every column text."""
    return pl.read_csv(SAMPLE / "events.csv", infer_schema_length=0)


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda frame: frame, id="polars"),
        pytest.param(lambda frame: frame.to_arrow(), id="pyarrow"),
        pytest.param(lambda frame: frame.to_pandas(), id="pandas"),
        pytest.param(lambda frame: frame.to_arrow().to_reader(max_chunksize=5000), id="record-batch-reader"),
        pytest.param(lambda frame: duckdb.from_arrow(frame.to_arrow()), id="duckdb"),
    ],
)
def test_a_run_from_a_table_gives_the_bytes_of_a_run_from_its_file(sample_report, tmp_path, convert):
    spend = pl.read_csv(SAMPLE / "spend.csv", infer_schema_length=0)
    result = touchpath.run(convert(sample_as_text()), spend=convert(spend))
    expected = files(sample_report)
    written = files(result.write(tmp_path / "report"))
    assert written.keys() == expected.keys()
    for name in written.keys() - NAMING_INPUTS:
        assert written[name] == expected[name], name
    got, want = without_inputs(written["summary.json"]), without_inputs(expected["summary.json"])
    assert got == want
    inputs = json.loads(written["summary.json"])["inputs"]
    assert [(entry["path"], entry["format"]) for entry in inputs["events"]] == [("<events>", "arrow")]
    # The same rejected rows, with the same reasons: a table's rows are
    # numbered from 1, a CSV file's by line (the header is line 1).
    from_file = pl.read_csv(sample_report / "rejects.csv", infer_schema_length=0)
    from_table = result.rejects.cast(pl.String)
    assert from_table["file"].unique().to_list() == ["<events>"]
    assert (from_table["row"].cast(pl.Int64) + 1).to_list() == from_file["row"].cast(pl.Int64).to_list()
    assert from_table.drop("file", "row").equals(from_file.drop("file", "row"))
    assert from_table.height > 1000


def test_typed_columns_read_like_text(sample_report):
    """A log whose revenue is a number and timestamps a datetime, as a
    notebook would have it, gives the same credit as the raw text."""
    raw = sample_as_text()
    clean = raw.filter(
        pl.col("timestamp").str.to_datetime(strict=False, time_zone="UTC").is_not_null()
        & pl.col("revenue").cast(pl.Float64, strict=False).is_not_null().or_(pl.col("revenue").is_null())
    )
    typed = clean.with_columns(
        pl.col("timestamp").str.to_datetime(strict=False, time_zone="UTC"),
        pl.col("revenue").cast(pl.Float64),
    )
    as_text = touchpath.run(clean, models=["linear", "last_click"])
    as_types = touchpath.run(typed, models=["linear", "last_click"])
    assert as_types.channels.equals(as_text.channels)


def test_options_are_validated_as_on_the_command_line():
    with pytest.raises(touchpath.InputError, match="expected a share between 0 and 1") as caught:
        touchpath.run(SAMPLE / "events.csv", max_reject_rate=2)
    assert caught.value.exit_code == 1
    with pytest.raises(TypeError, match="unexpected option 'lookbak'"):
        touchpath.run(SAMPLE / "events.csv", lookbak="7d")
    with pytest.raises(touchpath.InputError, match="invalid model `nope`"):
        touchpath.run(SAMPLE / "events.csv", models=["nope"])


def test_bad_input_raises_input_error_with_the_hint(tmp_path):
    broken = tmp_path / "events.csv"
    broken.write_text("user,timestamp,channel\nu1,2026-01-01T00:00:00Z,email\n")
    with pytest.raises(touchpath.InputError) as caught:
        touchpath.run(broken)
    assert "user_id" in str(caught.value)
    assert caught.value.hint is not None and "--column" in caught.value.hint
    with pytest.raises(touchpath.InputError, match="user_id"):
        touchpath.run(pl.DataFrame({"user": ["u1"], "timestamp": ["2026-01-01T00:00:00Z"], "channel": ["email"]}))
    with pytest.raises(TypeError, match="expected a path"):
        touchpath.run(42)


def test_too_many_rejected_rows_raise_after_writing_the_summary(tmp_path):
    frame = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "timestamp": ["2026-01-01T00:00:00Z", "not a time", "neither"],
            "channel": ["email", "email", "email"],
            "event_type": ["click", "click", "click"],
        }
    )
    out = tmp_path / "report"
    with pytest.raises(touchpath.InputError, match="rejected") as caught:
        touchpath.run(frame, out=out)
    assert caught.value.exit_code == 1
    assert json.loads((out / "summary.json").read_text())["status"] == "reject_rate_exceeded"


def test_the_per_conversion_table_and_the_page():
    result = touchpath.run(SAMPLE / "events.csv", models=["linear", "incremental"], journeys_out=True)
    conversions = result.summary["conversions"]["total"]
    assert result.journeys.height == conversions > 0
    assert {"credit_linear", "credit_incremental"} <= set(result.journeys.columns)
    assert result.html().startswith("<!DOCTYPE html>")
    assert result._repr_html_().startswith("<iframe srcdoc=")
    assert result.removal_effects is None  # markov did not run


def test_validate_and_paths_give_their_files_only():
    checked = touchpath.validate(SAMPLE / "events.csv")
    assert checked.channels is None and checked.rejects is not None
    assert checked.summary["rows"]["read"] == checked.summary["rows"]["accepted"] + checked.summary["rows"][
        "rejected"
    ] + checked.summary["rows"]["duplicates"]
    ranked = touchpath.paths(SAMPLE / "events.csv", top=5)
    assert ranked.paths.height == 5


def test_generate_and_evaluate(tmp_path):
    out = touchpath.generate(tmp_path / "world", users=300, seed=2, truth=True)
    assert (out / "events.csv").is_file() and (out / "truth.csv").is_file()
    evaluation = touchpath.evaluate(
        events=out / "events.csv", truth=out / "truth.csv", name="tiny", out=tmp_path / "scores"
    )
    assert set(evaluation.scores["model"]) >= {"last_click", "shapley", "incremental"}
    assert evaluation.scores["scenario"].unique().to_list() == ["tiny"]
    assert "<svg" in evaluation.html()


def test_the_gil_is_released_while_the_engine_works():
    import threading
    import time

    finished = threading.Event()
    outcome = []

    def work():
        outcome.append(touchpath.run(SAMPLE / "events.csv", models=["shapley", "markov"]))
        finished.set()

    worker = threading.Thread(target=work)
    started = time.monotonic()
    worker.start()
    ticks = 0
    while not finished.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.monotonic() - started
    assert outcome[0].status == "ok"
    # Held, the GIL would stop this loop for the whole run; released, it ticks
    # about once a millisecond.
    assert ticks > elapsed * 1000 / 4, (ticks, elapsed)
