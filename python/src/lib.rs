//! `touchpath._touchpath`: the native half of the Python package.
//!
//! Tables cross the boundary through the Arrow C stream interface (the
//! `__arrow_c_stream__` `PyCapsule` protocol), in both directions, so the
//! package works with any version of polars, pyarrow, pandas or `DuckDB` that
//! speaks it. Options are the command line's own flags
//! (`touchpath::cli::embed`): one definition, one validation, one message.
//! The work runs with the GIL released; a panic becomes `InternalError`.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use polars::prelude::{Column, CompatLevel, CsvReadOptions, DataFrame, ParquetReader, SerReader};
use polars_arrow::array::{Array, StructArray, new_empty_array};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::{ArrowArrayStream, ArrowArrayStreamReader, export_iterator};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use touchpath::aggregate::PathTotals;
use touchpath::cli::embed::{self, Failure};
use touchpath::config::Mode;
use touchpath::output::OutputDir;
use touchpath::partitions::{self, Job};

create_exception!(_touchpath, TouchpathError, PyException, "Any error touchpath reports.");
create_exception!(
    _touchpath,
    InputError,
    TouchpathError,
    "Bad input or configuration: what the command line reports with exit code 1."
);
create_exception!(
    _touchpath,
    InternalError,
    TouchpathError,
    "A defect in touchpath: what the command line reports with exit code 2."
);

/// The name the Arrow `PyCapsule` interface gives a stream's capsule.
const STREAM_CAPSULE: &str = "arrow_array_stream";

/// The exception of a failure: the command line's message, then its hint on
/// a line of its own; `exit_code` and `hint` as attributes.
fn raise(py: Python<'_>, failure: Failure) -> PyErr {
    let text = match &failure.hint {
        Some(hint) => format!("{}\nhint: {hint}", failure.message),
        None => failure.message.clone(),
    };
    let error = if failure.exit_code == 1 { InputError::new_err(text) } else { InternalError::new_err(text) };
    let value = error.value(py);
    let _ = value.setattr("exit_code", failure.exit_code);
    let _ = value.setattr("hint", failure.hint);
    error
}

/// Runs `work` with the GIL released, its error raised as the command line
/// reports it ([`raise`]).
fn released<T: Send, E: Into<Failure> + Send>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, E> + Send,
) -> PyResult<T> {
    py.detach(work).map_err(|error| raise(py, error.into()))
}

fn internal(message: impl std::fmt::Display) -> PyErr {
    InternalError::new_err(format!("internal error: {message}"))
}

/// The flags of a command: (name, long flag, kind, help) each.
#[pyfunction]
fn flags(command: &str) -> PyResult<Vec<(String, String, String, String)>> {
    let flags = embed::flags(command).map_err(|failure| InputError::new_err(failure.message))?;
    Ok(flags.into_iter().map(|flag| (flag.name, flag.long, flag.kind.to_owned(), flag.help)).collect())
}

/// Runs a command (`generate`, `evaluate`, ...) with its flags.
#[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
#[pyfunction]
fn command(py: Python<'_>, name: &str, arguments: Vec<String>) -> PyResult<()> {
    released(py, || embed::command(name, &arguments))
}

/// Runs `run`, `validate` or `paths` with its flags and in-memory tables;
/// returns the summary's status, the output directory and what the command
/// line prints on stdout.
#[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
#[pyfunction]
#[pyo3(signature = (mode, arguments, events, spend))]
fn run(
    py: Python<'_>,
    mode: &str,
    arguments: Vec<String>,
    events: Vec<(String, Bound<'_, PyAny>)>,
    spend: Vec<(String, Bound<'_, PyAny>)>,
) -> PyResult<(String, PathBuf, String)> {
    let mode = match mode {
        "run" => Mode::Attribute,
        "validate" => Mode::Validate,
        "paths" => Mode::Paths,
        other => return Err(PyTypeError::new_err(format!("no mode `{other}`: expected run, validate or paths"))),
    };
    let import = |tables: Vec<(String, Bound<'_, PyAny>)>| -> PyResult<embed::Tables> {
        tables.into_iter().map(|(name, table)| Ok((name, import_table(&table)?))).collect()
    };
    let (events, spend) = (import(events)?, import(spend)?);
    let (report, text) = released(py, || embed::run(mode, &arguments, events, spend))?;
    Ok((report.summary.status.as_str().to_owned(), report.out, text))
}

/// Reads a table that speaks the Arrow C stream interface into a frame.
fn import_table(table: &Bound<'_, PyAny>) -> PyResult<DataFrame> {
    if !table.hasattr("__arrow_c_stream__")? {
        let kind = table.get_type().name().map(|name| name.to_string()).unwrap_or_default();
        return Err(PyTypeError::new_err(format!(
            "expected a path or a table with `__arrow_c_stream__` (polars, pyarrow, DuckDB); got {kind}"
        )));
    }
    let capsule = table.call_method0("__arrow_c_stream__")?;
    let capsule =
        capsule.cast::<PyCapsule>().map_err(|_| PyTypeError::new_err("`__arrow_c_stream__` gave no capsule"))?;
    let name = CString::new(STREAM_CAPSULE).map_err(internal)?;
    let pointer = capsule.pointer_checked(Some(&name))?.cast::<ArrowArrayStream>();
    // SAFETY: the capsule is named `arrow_array_stream`, so by the Arrow
    // PyCapsule interface it points to a valid `ArrowArrayStream` that the
    // consumer may move out; leaving a released (empty) stream in its place
    // is what the interface asks, so the capsule's destructor does nothing.
    let stream = unsafe { std::ptr::replace(pointer.as_ptr(), ArrowArrayStream::empty()) };
    // SAFETY: the stream comes from a producer of the C stream interface.
    let mut reader = unsafe { ArrowArrayStreamReader::try_new(Box::new(stream)) }.map_err(arrow_error)?;
    let ArrowDataType::Struct(_) = reader.field().dtype() else {
        return Err(PyTypeError::new_err("the Arrow stream does not hold a table (a struct of columns)"));
    };
    let empty = new_empty_array(reader.field().dtype().clone());
    let mut frame = frame_of(empty.as_ref())?;
    // SAFETY: as above; each array the reader gives was produced by it.
    while let Some(array) = unsafe { reader.next() } {
        let batch = frame_of(array.map_err(arrow_error)?.as_ref())?;
        // Appends the batch's buffers as chunks, without copying them.
        frame.vstack_mut_owned(batch).map_err(arrow_error)?;
    }
    Ok(frame)
}

fn frame_of(array: &dyn Array) -> PyResult<DataFrame> {
    let columns = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| PyTypeError::new_err("the Arrow stream does not hold a table (a struct of columns)"))?;
    DataFrame::try_from(columns.clone()).map_err(arrow_error)
}

fn arrow_error(error: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(format!("cannot read the Arrow table: {error}"))
}

/// A table touchpath wrote, offered through `__arrow_c_stream__`.
#[pyclass(frozen)]
struct Table {
    frame: DataFrame,
}

#[pymethods]
impl Table {
    /// The Arrow C stream of the table (the `PyCapsule` interface). Strings
    /// are exported as `large_string`, which every consumer reads.
    #[pyo3(signature = (requested_schema = None))]
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let mut frame = self.frame.clone();
        frame.rechunk_mut();
        let mut fields: Vec<Field> = Vec::new();
        let mut batches: Vec<Box<dyn Array>> = Vec::new();
        for batch in frame.iter_chunks(CompatLevel::oldest(), false) {
            let (schema, arrays) = batch.into_schema_and_arrays();
            fields = schema.iter_values().cloned().collect();
            let length = arrays.first().map_or(0, |array| array.len());
            let columns =
                StructArray::try_new(ArrowDataType::Struct(fields.clone()), length, arrays, None).map_err(internal)?;
            batches.push(Box::new(columns));
        }
        if batches.is_empty() {
            fields = frame.columns().iter().map(|column| column.field().to_arrow(CompatLevel::oldest())).collect();
        }
        let field = Field::new("".into(), ArrowDataType::Struct(fields), false);
        let stream = export_iterator(Box::new(batches.into_iter().map(Ok)), field);
        PyCapsule::new(py, stream, Some(CString::new(STREAM_CAPSULE).map_err(internal)?))
    }

    /// Rows in the table.
    fn __len__(&self) -> usize {
        self.frame.height()
    }
}

/// Reads a file touchpath wrote as a table: a CSV file with column types
/// inferred from every row, or a Parquet file.
#[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
#[pyfunction]
fn read_table(py: Python<'_>, path: PathBuf) -> PyResult<Table> {
    let parquet = path.extension().is_some_and(|extension| extension == "parquet");
    let frame = py
        .detach(|| {
            if parquet {
                let file = std::fs::File::open(&path).map_err(polars::prelude::PolarsError::from)?;
                ParquetReader::new(file).finish()
            } else {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(None)
                    .try_into_reader_with_file_path(Some(path.clone()))
                    .and_then(SerReader::finish)
            }
        })
        .map_err(|error| InputError::new_err(format!("{}: cannot read the file: {error}", path.display())))?;
    Ok(Table { frame })
}

/// Copies a report's files to `target`, which is replaced whole and
/// atomically as the command line replaces its `--out`.
#[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
#[pyfunction]
fn publish(py: Python<'_>, source: PathBuf, target: PathBuf) -> PyResult<PathBuf> {
    released(py, || copy_report(&source, &target))
}

fn copy_report(source: &Path, target: &Path) -> touchpath::Result<PathBuf> {
    let out = OutputDir::create(target)?;
    let mut names: Vec<_> = std::fs::read_dir(source)
        .map_err(|error| touchpath::Error::Io { path: source.to_owned(), error })?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    for name in names {
        let path = source.join(&name);
        let bytes = std::fs::read(&path).map_err(|error| touchpath::Error::Io { path: path.clone(), error })?;
        out.write(&name.to_string_lossy(), |sink| sink.write_all(&bytes))?;
    }
    out.commit()
}

/// The job of a run on an engine's workers (`touchpath.spark`), from the
/// flags of `touchpath run`: its bytes, for the workers, whether pass 0
/// (the end of the log's time) is needed, and how many paths the reports
/// list.
#[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
#[pyfunction]
fn plan_job(py: Python<'_>, arguments: Vec<String>) -> PyResult<(Vec<u8>, bool, usize)> {
    let planned = embed::plan(&arguments).map_err(|failure| raise(py, failure))?;
    let top = planned.request.top;
    let job = Job { config: planned.config, now: planned.request.now };
    Ok((job.encode().map_err(|error| raise(py, error.into()))?, job.needs_end(), top))
}

fn job_of(py: Python<'_>, bytes: &[u8]) -> PyResult<Job> {
    Job::decode(bytes).map_err(|error| raise(py, error.into()))
}

/// The partitioning key of each row of a table of the log.
#[pyfunction]
fn user_keys(py: Python<'_>, job: &[u8], table: &Bound<'_, PyAny>) -> PyResult<Table> {
    let (job, frame) = (job_of(py, job)?, import_table(table)?);
    let frame = released(py, || partitions::user_keys(&job, frame))?;
    Ok(Table { frame })
}

/// Pass 0 over a partition: its latest valid timestamp.
#[pyfunction]
fn partition_latest(py: Python<'_>, job: &[u8], table: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    let (job, frame) = (job_of(py, job)?, import_table(table)?);
    released(py, || partitions::latest(&job, frame))
}

/// A table of histogram bars: kind, key, value, count.
fn bars_table(bars: &[partitions::Bar]) -> PyResult<Table> {
    let whole = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let columns = vec![
        Column::new("kind".into(), bars.iter().map(|bar| bar.kind).collect::<Vec<_>>()),
        Column::new("key".into(), bars.iter().map(|bar| bar.key.as_str()).collect::<Vec<_>>()),
        Column::new("value".into(), bars.iter().map(|bar| whole(bar.value)).collect::<Vec<_>>()),
        Column::new("count".into(), bars.iter().map(|bar| whole(bar.count)).collect::<Vec<_>>()),
    ];
    Ok(Table { frame: DataFrame::new(bars.len(), columns).map_err(internal)? })
}

/// Pass 1 over a partition: its state, its purchase patterns, its path
/// totals and its histogram bars, as tables.
#[pyfunction]
fn partition_count(
    py: Python<'_>,
    job: &[u8],
    partition: u32,
    partitions: u32,
    end: Option<i64>,
    table: &Bound<'_, PyAny>,
) -> PyResult<(Vec<u8>, Vec<u8>, Table, Table)> {
    let (job, frame) = (job_of(py, job)?, import_table(table)?);
    let counted = py
        .detach(|| partitions::count(&job, partition, partitions, end, frame))
        .map_err(|error| raise(py, error.into()))?;
    let rows = &counted.paths;
    let whole =
        |values: Vec<u64>| values.into_iter().map(|value| i64::try_from(value).unwrap_or(i64::MAX)).collect::<Vec<_>>();
    let columns = vec![
        Column::new("kind".into(), rows.iter().map(|row| row.kind).collect::<Vec<_>>()),
        Column::new("key".into(), rows.iter().map(|row| row.key.as_str()).collect::<Vec<_>>()),
        Column::new("name".into(), rows.iter().map(|row| row.name.as_str()).collect::<Vec<_>>()),
        Column::new("journeys".into(), whole(rows.iter().map(|row| row.totals.journeys).collect())),
        Column::new("conversions".into(), whole(rows.iter().map(|row| row.totals.conversions).collect())),
        Column::new("revenue".into(), rows.iter().map(|row| row.totals.revenue.to_string()).collect::<Vec<_>>()),
        Column::new("touches".into(), whole(rows.iter().map(|row| row.totals.touches).collect())),
        Column::new(
            "time_to_conversion".into(),
            rows.iter().map(|row| row.totals.time_to_conversion.to_string()).collect::<Vec<_>>(),
        ),
    ];
    let frame = DataFrame::new(rows.len(), columns).map_err(internal)?;
    Ok((counted.state, counted.patterns, Table { frame }, bars_table(&counted.bars)?))
}

/// A partition's purchase patterns, numbered by the driver's index and
/// split into shards: `(shard, patterns)`.
#[pyfunction]
fn pattern_shards(py: Python<'_>, index: &[u8], patterns: &[u8]) -> PyResult<Vec<(u32, Vec<u8>)>> {
    released(py, || partitions::pattern_shards(index, patterns))
}

/// Adds two parts of one shard of purchase patterns.
#[pyfunction]
fn merge_shards(py: Python<'_>, left: &[u8], right: &[u8]) -> PyResult<Vec<u8>> {
    released(py, || partitions::merge_shards(left, right))
}

/// The shards' answers to one request, `(shard, answer)`, added up in
/// shard order (and the Newton step taken from them).
#[pyfunction]
fn add_answers(py: Python<'_>, request: &[u8], answers: Vec<(u32, Vec<u8>)>) -> PyResult<Vec<u8>> {
    released(py, || partitions::add_answers(request, answers))
}

/// One shard of purchase patterns, on a worker: answers the driver's
/// solver.
#[pyclass(frozen)]
struct Shard {
    shard: partitions::Shard,
}

#[pymethods]
impl Shard {
    #[new]
    fn new(py: Python<'_>, patterns: &[u8]) -> PyResult<Self> {
        let shard = released(py, || partitions::Shard::decode(patterns))?;
        Ok(Self { shard })
    }

    /// The shard's sums for one of the driver's requests.
    fn answer(&self, py: Python<'_>, request: &[u8]) -> PyResult<Vec<u8>> {
        released(py, || self.shard.answer(request))
    }
}

/// Merges two partitions' encoded states.
#[pyfunction]
fn merge_states(py: Python<'_>, left: &[u8], right: &[u8]) -> PyResult<Vec<u8>> {
    released(py, || partitions::merge_states(left, right))
}

/// Adds two partitions' encoded tallies.
#[pyfunction]
fn merge_tallies(py: Python<'_>, left: &[u8], right: &[u8]) -> PyResult<Vec<u8>> {
    released(py, || partitions::merge_tallies(left, right))
}

/// The models fitted from the driver's fit, on a worker: pass 2.
#[pyclass(frozen)]
struct Fitted {
    fitted: partitions::Fitted,
}

#[pymethods]
impl Fitted {
    #[new]
    fn new(py: Python<'_>, fit: &[u8]) -> PyResult<Self> {
        let fitted = released(py, || partitions::Fitted::decode(fit))?;
        Ok(Self { fitted })
    }

    /// The tally of a partition's converting journeys, and its histogram
    /// bars as a table.
    fn credit(&self, py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, Table)> {
        let frame = import_table(table)?;
        let credited = released(py, || partitions::credit(&self.fitted, frame))?;
        Ok((credited.tally, bars_table(&credited.bars)?))
    }

    /// A partition's rows of the per-conversion table.
    fn journeys(&self, py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<Table> {
        let frame = import_table(table)?;
        let frame = released(py, || partitions::journeys(&self.fitted, frame))?;
        Ok(Table { frame })
    }
}

/// A path's summed totals, as the engine hands them back: kind, name,
/// journeys, conversions, revenue (millionths), touches, time to
/// conversion (microseconds).
type PathSums = (String, String, u64, u64, i128, u64, i128);

/// The driver of a run on an engine's workers.
#[pyclass]
struct Driver {
    planned: Option<(embed::Planned, partitions::Driver)>,
}

#[pymethods]
impl Driver {
    /// Merges the partitions' states (pass 1) and reads the spend table.
    #[new]
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn new(
        py: Python<'_>,
        arguments: Vec<String>,
        states: Vec<Vec<u8>>,
        spend: Vec<(String, Bound<'_, PyAny>)>,
    ) -> PyResult<Self> {
        let planned = embed::plan(&arguments).map_err(|failure| raise(py, failure))?;
        let spend: embed::Tables =
            spend.into_iter().map(|(name, table)| Ok((name, import_table(&table)?))).collect::<PyResult<_>>()?;
        let driver = py
            .detach(|| -> touchpath::Result<partitions::Driver> {
                let config = &planned.config;
                let mut files = if planned.request.spend.is_empty() {
                    Vec::new()
                } else {
                    touchpath::ingest::discover(&planned.request.spend)?
                };
                files.extend(embed::in_memory("spend", spend));
                let spend =
                    if files.is_empty() { None } else { Some(touchpath::ingest::ingest_spend(&files, config)?) };
                partitions::Driver::merge(Job { config: config.clone(), now: planned.request.now }, &states, spend)
            })
            .map_err(|error| raise(py, error.into()))?;
        Ok(Self { planned: Some((planned, driver)) })
    }

    /// Whether the run attributes (pass 2 is needed).
    fn attributes(&self) -> PyResult<bool> {
        Ok(self.parts()?.1.attributes())
    }

    /// Starts `incremental`'s fit: the index for `pattern_shards`, or None
    /// when the run does not have it.
    fn pattern_index(&mut self, py: Python<'_>) -> PyResult<Option<Vec<u8>>> {
        let (_, driver) = self.planned.as_mut().ok_or_else(|| internal("the run is finished"))?;
        driver.pattern_index().map_err(|error| raise(py, error.into()))
    }

    /// The next request of `incremental`'s fit to every shard, or None
    /// when it is done; up to `candidates` line-search steps at once.
    fn fit_request(&mut self, py: Python<'_>, candidates: usize) -> PyResult<Option<Vec<u8>>> {
        let (_, driver) = self.planned.as_mut().ok_or_else(|| internal("the run is finished"))?;
        driver.fit_request(candidates).map_err(|error| raise(py, error.into()))
    }

    /// The answer to the last request, every shard's added up by
    /// `add_answers`.
    fn fit_answer(&mut self, py: Python<'_>, total: &[u8]) -> PyResult<()> {
        let (_, driver) = self.planned.as_mut().ok_or_else(|| internal("the run is finished"))?;
        released(py, || driver.fit_answer(total))
    }

    /// Fits the models; the fit to broadcast.
    fn fit(&mut self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let (_, driver) = self.planned.as_mut().ok_or_else(|| internal("the run is finished"))?;
        released(py, || driver.fit())
    }

    /// Adds the tallies and writes the report; returns the summary's
    /// status, the output directory and what the command line prints.
    /// `medians` are (kind, key, median) of the summed histogram bars.
    #[expect(clippy::needless_pass_by_value, reason = "PyO3 hands arguments over as owned values")]
    fn finish(
        &mut self,
        py: Python<'_>,
        tallies: Vec<Vec<u8>>,
        paths: Vec<PathSums>,
        medians: Vec<(String, String, u64)>,
    ) -> PyResult<(String, PathBuf, String)> {
        let (planned, driver) = self.planned.take().ok_or_else(|| internal("the run is finished"))?;
        let (mut channels, mut stages) = (Vec::new(), Vec::new());
        for (kind, name, journeys, conversions, revenue, touches, time_to_conversion) in paths {
            let totals = PathTotals { journeys, conversions, revenue, touches, time_to_conversion };
            if kind == "channel" { channels.push((name, totals)) } else { stages.push((name, totals)) }
        }
        let report = py
            .detach(|| {
                let medians =
                    medians.into_iter().map(|(kind, key, value)| partitions::Median { kind, key, value }).collect();
                driver.finish(&tallies, channels, stages, medians, &planned.request)
            })
            .map_err(|error| raise(py, error.into()))?;
        let text = planned.results(&report).map_err(|failure| raise(py, failure))?;
        Ok((report.summary.status.as_str().to_owned(), report.out, text))
    }
}

impl Driver {
    fn parts(&self) -> PyResult<&(embed::Planned, partitions::Driver)> {
        self.planned.as_ref().ok_or_else(|| internal("the run is finished"))
    }
}

/// The native module.
#[pymodule]
fn _touchpath(module: &Bound<'_, PyModule>) -> PyResult<()> {
    embed::silence();
    let py = module.py();
    module.add("TouchpathError", py.get_type::<TouchpathError>())?;
    module.add("InputError", py.get_type::<InputError>())?;
    module.add("InternalError", py.get_type::<InternalError>())?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("SHARDS", partitions::SHARDS)?;
    module.add_class::<Table>()?;
    module.add_class::<Fitted>()?;
    module.add_class::<Driver>()?;
    module.add_class::<Shard>()?;
    module.add_function(wrap_pyfunction!(plan_job, module)?)?;
    module.add_function(wrap_pyfunction!(user_keys, module)?)?;
    module.add_function(wrap_pyfunction!(partition_latest, module)?)?;
    module.add_function(wrap_pyfunction!(partition_count, module)?)?;
    module.add_function(wrap_pyfunction!(merge_states, module)?)?;
    module.add_function(wrap_pyfunction!(merge_tallies, module)?)?;
    module.add_function(wrap_pyfunction!(pattern_shards, module)?)?;
    module.add_function(wrap_pyfunction!(merge_shards, module)?)?;
    module.add_function(wrap_pyfunction!(add_answers, module)?)?;
    module.add_function(wrap_pyfunction!(flags, module)?)?;
    module.add_function(wrap_pyfunction!(command, module)?)?;
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add_function(wrap_pyfunction!(read_table, module)?)?;
    module.add_function(wrap_pyfunction!(publish, module)?)?;
    Ok(())
}
