//! touchpath: a multi-touch attribution engine.
//!
//! A run reads raw touchpoint logs and an ad-spend table, accounts for every
//! row, rebuilds each user's journeys and writes a report:
//!
//! 1. [`ingest`] reads CSV or Parquet files into an [`EventLog`]: every row is
//!    accepted, rejected with a reason, or dropped as a duplicate;
//! 2. [`journey`] splits each user's ordered events into journeys, one per
//!    conversion within the lookback window, plus the touches that never
//!    converted;
//! 3. [`run`] ties the stages together and writes the report atomically.
//!
//! ```
//! use touchpath::event_log::EventLogBuilder;
//! use touchpath::journey::{JourneyStats, Journeys};
//! use touchpath::time::{Lookback, MICROS_PER_DAY};
//!
//! let day = MICROS_PER_DAY;
//! let log = EventLogBuilder::new()
//!     .touch("ana", 0, "paid_social")
//!     .touch("ana", 2 * day, "paid_search")
//!     .conversion("ana", 3 * day, 49_900_000)
//!     .touch("ben", day, "display")
//!     .build();
//! let journeys = Journeys::build(&log, Lookback::default());
//! let stats = JourneyStats::compute(&log, &journeys);
//! assert_eq!(stats.conversions.total, 1);
//! assert_eq!(stats.journeys.non_converting, 1);
//! assert_eq!(stats.revenue(), 49.9);
//! ```

#![deny(missing_docs)]

pub mod aggregate;
pub mod attribution;
pub mod bootstrap;
pub mod bucket;
pub mod cli;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod event;
pub mod event_log;
pub mod format;
pub mod generate;
pub mod hash;
pub mod ingest;
pub mod journey;
pub mod models;
pub mod moment;
pub mod output;
pub mod partitions;
pub mod progress;
pub mod report;
pub mod run;
pub mod state;
pub mod summary;
pub mod time;

pub use config::Config;
pub use error::{Error, Result};
pub use event_log::EventLog;
pub use format::FileFormat;
