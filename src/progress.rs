//! Progress of a run, for people watching a terminal.
//!
//! The library says when a phase begins and how far it got; the binary
//! draws bars on stderr when it is a terminal and says nothing otherwise.
//! Progress never changes what a run computes or writes.

/// Where a run reports its progress. Every method does nothing by default.
pub trait Progress: Sync {
    /// A phase begins, with `total` steps when they are known.
    fn begin(&self, phase: &str, total: Option<u64>) {
        let _ = (phase, total);
    }

    /// `steps` more steps of the current phase are done.
    fn advance(&self, steps: u64) {
        let _ = steps;
    }

    /// The current phase ended.
    fn end(&self) {}
}

/// Progress that goes nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
