//! touchpath's integration tests: one binary, one module per area.

/// Helpers shared by the modules: temporary logs, runs, summaries.
mod support;

/// Row accounting on generated dirty logs, checked against what the
/// generator injected.
mod accounting;
/// Failed and killed runs: the previous report stays whole.
mod atomicity;
/// Bad inputs: the message, the exit code and what is on disk.
mod bad_input;
/// The `touchpath` binary: exit codes, messages, files written.
mod cli;
/// Same input, same bytes: threads, row order, files, formats.
mod determinism;
/// Ground truth from scenario worlds: `generate --truth`, `evaluate`, and
/// the scores in the report.
mod evaluate;
/// Golden cases: inputs and expected report files under `datasets/golden/`.
mod golden;
/// `report.html`: numbers equal to the CSV files, a self-contained page,
/// every chart rendered in headless Chromium.
mod html;
/// Reading logs: reject reasons, duplicates, column mapping, formats.
mod ingest;
/// Journey rules on hand-built logs, end to end.
mod journeys;
/// Parser properties on random input: timestamps, durations, zones, dates,
/// log bodies and configuration files.
mod parsers;
/// The kernel of a run over partitions of users, driven in-process, against
/// single runs.
mod partitions;
/// Shards and merges, and runs bucketed by a memory budget, against single
/// runs.
mod shards;
/// Printed columns add up to their printed totals, in every file and on
/// stdout.
mod totals;
