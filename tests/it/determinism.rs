//! The same events give the same bytes: whatever the thread count, the row
//! order, the split into files or the file format.

use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use touchpath::FileFormat;
use touchpath::generate::{GenerateOptions, generate};

use crate::support::{Workspace, stderr};

const REPORTS: [&str; 4] = ["channels.csv", "campaigns.csv", "stages.csv", "kpis.csv"];

fn run(workspace: &Workspace, out: &str, args: &[&str]) -> Vec<String> {
    let mut full = vec!["run", "--out", out, "--format", "csv"];
    full.extend_from_slice(args);
    let output = workspace.touchpath(&full);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut files: Vec<String> = REPORTS.iter().map(|name| workspace.read(&format!("{out}/{name}"))).collect();
    // The summary names the input files; everything else in it must agree.
    let mut summary: serde_json::Value = serde_json::from_str(&workspace.read(&format!("{out}/summary.json"))).unwrap();
    summary.as_object_mut().unwrap().remove("inputs");
    files.push(summary.to_string());
    files.push(String::from_utf8(output.stdout).unwrap());
    files
}

fn generated(workspace: &Workspace, format: FileFormat) -> std::path::PathBuf {
    let directory = workspace.path(format.extension());
    generate(&GenerateOptions { users: 3_000, seed: 11, dirty: false, format }, &directory).unwrap();
    directory
}

fn assert_same(expected: &[String], actual: &[String], what: &str) {
    for (index, (want, got)) in expected.iter().zip(actual).enumerate() {
        assert!(want == got, "{what}: output {index} differs");
    }
}

#[test]
fn thread_count_row_order_files_and_format_do_not_change_the_output() {
    let workspace = Workspace::new();
    let csv = generated(&workspace, FileFormat::Csv);
    let parquet = generated(&workspace, FileFormat::Parquet);
    let events = csv.join("events.csv");
    let spend = csv.join("spend.csv");
    let (events, spend) = (events.to_str().unwrap(), spend.to_str().unwrap());

    let baseline = run(&workspace, "out-one-thread", &["--events", events, "--spend", spend, "--threads", "1"]);
    assert!(baseline[0].lines().count() > 50, "a real report: {}", baseline[0]);

    let two = run(&workspace, "out-two-threads", &["--events", events, "--spend", spend, "--threads", "2"]);
    assert_same(&baseline, &two, "2 threads");

    let split = shuffle_and_split(Path::new(events), &workspace.path("split"), 3);
    let split_run =
        run(&workspace, "out-split", &["--events", split.to_str().unwrap(), "--spend", spend, "--threads", "2"]);
    assert_same(&baseline, &split_run, "shuffled rows in 3 files");

    let parquet_events = parquet.join("events.parquet");
    let parquet_spend = parquet.join("spend.parquet");
    let parquet_run = run(
        &workspace,
        "out-parquet",
        &["--events", parquet_events.to_str().unwrap(), "--spend", parquet_spend.to_str().unwrap()],
    );
    assert_same(&baseline, &parquet_run, "Parquet");
}

/// Writes the rows of a CSV file, shuffled, into `parts` files in `directory`.
fn shuffle_and_split(source: &Path, directory: &Path, parts: usize) -> std::path::PathBuf {
    let text = fs::read_to_string(source).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    fs::create_dir_all(directory).unwrap();
    let size = lines.len().div_ceil(parts);
    for (index, chunk) in lines.chunks(size).enumerate() {
        fs::write(directory.join(format!("part-{index}.csv")), format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
    }
    directory.to_owned()
}
