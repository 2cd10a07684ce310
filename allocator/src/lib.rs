//! How long the `touchpath` command's allocator, mimalloc, keeps memory
//! that was freed before it gives it back to the system.
//!
//! The one call into mimalloc's C interface lives here, on its own, so that
//! the rest of touchpath keeps `unsafe` code forbidden.
//!
//! A run frees large regions and allocates as much again soon after: each
//! chunk of a file read, each bucket built, each pass's buffers. mimalloc
//! gives freed memory back to the system a second after it was freed (its
//! purge delay), and the next allocation then takes fresh pages, each
//! zeroed by the kernel on its first touch. Measured in
//! `docs/performance.md`.

use std::ffi::c_long;

use libmimalloc_sys as sys;

/// mimalloc's `mi_option_purge_delay` (its `mimalloc.h`, v3), which
/// `libmimalloc-sys` does not name. A test checks that the environment
/// variable of that option sets this number.
const PURGE_DELAY: sys::mi_option_t = 15;

/// Keeps freed memory `milliseconds` before giving it back to the system,
/// unless `MIMALLOC_PURGE_DELAY` in the environment says otherwise (a
/// negative value: never; 0: at once).
pub fn set_purge_delay(milliseconds: u32) {
    // SAFETY: sets one integer of mimalloc's option table, for which every
    // value is valid; mimalloc reads it each time it considers a purge.
    unsafe { sys::mi_option_set_default(PURGE_DELAY, c_long::from(milliseconds)) }
}

/// The purge delay in force, in milliseconds.
#[must_use]
pub fn purge_delay() -> c_long {
    // SAFETY: reads one integer of mimalloc's option table.
    unsafe { sys::mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variable this test process is run again with.
    const VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

    /// Run by [`the_option_is_the_purge_delay`] in a process of its own,
    /// with the variable set: mimalloc reads it into the option numbered
    /// [`PURGE_DELAY`], and a default set after does not override it.
    #[test]
    #[ignore = "run by the_option_is_the_purge_delay, in a process of its own"]
    fn environment_sets_the_option() {
        let expected: c_long = std::env::var(VARIABLE).expect("the variable is set").parse().expect("a number");
        set_purge_delay(5_000);
        assert_eq!(purge_delay(), expected);
    }

    #[test]
    fn the_option_is_the_purge_delay() {
        let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--ignored", "--exact", "tests::environment_sets_the_option"])
            .env(VARIABLE, "4321")
            .output()
            .expect("the test binary runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    #[test]
    fn a_default_sets_the_delay_without_the_variable() {
        if std::env::var(VARIABLE).is_ok() {
            return;
        }
        set_purge_delay(7_000);
        assert_eq!(purge_delay(), 7_000);
    }
}
