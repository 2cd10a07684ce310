use touchpath::Config;
use touchpath::time::Lookback;

use crate::support::{Workspace, count};

/// One user per rule, each hand-computed.
const LOG: &str = "\
user_id,timestamp,channel,event_type,revenue
window,2026-01-01T00:00:00Z,display,impression,
window,2026-01-06T00:00:00Z,video,impression,
window,2026-01-10T00:00:00Z,paid_search,click,
window,2026-01-13T00:00:00Z,,conversion,10
tie,2026-02-01T12:00:00Z,,conversion,20
tie,2026-02-01T12:00:00Z,email,click,
split,2026-03-01T00:00:00Z,display,impression,
split,2026-03-02T00:00:00Z,,conversion,5
split,2026-03-03T00:00:00Z,email,click,
split,2026-03-04T00:00:00Z,,conversion,7.5
split,2026-03-05T00:00:00Z,video,impression,
nothing,2026-03-10T00:00:00Z,,conversion,1
";

#[test]
fn each_journey_rule_holds_end_to_end() {
    let workspace = Workspace::new();
    let events = workspace.write("events.csv", LOG);
    let config = Config { lookback: "7d".parse::<Lookback>().unwrap(), ..Config::default() };
    workspace.run(&[events], &[], &config).unwrap();
    let summary = workspace.summary();

    assert_eq!(count(&summary, "/users"), 4);
    assert_eq!(count(&summary, "/touches"), 7);
    // window: display is 12 days before its conversion, outside 7 days.
    assert_eq!(count(&summary, "/touches_outside_window"), 1);
    // window, tie, split ×2, nothing.
    assert_eq!(count(&summary, "/conversions/total"), 5);
    assert_eq!(count(&summary, "/conversions/first"), 4);
    assert_eq!(count(&summary, "/conversions/repeat"), 1);
    // Only `nothing` converted without a touch: tie's email touch counts
    // although it shares the conversion's instant.
    assert_eq!(count(&summary, "/conversions/without_touches"), 1);
    assert_eq!(count(&summary, "/journeys/converting"), 5);
    // split's trailing video impression.
    assert_eq!(count(&summary, "/journeys/non_converting"), 1);
    assert_eq!(summary["revenue"].as_f64(), Some(43.5));
    // Converting path lengths: 2 (video, search), 1, 1, 1, 0.
    assert_eq!(summary["path_length"]["mean"].as_f64(), Some(1.0));
    assert_eq!(count(&summary, "/path_length/p50"), 1);
    assert_eq!(count(&summary, "/path_length/p90"), 2);
    assert_eq!(count(&summary, "/path_length/max"), 2);
}

#[test]
fn no_window_keeps_every_touch() {
    let workspace = Workspace::new();
    let events = workspace.write("events.csv", LOG);
    let config = Config { lookback: Lookback::NONE, ..Config::default() };
    workspace.run(&[events], &[], &config).unwrap();
    let summary = workspace.summary();
    assert_eq!(count(&summary, "/touches_outside_window"), 0);
    assert_eq!(count(&summary, "/path_length/max"), 3);
}

#[test]
fn row_and_file_order_never_change_the_result() {
    let workspace = Workspace::new();
    let mut lines: Vec<&str> = LOG.lines().collect();
    let header = lines.remove(0);
    let forward = workspace.write("forward/events.csv", LOG);
    workspace.run(&[forward], &[], &Config::default()).unwrap();
    let expected = workspace.read("out/summary.json").replace("forward", "X");

    lines.reverse();
    let (first, second) = lines.split_at(5);
    workspace.write("reversed/b.csv", &format!("{header}\n{}\n", first.join("\n")));
    workspace.write("reversed/a.csv", &format!("{header}\n{}\n", second.join("\n")));
    workspace.run(&[workspace.path("reversed")], &[], &Config::default()).unwrap();
    let summary = workspace.summary();
    let reversed: serde_json::Value = serde_json::from_str(&expected).unwrap();
    for field in
        ["users", "touches", "touches_outside_window", "conversions", "revenue", "journeys", "path_length", "rows"]
    {
        assert_eq!(summary[field], reversed[field], "{field}");
    }
}
