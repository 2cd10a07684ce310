//! Progress bars on stderr, when stderr is a terminal.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::terminal;

/// One bar (or spinner) per phase, cleared when the phase ends; nothing at
/// all unless stderr is a terminal and neither `--quiet` nor
/// `--log-format json` was given.
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    /// Bars if they can be seen.
    pub fn new() -> Self {
        Self { current: Mutex::new(None), enabled: terminal::for_people() && std::io::stderr().is_terminal() }
    }

    fn clear(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some(bar) = current.take()
        {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn begin(&self, phase: &str, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        self.clear();
        let (bar, template) = match total {
            Some(total) => (ProgressBar::new(total), "{spinner} {msg:<24} [{bar:30}] {pos}/{len}  {elapsed}"),
            None => (ProgressBar::new_spinner(), "{spinner} {msg:<24} {elapsed}"),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_message(phase.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut current) = self.current.lock() {
            *current = Some(bar);
        }
    }

    fn advance(&self, steps: u64) {
        if let Ok(current) = self.current.lock()
            && let Some(bar) = current.as_ref()
        {
            bar.inc(steps);
        }
    }

    fn end(&self) {
        self.clear();
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.clear();
    }
}
