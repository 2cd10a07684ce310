//! The kernel of a run over partitions of users (what Spark's executors
//! run, see `touchpath::partitions`), driven in-process: any split of the
//! users into partitions, with the rows of each in any order, gives the
//! bytes of a single run over the whole table.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use polars::prelude::{CsvReadOptions, DataFrame, IntoColumn, NamedFrom, SerReader, Series};
use touchpath::aggregate::PathTotals;
use touchpath::config::Config;
use touchpath::generate::{GenerateOptions, generate};
use touchpath::ingest::{self, SourceFile};
use touchpath::models::incremental::Request as FitRequest;
use touchpath::partitions::{self, Driver, Fitted, Job, KEY_COLUMN, ROW_COLUMN, Shard};
use touchpath::run::{self, Request};
use touchpath::{FileFormat, Result};

use crate::support::{Workspace, files};

/// A CSV file read as the command line reads it: every column text.
fn read_text(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_owned()))
        .unwrap()
        .finish()
        .unwrap()
}

/// The log's rows split into `count` partitions by their key (as an
/// engine's hash partitioner splits them), each with the row column and its
/// rows in reverse order (an engine gives them in any order).
fn partitions(log: &DataFrame, count: u32) -> Vec<DataFrame> {
    let job = Job { config: Config::default(), now: i64::MAX };
    let keys = partitions::user_keys(&job, log.clone()).unwrap();
    let keys = keys.column(KEY_COLUMN).unwrap().i64().unwrap().clone();
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); count as usize];
    for (row, key) in keys.into_no_null_iter().enumerate() {
        let partition = key.unsigned_abs() % u64::from(count);
        rows[usize::try_from(partition).unwrap()].push(u32::try_from(row).unwrap());
    }
    rows.into_iter()
        .map(|mut indices| {
            indices.reverse();
            let index = polars::prelude::IdxCa::from_vec("index".into(), indices.clone());
            let mut part = log.take(&index).unwrap();
            let records: Vec<u64> = indices.iter().map(|&row| u64::from(row)).collect();
            part.with_column(Series::new(ROW_COLUMN.into(), records).into_column()).unwrap();
            part
        })
        .collect()
}

/// The three passes of a distributed run over `parts`, into `out`; with
/// the fit broadcast to the partitions.
fn distributed(parts: &[DataFrame], spend: &Path, config: &Config, request: &Request) -> Result<(run::Report, Fitted)> {
    let job = Job { config: config.clone(), now: request.now };
    let job = Job::decode(&job.encode()?)?;
    let count = u32::try_from(parts.len()).unwrap();
    let end = if job.needs_end() {
        parts
            .iter()
            .map(|part| partitions::latest(&job, part.clone()))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .max()
            .flatten()
    } else {
        None
    };
    let (mut states, mut patterns) = (Vec::new(), Vec::new());
    let mut bars = Vec::new();
    let mut paths: BTreeMap<(&'static str, String), (String, PathTotals)> = BTreeMap::new();
    // Partitions reported in reverse, as an engine may.
    for (index, part) in parts.iter().enumerate().rev() {
        let counted = partitions::count(&job, u32::try_from(index).unwrap(), count, end, part.clone())?;
        states.push(counted.state);
        patterns.push(counted.patterns);
        bars.extend(counted.bars);
        for row in counted.paths {
            paths.entry((row.kind, row.key)).or_insert_with(|| (row.name, PathTotals::default())).1.add(row.totals);
        }
    }
    let spend = ingest::ingest_spend(&ingest::discover(&[spend.to_owned()])?, config)?;
    let mut driver = Driver::merge(job, &states, Some(spend))?;
    let fit = fit(&mut driver, &patterns)?;
    let fitted = Fitted::decode(&fit)?;
    let mut tallies = Vec::new();
    for part in parts {
        let credited = partitions::credit(&fitted, part.clone())?;
        tallies.push(credited.tally);
        bars.extend(credited.bars);
    }
    let (mut channel_paths, mut stage_paths) = (Vec::new(), Vec::new());
    for ((kind, _), row) in paths {
        if kind == "channel" { channel_paths.push(row) } else { stage_paths.push(row) }
    }
    let report = driver.finish(&tallies, channel_paths, stage_paths, partitions::medians_of(&bars), request)?;
    Ok((report, fitted))
}

/// The driver's fit, `incremental`'s answered as an engine answers it:
/// each partition's purchase patterns split into shards, each shard's parts
/// added up in any order, each request answered shard by shard (the shards
/// in reverse order), eight line-search steps asked for at a time where a
/// single run asks for one.
fn fit(driver: &mut Driver, patterns: &[Vec<u8>]) -> Result<Vec<u8>> {
    if let Some(index) = driver.pattern_index()? {
        let mut shards: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for part in patterns.iter().rev() {
            for (shard, bytes) in partitions::pattern_shards(&index, part)? {
                let merged = match shards.remove(&shard) {
                    Some(held) => partitions::merge_shards(&bytes, &held)?,
                    None => bytes,
                };
                shards.insert(shard, merged);
            }
        }
        assert!(shards.len() > 1, "the patterns are spread over shards");
        let shards: Vec<(u32, Shard)> = shards
            .into_iter()
            .rev()
            .map(|(shard, bytes)| Ok((shard, Shard::decode(&bytes)?)))
            .collect::<Result<_>>()?;
        while let Some(request) = driver.fit_request(8)? {
            let answers = shards
                .iter()
                .map(|(index, shard)| Ok((*index, shard.answer(&request)?)))
                .collect::<Result<Vec<_>>>()?;
            driver.fit_answer(&partitions::add_answers(&request, answers)?)?;
        }
    }
    driver.fit()
}

#[test]
fn partitions_in_any_number_and_order_give_the_bytes_of_a_single_run() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(
        &GenerateOptions { users: 1_500, seed: 11, dirty: true, format: FileFormat::Csv, ..GenerateOptions::default() },
        &data,
    )
    .unwrap();
    let log = read_text(&data.join("events.csv"));
    let spend = data.join("spend.csv");
    let config = Config::default();

    let mut single = Request::new(Vec::new(), workspace.path("single"));
    single.spend = vec![spend.clone()];
    single.now = 1_900_000_000_000_000;
    single.event_tables = vec![SourceFile::in_memory(partitions::EVENTS_TABLE, log.clone())];
    single.journeys_out = Some(workspace.path("journeys.parquet"));
    let expected = run::run(&single, &config).unwrap();
    single.journeys_out = None;
    assert!(expected.summary.rows.rejected > 0 && expected.summary.rows.duplicates > 0, "a dirty log");
    let expected = files(&expected.out);

    for count in [1, 3, 8] {
        let request =
            Request { out: workspace.path(&format!("parts-{count}")), event_tables: Vec::new(), ..single.clone() };
        let parts = partitions(&log, count);
        let (report, fitted) = distributed(&parts, &spend, &config, &request).unwrap();
        let actual = files(&report.out);
        assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>());
        for (name, bytes) in &expected {
            assert!(bytes == &actual[name], "{count} partitions: {name} differs");
        }
        // The per-conversion rows: the single run's, split among the
        // partitions, each partition's in user-id order.
        let mut rows = Vec::new();
        for part in &parts {
            let table = partitions::journeys(&fitted, part.clone()).unwrap();
            let part_rows = lines(&table);
            let users: Vec<&str> = part_rows.iter().map(|row| row.split('\t').next().unwrap()).collect();
            assert!(users.is_sorted(), "rows in user-id order");
            rows.extend(part_rows);
        }
        let file = fs::File::open(workspace.path("journeys.parquet")).unwrap();
        let mut want = lines(&polars::prelude::ParquetReader::new(file).finish().unwrap());
        assert!(want.len() > 300);
        want.sort();
        rows.sort();
        assert!(rows == want, "{count} partitions: the journeys differ");
    }
}

/// Each row of a table as its values joined by tabs.
fn lines(table: &DataFrame) -> Vec<String> {
    (0..table.height())
        .map(|row| {
            let values: Vec<String> =
                table.columns().iter().map(|column| column.to_physical_repr().get(row).unwrap().to_string()).collect();
            values.join("\t")
        })
        .collect()
}

#[test]
fn a_missing_partition_is_refused() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(
        &GenerateOptions { users: 200, seed: 3, dirty: false, format: FileFormat::Csv, ..GenerateOptions::default() },
        &data,
    )
    .unwrap();
    let log = read_text(&data.join("events.csv"));
    let config = Config::default();
    let request = Request::new(Vec::new(), workspace.path("out"));
    let job = Job { config, now: request.now };
    let parts = partitions(&log, 3);
    let count = |index: u32, end: Option<i64>| partitions::count(&job, index, 3, end, parts[index as usize].clone());
    // Each partition ends the log's time where its own rows end, unless
    // told where the whole log's ends: the merge notices.
    let states: Vec<Vec<u8>> = (0..3).map(|index| count(index, None).unwrap().state).collect();
    let error = Driver::merge(job.clone(), &states, None).err().unwrap().to_string();
    assert!(error.contains("different ends of the log's time"), "{error}");

    let end = parts.iter().map(|part| partitions::latest(&job, part.clone()).unwrap()).max().flatten();
    let states: Vec<Vec<u8>> = [0, 2].iter().map(|&index| count(index, end).unwrap().state).collect();
    let error = Driver::merge(job.clone(), &states, None).err().unwrap().to_string();
    assert!(error.contains("partitions [1] of 3 were not counted"), "{error}");
    let twice = vec![states[0].clone(), states[0].clone()];
    let error = Driver::merge(job, &twice, None).err().unwrap().to_string();
    assert!(error.contains("bucket 0/3 is in two of the states"), "{error}");
}

#[test]
fn the_incremental_fit_must_be_driven_to_its_end_by_whole_answers() {
    let workspace = Workspace::new();
    let data = workspace.path("data");
    generate(
        &GenerateOptions { users: 300, seed: 5, dirty: false, format: FileFormat::Csv, ..GenerateOptions::default() },
        &data,
    )
    .unwrap();
    let log = read_text(&data.join("events.csv"));
    let request = Request::new(Vec::new(), workspace.path("out"));
    let job = Job { config: Config::default(), now: request.now };
    let parts = partitions(&log, 2);
    let end = parts.iter().map(|part| partitions::latest(&job, part.clone()).unwrap()).max().flatten();
    let counted: Vec<partitions::Counted> =
        (0..2).map(|index| partitions::count(&job, index, 2, end, parts[index as usize].clone()).unwrap()).collect();
    let states: Vec<Vec<u8>> = counted.iter().map(|counted| counted.state.clone()).collect();
    let mut driver = Driver::merge(job, &states, None).unwrap();

    // Not started, or started and not answered: no fit to broadcast.
    let error = driver.fit().err().unwrap().to_string();
    assert!(error.contains("incremental's fit was not run to its end"), "{error}");
    let index = driver.pattern_index().unwrap().unwrap();
    let request = driver.fit_request(8).unwrap().unwrap();
    let (shard, bytes) = partitions::pattern_shards(&index, &counted[0].patterns).unwrap().remove(0);
    let answer = Shard::decode(&bytes).unwrap().answer(&request).unwrap();
    // A request of another size of rate terms is refused, not a panic.
    let (terms, _): (u32, FitRequest) = postcard::from_bytes(&request).unwrap();
    let shorter =
        postcard::to_stdvec(&(terms, FitRequest::LogLikelihood { thetas: vec![vec![1.0]], newton: None })).unwrap();
    let error = Shard::decode(&bytes).unwrap().answer(&shorter).err().unwrap().to_string();
    assert!(error.contains("does not match the shard's rate terms"), "{error}");
    // A shard answering twice is refused rather than counted twice.
    let error =
        partitions::add_answers(&request, vec![(shard, answer.clone()), (shard, answer.clone())]).err().unwrap();
    assert!(error.to_string().contains("answered twice"), "{error}");
    // An answer to another request is refused, and the request stands.
    let other = partitions::add_answers(&request, vec![(shard, answer)]).unwrap();
    driver.fit_answer(&other).unwrap();
    let next = driver.fit_request(8).unwrap().unwrap();
    assert!(driver.fit_answer(&other).is_err(), "the answer to the start does not answer the start's likelihood");
    assert_eq!(driver.fit_request(8).unwrap().unwrap(), next);
    let error = driver.fit().err().unwrap().to_string();
    assert!(error.contains("incremental's fit was not run to its end"), "{error}");
}
