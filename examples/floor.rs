//! The floor of a touchpath run: the least work any engine must do to see
//! each user's journey in order. It reads the columns touchpath reads from
//! the same Parquet files and sorts them by `(user_id, timestamp)`, with polars
//! on every core, and nothing else.
//!
//! ```sh
//! cargo run --release --example floor -- events.parquet [more.parquet ...]
//! ```
//!
//! Prints one JSON object: rows and seconds. `scripts/bench-scale.sh`
//! compares touchpath's wall time with this program's.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use polars::prelude::{DataFrame, ParquetReader, SerReader, SortMultipleOptions};

/// The allocator touchpath uses, so that the comparison is of the work done.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COLUMNS: [&str; 7] = ["user_id", "timestamp", "channel", "campaign", "stage", "event_type", "revenue"];

fn main() -> ExitCode {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        eprintln!("usage: floor FILE.parquet...");
        return ExitCode::from(1);
    }
    match floor(&files) {
        Ok((rows, seconds)) => {
            println!("{{\"rows\": {rows}, \"seconds\": {seconds:.3}}}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn floor(files: &[PathBuf]) -> Result<(usize, f64), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut frame: Option<DataFrame> = None;
    for path in files {
        let columns = COLUMNS.iter().map(|&name| name.into()).collect();
        let part = ParquetReader::new(File::open(path)?).with_columns(Some(columns)).finish()?;
        match frame.as_mut() {
            Some(frame) => {
                frame.vstack_mut(&part)?;
            }
            None => frame = Some(part),
        }
    }
    let frame = frame.ok_or("no file")?;
    let sorted = frame.sort(["user_id", "timestamp"], SortMultipleOptions::default().with_multithreaded(true))?;
    Ok((sorted.height(), started.elapsed().as_secs_f64()))
}
