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

use polars::prelude::{CompatLevel, CsvReadOptions, DataFrame, ParquetReader, SerReader};
use polars_arrow::array::{Array, StructArray, new_empty_array};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::{ArrowArrayStream, ArrowArrayStreamReader, export_iterator};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use touchpath::cli::embed::{self, Failure};
use touchpath::output::OutputDir;
use touchpath::run::Mode;

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
    py.detach(|| embed::command(name, &arguments)).map_err(|failure| raise(py, failure))
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
    let (report, text) =
        py.detach(|| embed::run(mode, &arguments, events, spend)).map_err(|failure| raise(py, failure))?;
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
    py.detach(|| copy_report(&source, &target)).map_err(|error| raise(py, Failure::from(error)))
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

/// The native module.
#[pymodule]
fn _touchpath(module: &Bound<'_, PyModule>) -> PyResult<()> {
    embed::silence();
    let py = module.py();
    module.add("TouchpathError", py.get_type::<TouchpathError>())?;
    module.add("InputError", py.get_type::<InputError>())?;
    module.add("InternalError", py.get_type::<InternalError>())?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_class::<Table>()?;
    module.add_function(wrap_pyfunction!(flags, module)?)?;
    module.add_function(wrap_pyfunction!(command, module)?)?;
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add_function(wrap_pyfunction!(read_table, module)?)?;
    module.add_function(wrap_pyfunction!(publish, module)?)?;
    Ok(())
}
