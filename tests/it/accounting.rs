use touchpath::generate::{GenerateOptions, generate};
use touchpath::ingest::{RejectReason, discover, ingest_events};
use touchpath::journey::{JourneyStats, Journeys};
use touchpath::time::Lookback;
use touchpath::{Config, FileFormat};

use crate::support::NOW;

fn check_dirty_log(format: FileFormat, users: u64) {
    let directory = tempfile::tempdir().unwrap();
    let options = GenerateOptions { users, seed: 20_261_122, dirty: true, format, ..GenerateOptions::default() };
    let report = generate(&options, directory.path()).unwrap();
    let events = directory.path().join(format!("events.{}", format.extension()));
    let ingest = ingest_events(&discover(&[events]).unwrap(), &Config::default(), NOW).unwrap();
    let rows = &ingest.rows;

    assert_eq!(rows.read, report.events_written);
    assert_eq!(rows.read, rows.accepted + rows.rejected + rows.duplicates);
    let injected = &report.injected;
    let expected = [
        (RejectReason::MissingUserId, injected.missing_user_id),
        (RejectReason::BadTimestamp, injected.bad_timestamp),
        (RejectReason::UnknownEventType, injected.unknown_event_type),
        (RejectReason::MissingChannel, injected.missing_channel),
        (RejectReason::BadRevenue, injected.bad_revenue),
        (RejectReason::NegativeRevenue, injected.negative_revenue),
    ];
    for (reason, injected_count) in expected {
        assert!(injected_count > 0, "the generator injects {reason:?}");
        assert_eq!(rows.rejected_by_reason.get(&reason).copied().unwrap_or(0), injected_count, "{reason:?}");
    }
    assert_eq!(rows.rejected_by_reason.len(), expected.len(), "no other reason: {:?}", rows.rejected_by_reason);
    assert_eq!(rows.duplicates, injected.duplicates);
    assert_eq!(rows.accepted, report.expected.accepted);
    assert_eq!(ingest.log.user_count() as u64, report.expected.users);
    let warnings = ingest.warnings.get(&touchpath::ingest::Warning::RevenueOnNonConversion).copied().unwrap_or(0);
    assert_eq!(warnings, injected.revenue_on_non_conversion);
    let conversions = ingest.log.kind.iter().filter(|kind| !kind.is_touch()).count() as u64;
    assert_eq!(conversions, report.expected.conversions);
    assert_eq!(ingest.log.len() as u64 - conversions, report.expected.touches);
    let journeys = Journeys::build(&ingest.log, Lookback::default());
    let stats = JourneyStats::compute(&ingest.log, &journeys);
    assert_eq!(stats.conversions.first, report.expected.first_conversions);
    // Channel variants were normalised: only the ten clean names remain.
    assert_eq!(ingest.log.channels.len(), 10, "{:?}", ingest.log.channels.iter().collect::<Vec<_>>());
}

#[test]
fn a_dirty_log_of_100k_users_is_accounted_for_exactly() {
    check_dirty_log(FileFormat::Csv, 100_000);
}

#[test]
fn a_dirty_parquet_log_is_accounted_for_exactly() {
    check_dirty_log(FileFormat::Parquet, 20_000);
}
