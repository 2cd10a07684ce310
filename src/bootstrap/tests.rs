use super::*;
use crate::config::{Config, Mode};
use crate::event_log::EventLogBuilder;
use crate::journey::Journeys;
use crate::report::Reports;
use crate::time::MICROS_PER_DAY;

/// The weights of users `user0` … over one replicate each, and of one
/// user over many replicates, follow Poisson(1): mean 1, variance 1,
/// P(0) = e⁻¹, P(1) = e⁻¹, P(2) = e⁻¹ / 2.
#[test]
fn weights_follow_poisson_one() {
    let mut weights = Vec::new();
    let mut draws = Vec::new();
    for user in 0..20_000 {
        user_weights(&format!("user{user}"), 3, &mut weights);
        draws.extend_from_slice(&weights);
    }
    user_weights("one user", 20_000, &mut weights);
    for sample in [&draws, &weights] {
        #[expect(clippy::cast_precision_loss, reason = "a test's counts")]
        let count = sample.len() as f64;
        #[expect(clippy::cast_precision_loss, reason = "a test's counts")]
        let share = |weight: i64| sample.iter().filter(|&&drawn| drawn == weight).count() as f64 / count;
        #[expect(clippy::cast_precision_loss, reason = "small weights")]
        let mean = sample.iter().sum::<i64>() as f64 / count;
        #[expect(clippy::cast_precision_loss, reason = "small weights")]
        let variance = sample.iter().map(|&weight| (weight as f64 - mean).powi(2)).sum::<f64>() / count;
        let e = (-1.0_f64).exp();
        assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.04, "variance {variance}");
        for (weight, expected) in [(0, e), (1, e), (2, e / 2.0), (3, e / 6.0)] {
            assert!((share(weight) - expected).abs() < 0.01, "P({weight}) = {} not {expected}", share(weight));
        }
    }
}

/// A user's weight in replicate r depends on the user and r alone: the
/// same in any call, and the first replicates of a longer run are those of
/// a shorter one.
#[test]
fn weights_depend_on_the_user_and_the_replicate_only() {
    let (mut short, mut long, mut again) = (Vec::new(), Vec::new(), Vec::new());
    user_weights("ada", 50, &mut short);
    user_weights("ada", 200, &mut long);
    user_weights("ada", 50, &mut again);
    assert_eq!(short, again);
    assert_eq!(short, long[..50]);
    user_weights("bob", 50, &mut again);
    assert_ne!(short, again, "two users draw apart");
}

/// `a` users converting after one touch of `a`, `b` after one of `b`.
fn two_channels(a: usize, b: usize) -> crate::event_log::EventLog {
    let mut builder = EventLogBuilder::new();
    for user in 0..a + b {
        let name = format!("user{user:05}");
        let channel = if user < a { "a" } else { "b" };
        builder = builder.touch(&name, 0, channel).conversion(&name, MICROS_PER_DAY, 2_000_000);
    }
    builder.build()
}

fn intervals_of(log: &crate::event_log::EventLog, config: &Config) -> (Reports, Intervals) {
    let journeys = Journeys::build(log, config.lookback);
    let aggregates = crate::aggregate::Aggregates::compute(log, &journeys, config, Mode::Attribute, log.latest());
    let (mut reports, _) = Reports::compute(log, &journeys, &aggregates, config, &[], 10).unwrap();
    let intervals = reports.intervals.take().unwrap();
    (reports, intervals)
}

/// Where the answer's sampling distribution is known: each user converts
/// once through one channel, so a channel's credited conversions over
/// resampled users are a sum of n Poisson(1) weights, Poisson(n), whose
/// central 90 % spans about 2 × 1.645 √n; a channel's share of p over N
/// users has the binomial spread √(p (1 − p) / N).
#[test]
fn interval_widths_match_the_known_sampling_spread() {
    let (a, b) = (500, 1500);
    let log = two_channels(a, b);
    let config =
        Config { bootstrap: 400, models: vec!["last_click".to_owned(), "markov".to_owned()], ..Config::default() };
    let (reports, intervals) = intervals_of(&log, &config);
    assert_eq!(intervals.replicates, 400);
    assert_eq!(reports.models.len(), 2);
    for model in &intervals.models {
        let row = model.channels["a"];
        #[expect(clippy::cast_precision_loss, reason = "a test's counts")]
        let expected = 2.0 * 1.645 * (a as f64).sqrt();
        let width = row.conversions.hi - row.conversions.lo;
        assert!((width / expected - 1.0).abs() < 0.15, "conversions: width {width}, expected {expected}");
        // Revenue is 2.00 a conversion.
        let revenue = row.revenue.hi - row.revenue.lo;
        assert!((revenue / width - 2.0).abs() < 1e-9, "revenue width {revenue}");
        let share = 0.25_f64;
        #[expect(clippy::cast_precision_loss, reason = "a test's counts")]
        let expected = 2.0 * 1.645 * (share * (1.0 - share) / (a + b) as f64).sqrt() * 100.0;
        let width = row.share_of_conversions.hi - row.share_of_conversions.lo;
        assert!((width / expected - 1.0).abs() < 0.15, "share: width {width}, expected {expected}");
        #[expect(clippy::cast_precision_loss, reason = "a test's counts")]
        let point = a as f64;
        assert!(row.conversions.lo < point && point < row.conversions.hi);
    }
}

/// The interval's level sets its width: a 50 % interval is about
/// 0.674 / 1.645 of a 90 % one.
#[test]
fn a_narrower_level_gives_a_narrower_interval() {
    let log = two_channels(800, 800);
    let config = Config { bootstrap: 400, models: vec!["linear".to_owned()], ..Config::default() };
    let (_, wide) = intervals_of(&log, &config);
    let (_, narrow) = intervals_of(&log, &Config { interval: 0.5, ..config });
    let width = |intervals: &Intervals| {
        let row = intervals.models[0].channels["b"].conversions;
        row.hi - row.lo
    };
    let ratio = width(&narrow) / width(&wide);
    assert!((ratio - 0.674 / 1.645).abs() < 0.08, "ratio {ratio}");
}

/// Percentiles by R's type 8 on a known sample.
#[test]
fn percentiles_of_a_known_sample() {
    let values: Vec<f64> = (1..=9).map(f64::from).collect();
    let interval = percentiles(values, 0.5);
    // h = (9 + 1/3) τ + 1/3: 2.666… for τ = 0.25, 7.333… for 0.75.
    assert!((interval.lo - (2.0 + 2.0 / 3.0)).abs() < 1e-12, "{interval:?}");
    assert!((interval.hi - (7.0 + 1.0 / 3.0)).abs() < 1e-12, "{interval:?}");
    assert_eq!(percentiles(Vec::new(), 0.9), Interval::default());
}

/// Replicate sums add up over users: the credit replicates of two halves
/// of the users, added, are those of all.
#[test]
fn replicate_sums_of_parts_add_up_to_the_whole() {
    let log = two_channels(30, 50);
    let config = Config { bootstrap: 16, ..Config::default() };
    let journeys = Journeys::build(&log, config.lookback);
    let aggregates = crate::aggregate::Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest());
    assert_eq!(aggregates.replicates.count, 16);
    assert!(!aggregates.replicates.transitions.is_empty() && !aggregates.replicates.coalitions.is_empty());
    let analysis = crate::report::Analysis::fit(&aggregates, &config).unwrap();
    let whole = crate::attribution::credit(&log, &journeys, &analysis.models, &config);
    // Each replicate's last-click credit of `a` is the sum of the weights
    // of the users converting through `a`.
    let mut weights = Vec::new();
    let mut expected = vec![0_i64; 16];
    for user in 0..30 {
        user_weights(&format!("user{user:05}"), 16, &mut weights);
        for (sum, weight) in expected.iter_mut().zip(&weights) {
            *sum += weight * crate::models::CONVERSION_UNITS;
        }
    }
    let a = log.channels.code_of("a").unwrap();
    let credited: Vec<i64> = whole.replicates.per_model[0].iter().filter(|(key, _)| key.channel == a).fold(
        vec![0; 16],
        |mut total, (_, values)| {
            for (sum, value) in total.iter_mut().zip(values) {
                *sum += value;
            }
            total
        },
    );
    assert_eq!(credited, expected);
}

/// Users of (channel index, is conversion, hours since the previous event).
fn random_log(users: &[Vec<(usize, bool, u8)>]) -> crate::event_log::EventLog {
    const CHANNELS: [&str; 5] = ["display", "email", "search", "social", "video"];
    let mut builder = EventLogBuilder::new();
    for (user, events) in users.iter().enumerate() {
        let name = format!("user{user:03}");
        let mut time = 0;
        for &(channel, conversion, hours) in events {
            time += i64::from(hours) * MICROS_PER_DAY / 24;
            builder = if conversion {
                builder.conversion(&name, time, 1_000_000 + i64::from(hours) * 10_000)
            } else {
                builder.touch(&name, time, CHANNELS[channel])
            };
        }
    }
    builder.build()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// A replicate's channel credit under `markov` and `shapley` (refitted
    /// on the weighted sums) and under a rule-based model is what a whole
    /// run gives on the replicate as a log of its own, each user repeated
    /// by its weight: the sums stand for the refit they save.
    #[test]
    fn a_replicate_is_a_run_on_the_resampled_log(
        users in proptest::collection::vec(
            proptest::collection::vec((0_usize..5, proptest::bool::weighted(0.3), 1_u8..48), 1..10),
            5..40,
        ),
    ) {
        let log = random_log(&users);
        let replicates = 4;
        let models = ["linear", "markov", "shapley"].map(str::to_owned).to_vec();
        let config = Config { bootstrap: replicates, models, ..Config::default() };
        let journeys = Journeys::build(&log, config.lookback);
        let aggregates = crate::aggregate::Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest());
        let analysis = crate::report::Analysis::fit(&aggregates, &config).unwrap();
        let credits = crate::attribution::credit(&log, &journeys, &analysis.models, &config);
        let fits = Fits { models: &analysis.models, replicates: &aggregates.replicates, credit: &credits.replicates };
        let mut keys: Vec<_> = credits.replicates.per_model[0].iter().collect();
        keys.sort_unstable_by_key(|(key, _)| **key);
        for replicate in 0..replicates as usize {
            let resampled = resample(&log, replicates as usize, replicate);
            let single = Config { bootstrap: 0, ..config.clone() };
            let journeys = Journeys::build(&resampled, single.lookback);
            let aggregates =
                crate::aggregate::Aggregates::compute(&resampled, &journeys, &single, Mode::Attribute, log.latest());
            let (reports, _) = Reports::compute(&resampled, &journeys, &aggregates, &single, &[], 10).unwrap();
            for (index, model) in analysis.models.iter().enumerate() {
                let mut keys: Vec<_> = credits.replicates.per_model[index].iter().collect();
                keys.sort_unstable_by_key(|(key, _)| **key);
                let rows = intervals::replicate_rows(model.as_ref(), &fits, &keys, replicate, None);
                for (name, sums) in &reports.models[index].channels {
                    let code = match name.as_str() {
                        crate::event::NO_CHANNEL => crate::event_log::NO_CHANNEL_CODE,
                        _ => log.channels.code_of(name).unwrap(),
                    };
                    #[expect(clippy::cast_precision_loss, reason = "a test's sums")]
                    let (units, revenue) = (sums.units as f64, sums.revenue as f64);
                    let (replicated_units, replicated_revenue) = rows.channel(code);
                    // The run apportions each conversion in whole units.
                    let slack = 4.0 * reports.models[index].total.conversions().max(1.0);
                    proptest::prop_assert!(
                        (units - replicated_units).abs() <= slack && (revenue - replicated_revenue).abs() <= slack,
                        "{} {name} replicate {replicate}: run {units} {revenue}, replicate {replicated_units} {replicated_revenue}",
                        model.name()
                    );
                }
            }
        }
    }
}

#[test]
fn the_level_prints_as_a_percentage_with_the_decimal_it_needs() {
    let at = |level: f64| Intervals { level, ..Intervals::default() }.level_percent();
    assert_eq!((at(0.9), at(0.975), at(0.5), at(0.995)), ("90".into(), "97.5".into(), "50".into(), "99.5".into()));
}

/// `incremental`'s replicates, one Newton step from the full fit with the
/// full data's Hessian, recredited to first order, against each conversion
/// of the resampled log recredited in full with the same step's terms: the
/// channels' credit is far nearer the full recredit than the credit under
/// the full data's fit is.
#[test]
#[expect(clippy::cast_precision_loss, reason = "a test's sums, as decimals")]
fn incremental_replicates_are_the_refit_step_recredited_to_first_order() {
    use crate::models::{AttributionModel, Hazard};
    use crate::report::Analysis;
    let log = crate::generate::generated_log(3_000, 4);
    let replicates = 6_u32;
    let config = Config { bootstrap: replicates, models: vec!["incremental".to_owned()], ..Config::default() };
    let journeys = Journeys::build(&log, config.lookback);
    let aggregates = crate::aggregate::Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest());
    let analysis = Analysis::fit(&aggregates, &config).unwrap();
    let credits = crate::attribution::credit(&log, &journeys, &analysis.models, &config);
    let model: &dyn AttributionModel = analysis.models[0].as_ref();
    let fitted = model.as_incremental().unwrap();
    let sums = credits.replicates.linear.as_ref().unwrap();
    let fits = Fits { models: &analysis.models, replicates: &aggregates.replicates, credit: &credits.replicates };
    // The second pass's purchases are the fit's: the score parts `Σ x / λ̂`
    // taken while crediting are the counts' patterns' at the fit, and the
    // first pass's exposures the counts' (in whole seconds per user).
    let width = 1 + replicates as usize;
    for (term, (feature, value)) in fitted.terms().iter().enumerate() {
        let patterns: f64 = aggregates
            .hazard
            .purchases
            .iter()
            .filter_map(|(pattern, count)| {
                let rate: f64 =
                    pattern.iter().map(|(of, n)| fitted.terms().get(of).map_or(0.0, |v| v * f64::from(*n))).sum();
                let (_, times) = pattern.iter().find(|(of, _)| of == feature)?;
                Some(count as f64 * f64::from(*times) / rate)
            })
            .sum();
        let scored = sums.scores[term * width] as f64 / 1_048_576.0;
        assert!(
            (scored - patterns).abs() <= 1e-6 * patterns.max(1.0),
            "{feature:?} ({value}): {scored} against {patterns}"
        );
        let exposed = aggregates.replicates.exposure[feature][0] as f64 / 86_400.0;
        let counted = aggregates.hazard.exposure[feature] as f64 / 86_400e6;
        assert!((exposed - counted).abs() <= 3_000.0 / 86_400.0, "{feature:?}: {exposed} against {counted} days");
    }
    let per_replicate = linear::steps(fitted, sums, &aggregates.replicates.exposure, replicates as usize);
    let mut keys: Vec<_> = credits.replicates.per_model[0].iter().collect();
    keys.sort_unstable_by_key(|(key, _)| **key);
    let single = Config { bootstrap: 0, ..config.clone() };
    let (mut linear_error, mut held_error) = (0.0, 0.0);
    for (replicate, moved) in per_replicate.iter().enumerate() {
        let resampled = resample(&log, replicates as usize, replicate);
        let journeys = Journeys::build(&resampled, single.lookback);
        let counted =
            crate::aggregate::Aggregates::compute(&resampled, &journeys, &single, Mode::Attribute, log.latest());
        // The replicate's terms, one step from the full fit, as a model.
        let moved = moved.as_ref().expect("the curvature factors");
        let stepped = fitted.moved(moved);
        let refitted = Analysis::fit_with(&counted, &single, Hazard::Fitted(&stepped)).unwrap();
        let tally = refitted.tally(&resampled, &journeys, &single);
        let reports = Reports::finish(&resampled, &counted, &refitted, tally, &single, &[], 10);
        let first_order = intervals::replicate_rows(model, &fits, &keys, replicate, Some((sums, Some(moved))));
        let held = intervals::replicate_rows(model, &fits, &keys, replicate, None);
        for (name, credit) in &reports.models[0].channels {
            let code = match name.as_str() {
                crate::event::BASELINE_CHANNEL => crate::event_log::BASELINE_CODE,
                crate::event::NO_CHANNEL => crate::event_log::NO_CHANNEL_CODE,
                _ => log.channels.code_of(name).unwrap(),
            };
            #[expect(clippy::cast_precision_loss, reason = "a test's sums")]
            let full = credit.units as f64;
            linear_error += (first_order.channel(code).0 - full).abs();
            held_error += (held.channel(code).0 - full).abs();
        }
    }
    let units = crate::models::CONVERSION_UNITS as f64;
    assert!(held_error > 20.0 * units, "the step moves the credit: {}", held_error / units);
    // 3,000 users move the terms far (a term to 0, the baseline by half):
    // what first order leaves out is under a fifth of the move (0.18 here).
    assert!(linear_error < 0.25 * held_error, "{} against {}", linear_error / units, held_error / units);
}
