//! Throughput of ingest and journey building on a seeded synthetic log.
//!
//! The log is generated once, outside the timed loops.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use touchpath::generate::{GenerateOptions, generate};
use touchpath::ingest::{discover, ingest_events};
use touchpath::journey::Journeys;
use touchpath::{Config, FileFormat};

const USERS: u64 = 50_000;

fn pipeline(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut group = criterion.benchmark_group("pipeline");
    group.sample_size(10);
    for format in [FileFormat::Csv, FileFormat::Parquet] {
        let out = directory.path().join(format.extension());
        let report = generate(&GenerateOptions { users: USERS, seed: 7, dirty: false, format }, &out)
            .expect("the generator writes the log");
        let files = discover(&[out.join(format!("events.{}", format.extension()))]).expect("the log exists");
        let config = Config::default();
        group.throughput(Throughput::Elements(report.events_written));
        group.bench_function(format!("ingest_{format}"), |bencher| {
            bencher.iter(|| ingest_events(&files, &config, i64::MAX).expect("the log ingests"));
        });
        if format == FileFormat::Csv {
            let ingest = ingest_events(&files, &config, i64::MAX).expect("the log ingests");
            group.bench_function("journeys", |bencher| {
                bencher.iter(|| Journeys::build(&ingest.log, config.lookback));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
