//! Merging states: associative, commutative, with an identity, and equal to
//! the state of the whole log once finalised.

use proptest::prelude::*;

use super::*;
use crate::bucket::bucket_of;
use crate::event_log::EventLogBuilder;
use crate::models::Incremental;
use crate::report::{Analysis, Reports};
use crate::time::MICROS_PER_DAY;

/// Random users: each a list of (channel index, campaign index, is
/// conversion, revenue).
fn users_strategy() -> impl Strategy<Value = Vec<Vec<(u8, u8, bool, u32)>>> {
    proptest::collection::vec(
        proptest::collection::vec((0_u8..6, 0_u8..3, proptest::bool::weighted(0.25), 0_u32..100_000), 1..10),
        1..30,
    )
}

const CHANNELS: [&str; 6] = ["direct", "display", "email", "paid_search", "paid_social", "video"];

/// The log of the users whose bucket out of `count` is `index` (all when
/// `count` is 1).
fn log_of(users: &[Vec<(u8, u8, bool, u32)>], index: u32, count: u32) -> EventLog {
    let mut builder = EventLogBuilder::new();
    for (user, events) in users.iter().enumerate() {
        let name = format!("user{user}");
        if bucket_of(&name, count) != index {
            continue;
        }
        for (step, &(channel, campaign, conversion, revenue)) in events.iter().enumerate() {
            let time = i64::try_from(step).unwrap() * MICROS_PER_DAY / 3;
            let campaign = format!("campaign{campaign}");
            builder = if conversion {
                builder.conversion(&name, time, i64::from(revenue) * 10_000)
            } else {
                builder.event(
                    &name,
                    time,
                    crate::event::EventKind::Click,
                    CHANNELS[usize::from(channel)],
                    &campaign,
                    crate::event::Stage::Consideration,
                    0,
                )
            };
        }
    }
    builder.build()
}

fn state_of(log: EventLog, buckets: Buckets, config: &Config, latest: i64, keep: Keep) -> (State, Converting) {
    let accepted = log.len() as u64;
    let events = EventIngest {
        log,
        rows: RowCounts { read: accepted, accepted, ..RowCounts::default() },
        rejects: Vec::new(),
        warnings: BTreeMap::new(),
        files: Vec::new(),
        latest: Some(latest),
    };
    State::collect(events, None, buckets, config, (Mode::Attribute, 0), keep)
}

fn parts(users: &[Vec<(u8, u8, bool, u32)>], count: u32, config: &Config) -> Vec<(State, Converting)> {
    (0..count)
        .map(|index| {
            let bucket = Bucket::new(index, count).unwrap();
            state_of(
                log_of(users, index, count),
                Buckets::one(bucket),
                config,
                log_of(users, 0, 1).latest(),
                Keep::Copy,
            )
        })
        .collect()
}

fn reports(state: &State, (log, journeys): &Converting, config: &Config) -> Reports {
    Reports::compute(log, journeys, &state.aggregates, config, &[], 100).unwrap().0
}

fn states(users: &[Vec<(u8, u8, bool, u32)>], count: u32, config: &Config) -> Vec<State> {
    parts(users, count, config).into_iter().map(|(state, _)| state).collect()
}

fn config() -> Config {
    Config { markov_order: 2, bootstrap: 12, ..Config::default() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merge_is_associative_and_commutative_with_an_identity(users in users_strategy()) {
        let config = config();
        let [a, b, c]: [State; 3] = states(&users, 3, &config).try_into().unwrap();
        let left = a.clone().merge(b.clone()).unwrap().merge(c.clone()).unwrap();
        let right = a.clone().merge(b.clone().merge(c.clone()).unwrap()).unwrap();
        prop_assert_eq!(&left, &right);
        let swapped = c.clone().merge(a.clone()).unwrap().merge(b.clone()).unwrap();
        prop_assert_eq!(&left, &swapped);
        let identity = State::empty(Buckets { count: 3, held: BTreeSet::new() }, None, Vec::new());
        prop_assert_eq!(&a.clone().merge(identity.clone()).unwrap(), &a);
        prop_assert_eq!(&identity.merge(a.clone()).unwrap(), &a);
    }

    #[test]
    fn two_passes_over_buckets_report_what_the_whole_log_reports(users in users_strategy(), count in 1_u32..5) {
        let config = config();
        let (whole, converting) = state_of(log_of(&users, 0, 1), Buckets::whole(), &config, log_of(&users, 0, 1).latest(), Keep::Whole);
        let merged = states(&users, count, &config)
            .into_iter()
            .reduce(|left, right| left.merge(right).unwrap())
            .unwrap();
        prop_assert!(merged.buckets.complete());
        prop_assert_eq!(&merged.stats, &whole.stats);
        prop_assert_eq!(&merged.log, &whole.log);
        prop_assert_eq!(&merged.aggregates, &whole.aggregates);
        // The second pass: each bucket's log read again and credited with
        // the models fitted on the merged counts.
        let analysis = Analysis::fit(&merged.aggregates, &config).unwrap();
        let tally = (0..count)
            .map(|index| {
                let (log, journeys) = converting_in(log_of(&users, index, count), &config, &merged.log.channels, &merged.log.campaigns);
                analysis.tally(&log, &journeys, &config)
            })
            .fold(analysis.empty_tally(), crate::report::Tally::merge);
        let two_passes = Reports::finish(&merged.log, &merged.aggregates, &analysis, tally, &config, &[], 100);
        prop_assert_eq!(two_passes, reports(&whole, &converting, &config));
    }
}

/// A user's events (channel and campaign by name) and journeys, with
/// indices relative to the user's first event.
type UserRows = (Vec<(i64, crate::event::EventKind, String, String, crate::event::Stage, i64)>, Vec<[usize; 3]>);

fn user_rows(log: &EventLog, journeys: &Journeys, user: usize) -> UserRows {
    let events = log.user_events(user);
    let first = events.start;
    let rows = events
        .map(|index| {
            let campaign = log.campaigns.get(log.campaign[index]).to_owned();
            (
                log.time[index],
                log.kind[index],
                log.channel_name(index).to_owned(),
                campaign,
                log.stage[index],
                log.revenue[index],
            )
        })
        .collect();
    let journeys = journeys
        .of_user(user)
        .map(|journey| [journey.path.start - first, journey.path.end - first, journey.conversion.unwrap() - first])
        .collect();
    (rows, journeys)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spilled_journeys_come_back_in_user_order_and_credit_as_a_whole_in_any_order(
        users in users_strategy(),
        count in 1_u32..5,
        chunk in 1_usize..4,
        batch in 1_usize..6,
        held in 0_u64..3,
        hold in 0_usize..3,
    ) {
        let config = config();
        let (whole, converting) = state_of(log_of(&users, 0, 1), Buckets::whole(), &config, log_of(&users, 0, 1).latest(), Keep::Copy);
        let directory = tempfile::tempdir().unwrap();
        let parts = parts(&users, count, &config);
        // No journeys held (but a bucket's without any, which take
        // nothing), the first bucket's held and the others' on disk, or all
        // of them held.
        let first = parts.first().map_or(0, |(_, (log, journeys))| spilled::held_bytes(log, journeys));
        let limit = [0, first, u64::MAX][hold];
        let sizes: Vec<u64> = parts.iter().map(|(_, (log, journeys))| spilled::held_bytes(log, journeys)).collect();
        let mut kept = SpilledJourneys::with_chunk_users(directory.path(), chunk).holding(limit);
        let merged = parts
            .into_iter()
            .map(|(mut part, journeys)| {
                kept.take(&mut part, journeys).unwrap();
                prop_assert!(part.aggregates.paths.channels.is_empty());
                Ok(part)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .reduce(|left, right| left.merge(right).unwrap())
            .unwrap();
        // Buckets are held in turn while they fit; one without converting
        // journeys takes nothing.
        let mut held_bytes = 0;
        let on_disk = sizes.iter().filter(|&&size| if held_bytes + size <= limit { held_bytes += size; false } else { true }).count();
        prop_assert_eq!(kept.kept(), (held_bytes, on_disk));
        prop_assert_eq!(on_disk == 0, hold == 2 || sizes.iter().skip(usize::from(hold == 1)).all(|&size| size == 0));
        let mut expected = whole.aggregates.clone();
        expected.paths.channels.clear();
        expected.hazard.purchases = crate::models::incremental::Purchases::default();
        prop_assert_eq!(&merged.aggregates, &expected);

        // `incremental` fitted on the patterns on disk, none, some or all
        // of the shards held in memory: the fit on the whole log's counts.
        let memory = config.rate_memory().memory();
        let limit = [0, 200, u64::MAX][usize::try_from(held).unwrap()];
        let fitted = kept.fit_incremental(&merged.log, &merged.aggregates.hazard, memory, limit).unwrap();
        prop_assert_eq!(&fitted, &Incremental::fit(&whole.aggregates.hazard, memory));
        let analysis = Analysis::fit_with(&merged.aggregates, &config, crate::models::Hazard::Fitted(&fitted)).unwrap();
        let mut tally = analysis.empty_tally();
        let mut names = Vec::new();
        let mut sizes = Vec::new();
        let mut rows = Vec::new();
        kept.batches(&merged.log, batch, |log, journeys| {
            tally = std::mem::take(&mut tally).merge(analysis.tally(log, journeys, &config));
            names.extend(log.users.iter().map(str::to_owned));
            sizes.push(journeys.len());
            rows.extend((0..log.user_count()).map(|user| user_rows(log, journeys, user)));
            Ok(())
        })
        .unwrap();
        // Whole users, in order, each batch but the last with `batch` journeys or more.
        prop_assert_eq!(names, converting.0.users.iter().map(str::to_owned).collect::<Vec<_>>());
        prop_assert!(sizes.iter().rev().skip(1).all(|&size| size >= batch), "{:?}", sizes);
        let expected: Vec<UserRows> = (0..converting.0.user_count()).map(|user| user_rows(&converting.0, &converting.1, user)).collect();
        prop_assert_eq!(rows, expected);
        // Chunk by chunk in no set order, the same sums.
        let folded = kept
            .fold(
                &merged.log,
                || analysis.empty_tally(),
                |log, journeys| Ok(analysis.tally(log, journeys, &config)),
                crate::report::Tally::merge,
            )
            .unwrap();
        prop_assert_eq!(&folded, &tally);
        let mut batched = Reports::finish(&merged.log, &merged.aggregates, &analysis, tally, &config, &[], 100);
        prop_assert!(merged.aggregates.paths.channels.is_empty(), "channel paths are on disk");
        batched.channel_paths = kept.channel_paths(&merged.log, 100).unwrap();
        prop_assert_eq!(&batched, &reports(&whole, &converting, &config));
        for top in [0, 1, 3] {
            prop_assert_eq!(kept.channel_paths(&merged.log, top).unwrap(), whole.aggregates.paths.channel_rows(&whole.log, top));
        }
    }
}

#[test]
fn a_user_in_two_spilled_buckets_is_refused() {
    let config = config();
    let users = vec![vec![(1, 0, false, 0), (0, 0, true, 500)]];
    let (state, converting) =
        state_of(log_of(&users, 0, 1), Buckets::whole(), &config, log_of(&users, 0, 1).latest(), Keep::Copy);
    let directory = tempfile::tempdir().unwrap();
    let mut kept = SpilledJourneys::new(directory.path());
    kept.take(&mut state.clone(), converting.clone()).unwrap();
    kept.take(&mut state.clone(), converting).unwrap();
    let error = kept.batches(&state.log, 10, |_, _| Ok(())).unwrap_err();
    assert!(error.to_string().contains(r#"user "user0" is in two buckets"#), "{error}");
}

#[test]
fn a_state_survives_the_disk_with_its_fit_and_is_checked() {
    let config = config();
    let users = vec![vec![(1, 0, false, 0), (2, 1, false, 0), (0, 0, true, 500)], vec![(3, 2, false, 0)]];
    let (state, _) =
        state_of(log_of(&users, 0, 1), Buckets::whole(), &config, log_of(&users, 0, 1).latest(), Keep::Copy);
    let directory = tempfile::tempdir().unwrap();
    let target = directory.path().join("state");
    write_state(&target, &state, &config, Mode::Attribute, Some(b"the fit")).unwrap();
    let manifest = read_manifest(&target).unwrap();
    assert_eq!(manifest.config, config);
    assert!(!manifest.is_credit());
    assert_eq!(read_state(&target, &manifest).unwrap(), state);
    assert_eq!(read_fit(&target, &manifest).unwrap(), b"the fit");
    std::fs::write(target.join(FIT_FILE), b"another fit").unwrap();
    let error = read_fit(&target, &manifest).unwrap_err().to_string();
    assert!(error.contains("does not match its manifest"), "{error}");

    // Without a fit (a state of some buckets), the second pass is refused.
    write_state(&target, &state, &config, Mode::Attribute, None).unwrap();
    let manifest = read_manifest(&target).unwrap();
    let error = read_fit(&target, &manifest).unwrap_err().to_string();
    assert!(error.contains("holds no fitted models"), "{error}");

    let mut broken = state.clone();
    broken.starts.clear();
    assert_eq!(broken.check_consistent(), Err("inconsistent state: bucket starts".to_owned()));
    let mut broken = state.clone();
    broken.log.time.push(0);
    assert_eq!(broken.check_consistent(), Err("inconsistent state: events".to_owned()));
    let mut broken = state;
    broken.aggregates.coalitions.insert(vec![40], Default::default());
    assert_eq!(broken.check_consistent(), Err("inconsistent state: aggregate channel codes".to_owned()));
}

#[test]
fn credits_survive_the_disk_and_merge_only_with_the_same_fit() {
    let config = config();
    let users = vec![vec![(1, 0, false, 0), (0, 0, true, 500)], vec![(3, 2, false, 0), (2, 1, true, 900)]];
    let merged = states(&users, 2, &config).into_iter().reduce(|left, right| left.merge(right).unwrap()).unwrap();
    let analysis = Analysis::fit(&merged.aggregates, &config).unwrap();
    let credit_of = |index: u32, fit: &str| {
        let (log, journeys) =
            converting_in(log_of(&users, index, 2), &config, &merged.log.channels, &merged.log.campaigns);
        Credit {
            buckets: Buckets::one(Bucket::new(index, 2).unwrap()),
            events: Vec::new(),
            fit: fit.to_owned(),
            tally: analysis.tally(&log, &journeys, &config),
        }
    };
    let directory = tempfile::tempdir().unwrap();
    let target = directory.path().join("credit");
    let credit = credit_of(0, "abc");
    write_credit(&target, &credit, &config).unwrap();
    let manifest = read_manifest(&target).unwrap();
    assert!(manifest.is_credit());
    assert_eq!(read_credit(&target, &manifest).unwrap(), credit);
    let error = read_fit(&target, &manifest).unwrap_err().to_string();
    assert!(error.contains("holds no fitted models"), "{error}");

    let both = credit.clone().merge(credit_of(1, "abc")).unwrap();
    assert!(both.buckets.complete());
    let whole = credit_of(1, "abc").merge(credit.clone()).unwrap();
    assert_eq!(both, whole, "in any order");
    let error = credit.clone().merge(credit_of(1, "def")).unwrap_err().to_string();
    assert!(error.contains("different fits"), "{error}");
    let error = credit.clone().merge(credit_of(0, "abc")).unwrap_err().to_string();
    assert!(error.contains("bucket 0/2 is credited twice"), "{error}");
}
