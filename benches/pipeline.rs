//! Throughput of each stage on a seeded synthetic log: ingest, journey
//! building, each attribution model (data-driven ones with their fitting),
//! bootstrap replicates, and merging partial credit states.
//!
//! The log is generated once, outside the timed loops. `TOUCHPATH_BENCH_USERS`
//! sets its size (default 50 000 users, about 280 000 events).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use touchpath::aggregate::Aggregates;
use touchpath::attribution::attribute;
use touchpath::bucket::Bucket;
use touchpath::config::Mode;
use touchpath::event_log::EventLog;
use touchpath::generate::{GenerateOptions, generate};
use touchpath::ingest::{discover, ingest_bucket, ingest_events};
use touchpath::journey::Journeys;
use touchpath::models::Incremental;
use touchpath::models::{self, AttributionModel, Markov, Shapley};
use touchpath::progress::Silent;
use touchpath::report::Reports;
use touchpath::state::{Buckets, State};
use touchpath::{Config, FileFormat};

fn users() -> u64 {
    std::env::var("TOUCHPATH_BENCH_USERS").ok().and_then(|value| value.parse().ok()).unwrap_or(50_000)
}

fn pipeline(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let config = Config::default();
    let mut group = criterion.benchmark_group("ingest");
    group.sample_size(10);
    let mut parquet_files = Vec::new();
    for format in [FileFormat::Csv, FileFormat::Parquet] {
        let out = directory.path().join(format.extension());
        let report = generate(
            &GenerateOptions { users: users(), seed: 7, dirty: false, format, ..GenerateOptions::default() },
            &out,
        )
        .expect("the generator writes the log");
        let files = discover(&[out.join(format!("events.{}", format.extension()))]).expect("the log exists");
        group.throughput(Throughput::Elements(report.events_written));
        group.bench_function(format.extension(), |bencher| {
            bencher.iter(|| ingest_events(&files, &config, i64::MAX).expect("the log ingests"));
        });
        if format == FileFormat::Parquet {
            parquet_files = files;
        }
    }
    group.finish();

    let log = ingest_events(&parquet_files, &config, i64::MAX).expect("the log ingests").log;
    let mut group = criterion.benchmark_group("journeys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(log.len() as u64));
    group.bench_function("build", |bencher| bencher.iter(|| Journeys::build(&log, config.lookback)));
    group.finish();

    // The log and its journeys as postcard bytes, as the spill files, states
    // and credits encode them (`touchpath::format`'s `encode` appends through
    // `Extend`), and through postcard's own vector.
    let journeys = Journeys::build(&log, config.lookback);
    let mut group = criterion.benchmark_group("encode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(log.len() as u64));
    group.bench_function("to_extend", |bencher| {
        bencher.iter(|| postcard::to_extend(&(&log, &journeys), Vec::new()).expect("the log encodes"));
    });
    group.bench_function("to_stdvec", |bencher| {
        bencher.iter(|| postcard::to_stdvec(&(&log, &journeys)).expect("the log encodes"));
    });
    group.finish();

    // Every sum the models are fitted on and the reports read, in the one
    // walk over the journeys a run makes.
    let mut group = criterion.benchmark_group("counts");
    group.sample_size(10);
    group.throughput(Throughput::Elements(journeys.len() as u64));
    group.bench_function("one_walk", |bencher| {
        bencher.iter(|| Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest()));
    });
    group.finish();
    let aggregates = Aggregates::compute(&log, &journeys, &config, Mode::Attribute, log.latest());
    models_group(criterion, &log, &journeys, &aggregates, &config);
    bootstrap_group(criterion, &log, &journeys);
    let first_order = aggregates.first_order.chain(1);
    let hazard = models::Hazard::Counts(&aggregates.hazard);
    let all =
        models::build(&config, &first_order, None, &aggregates.coalitions, hazard).expect("the default models exist");
    let credits = attribute(&log, &journeys, &all, &config);
    let halves: Vec<State> = (0..2)
        .map(|index| {
            let bucket = Bucket::new(index, 2).expect("a bucket");
            let events =
                ingest_bucket(&parquet_files, &config, i64::MAX, Some(bucket), &Silent).expect("the log ingests");
            State::count(events, None, Buckets::one(bucket), &config, Mode::Attribute, i64::MAX, None)
        })
        .collect();
    let mut group = criterion.benchmark_group("merge");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2));
    group.bench_function("credit_states", |bencher| {
        bencher.iter(|| credits.clone().merge(credits.clone()));
    });
    // Two states of counts (no events): their dictionaries renumbered and
    // their sums added, copies included.
    group.bench_function("bucket_states", |bencher| {
        bencher.iter(|| halves[0].clone().merge(halves[1].clone()).expect("the halves merge"));
    });
    group.finish();
}

/// Each model's credit alone and the models together; the data-driven
/// models fitted on the counts of the one walk, then crediting.
fn models_group(
    criterion: &mut Criterion,
    log: &EventLog,
    journeys: &Journeys,
    aggregates: &Aggregates,
    config: &Config,
) {
    let mut group = criterion.benchmark_group("models");
    group.sample_size(10);
    group.throughput(Throughput::Elements(journeys.len() as u64));
    for model in models::registry(config) {
        let single: Vec<Box<dyn AttributionModel>> = vec![model];
        group.bench_with_input(BenchmarkId::new("attribute", single[0].name()), &single, |bencher, single| {
            bencher.iter(|| attribute(log, journeys, single, config));
        });
    }
    let rule_based = models::registry(config);
    group.bench_function("rule_based_together", |bencher| {
        bencher.iter(|| attribute(log, journeys, &rule_based, config));
    });
    // The data-driven models fitted on the counts of the one walk, then
    // crediting.
    group.bench_function("data_driven_together_with_fitting", |bencher| {
        bencher.iter(|| {
            let chain = aggregates.first_order.chain(1);
            let data_driven: Vec<Box<dyn AttributionModel>> = vec![
                Box::new(Markov::new(&chain).expect("the chain converges")),
                Box::new(Shapley::from_coalitions(&aggregates.coalitions)),
            ];
            attribute(log, journeys, &data_driven, config)
        });
    });
    group.bench_function("markov_fit_and_attribute", |bencher| {
        bencher.iter(|| {
            let chain = aggregates.first_order.chain(1);
            let markov: Vec<Box<dyn AttributionModel>> =
                vec![Box::new(Markov::new(&chain).expect("the chain converges"))];
            attribute(log, journeys, &markov, config)
        });
    });
    group.bench_function("shapley_fit_and_attribute", |bencher| {
        bencher.iter(|| {
            let shapley: Vec<Box<dyn AttributionModel>> =
                vec![Box::new(Shapley::from_coalitions(&aggregates.coalitions))];
            attribute(log, journeys, &shapley, config)
        });
    });
    let memory = config.rate_memory().memory();
    group.bench_function("incremental_fit_and_attribute", |bencher| {
        bencher.iter(|| {
            let fitted: Vec<Box<dyn AttributionModel>> = vec![Box::new(Incremental::fit(&aggregates.hazard, memory))];
            attribute(log, journeys, &fitted, config)
        });
    });
    group.finish();
}

/// Both passes and the reports of the rule-based models, `markov` and
/// `shapley`, without replicates and with 200: what `--bootstrap 200` adds
/// (replicate counts, weighted credit, refits and percentiles).
fn bootstrap_group(criterion: &mut Criterion, log: &EventLog, journeys: &Journeys) {
    let mut group = criterion.benchmark_group("bootstrap");
    group.sample_size(10);
    group.throughput(Throughput::Elements(journeys.len() as u64));
    let names: Vec<String> =
        models::names().into_iter().filter(|name| *name != Incremental::NAME).map(str::to_owned).collect();
    for replicates in [0, 200] {
        let config = Config { bootstrap: replicates, models: names.clone(), ..Config::default() };
        group.bench_with_input(BenchmarkId::new("passes_and_reports", replicates), &config, |bencher, config| {
            bencher.iter(|| {
                let aggregates = Aggregates::compute(log, journeys, config, Mode::Attribute, log.latest());
                Reports::compute(log, journeys, &aggregates, config, &[], 10).expect("the models exist")
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
