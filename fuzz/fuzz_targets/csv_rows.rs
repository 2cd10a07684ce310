//! Arbitrary bytes as a touchpoint log: whatever the file holds, reading it
//! never panics, every data row is accepted, rejected or dropped as a
//! duplicate, and a file that cannot be read is the user's error, never an
//! internal one.
//!
//! The first byte chooses whether a valid header comes before the rest, so
//! that half of the runs explore rows rather than headers.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tempfile::TempDir;
use touchpath::ingest::{EventIngest, discover, ingest_events};
use touchpath::{Config, Error};

/// Every canonical column, in canonical order.
const HEADER: &[u8] = b"user_id,timestamp,channel,campaign,stage,event_type,revenue\n";

/// 2026-06-01T00:00:00Z, after every plausible event.
const NOW: i64 = 1_780_272_000_000_000;

/// One scratch directory for the whole run: the log is rewritten in place.
fn scratch() -> &'static TempDir {
    static DIRECTORY: OnceLock<TempDir> = OnceLock::new();
    DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let mut contents = Vec::with_capacity(HEADER.len() + body.len());
    if selector & 1 == 0 {
        contents.extend_from_slice(HEADER);
    }
    contents.extend_from_slice(body);
    let path = scratch().path().join("events.csv");
    std::fs::write(&path, &contents).expect("the log is written");
    let files = discover(&[path]).expect("a .csv file is a source");
    match ingest_events(&files, &Config::default(), NOW) {
        Ok(ingest) => check_accounting(&ingest),
        Err(error) => {
            assert!(!matches!(error, Error::Internal(_)), "internal error: {error}");
            assert!(error.is_user_error(), "not a user error: {error}");
        }
    }
});

fn check_accounting(ingest: &EventIngest) {
    let rows = &ingest.rows;
    assert_eq!(rows.read, rows.accepted + rows.rejected + rows.duplicates, "{rows:?}");
    assert_eq!(ingest.rejects.len() as u64, rows.rejected, "{rows:?}");
    assert_eq!(rows.rejected_by_reason.values().sum::<u64>(), rows.rejected, "{rows:?}");
    assert_eq!(ingest.log.len() as u64, rows.accepted, "{rows:?}");
    assert!(ingest.log.user_count() <= ingest.log.len());
    assert!(ingest.log.revenue.iter().all(|&revenue| revenue >= 0), "negative revenue accepted");

    let [file] = ingest.files.as_slice() else {
        panic!("one file read, {} reported", ingest.files.len());
    };
    assert_eq!((file.rows, file.rejected), (rows.read, rows.rejected));

    // Rejects come in row order, each on a line after the header and at
    // least as far down as its record index puts it.
    let mut previous = None;
    for reject in &ingest.rejects {
        assert!(reject.record < rows.read, "{reject:?}");
        assert!(previous < Some(reject.record), "rejects out of order: {reject:?}");
        assert!(reject.line >= reject.record + 2, "{reject:?}");
        previous = Some(reject.record);
    }
}
