//! A run that fails or is killed leaves the previous report exactly as it
//! was, and nothing half-written is ever visible.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Workspace, files, stderr};

/// The names in a directory, hidden ones included.
fn names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// When the run is killed.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// This long after it started: while it reads and attributes.
    After(Duration),
    /// As soon as its staging directory appears: while it writes the report.
    StagingCreated,
    /// As soon as its journeys file is being written: the report is complete
    /// in the staging directory but not yet published.
    JourneysStarted,
}

fn reached(point: KillPoint, workspace: &Path, pid: u32, started: Instant) -> bool {
    let has = |prefix: String| names(workspace).iter().any(|name| name.starts_with(&prefix));
    match point {
        KillPoint::After(delay) => started.elapsed() >= delay,
        KillPoint::StagingCreated => has(format!(".report.tmp-{pid}-")),
        KillPoint::JourneysStarted => has(format!(".journeys.csv.tmp-{pid}-")),
    }
}

#[test]
fn a_killed_run_leaves_the_previous_report_intact() {
    let workspace = Workspace::new();
    let generated = workspace.touchpath(&["generate", "--users", "40000", "--seed", "5", "--out", "data"]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let inputs = ["run", "--events", "data/events.csv", "--spend", "data/spend.csv", "--out", "report"];
    let first = workspace.touchpath(&[&inputs[..], &["--lookback", "7d"]].concat());
    assert!(first.status.success(), "{}", stderr(&first));
    let before = files(&workspace.path("report"));

    let points = [
        KillPoint::After(Duration::from_millis(30)),
        KillPoint::After(Duration::from_millis(300)),
        KillPoint::StagingCreated,
        KillPoint::JourneysStarted,
    ];
    for point in points {
        let mut child = Command::new(env!("CARGO_BIN_EXE_touchpath"))
            .args(inputs)
            .args(["--journeys-out", "journeys.csv"])
            .current_dir(workspace.directory.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !reached(point, workspace.directory.path(), child.id(), started) {
            let ended = child.try_wait().unwrap();
            assert!(ended.is_none(), "{point:?}: the run ended ({ended:?}) before it could be killed there");
            assert!(started.elapsed() < Duration::from_secs(120), "{point:?}: never reached");
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        assert!(before == files(&workspace.path("report")), "{point:?}: the previous report changed");
        let visible: Vec<String> =
            names(workspace.directory.path()).into_iter().filter(|name| !name.starts_with('.')).collect();
        assert_eq!(visible, ["data", "report"], "{point:?}: nothing new is visible");
    }
    assert!(
        names(workspace.directory.path()).iter().any(|name| name.starts_with(".report.tmp-")),
        "killed runs leave their staging directories"
    );

    // The next run removes what the killed runs left and publishes whole.
    let last = workspace.touchpath(&[&inputs[..], &["--journeys-out", "journeys.csv"]].concat());
    assert!(last.status.success(), "{}", stderr(&last));
    assert_eq!(names(workspace.directory.path()), ["data", "journeys.csv", "report"]);
    assert_eq!(workspace.summary_of("report")["config"]["lookback"], "30d");
    assert_eq!(
        names(&workspace.path("report")).into_iter().collect::<Vec<_>>(),
        before.keys().cloned().collect::<Vec<_>>()
    );
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_previous_report() {
    let workspace = Workspace::new();
    let generated = workspace.touchpath(&["generate", "--users", "2000", "--seed", "5", "--out", "data"]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let inputs = ["run", "--events", "data/events.csv", "--out", "report"];
    let first = workspace.touchpath(&inputs);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = files(&workspace.path("report"));

    // A file size limit of 8 KiB makes writes fail as on a full disk
    // (EFBIG); the shell ignores SIGXFSZ so that the write returns an error
    // instead of killing the process.
    let output = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_touchpath"))
        .args(inputs)
        .args(["--lookback", "7d"])
        .current_dir(workspace.directory.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.starts_with("error: ") && message.contains("File too large"), "{message}");
    assert!(message.contains(".report.tmp-"), "the message names the file: {message}");
    assert!(before == files(&workspace.path("report")), "the previous report is intact");
    assert_eq!(names(workspace.directory.path()), ["data", "report"], "the staging directory is removed");
}

#[test]
fn an_output_directory_that_cannot_be_written_is_a_clear_error() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    // A path below a regular file can never be created, whoever runs the test.
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "events.csv/report"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message
            .starts_with("error: events.csv: is a file, so the output directory events.csv/report cannot be created"),
        "{message}"
    );

    let locked = workspace.path("locked");
    fs::create_dir(&locked).unwrap();
    let mut permissions = fs::metadata(&locked).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o555);
    fs::set_permissions(&locked, permissions).unwrap();
    if fs::write(locked.join("probe"), b"").is_ok() {
        // Running as root: permissions do not apply, nothing more to check.
        return;
    }
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "locked/report"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.starts_with("error: locked: ") && message.contains("Permission denied"), "{message}");
}

#[test]
fn a_directory_of_other_files_is_never_replaced() {
    let workspace = Workspace::new();
    workspace.write("events.csv", "user_id,timestamp,channel\nu,2026-01-01T00:00:00Z,email\n");
    workspace.write("home/thesis.tex", "precious");
    let output = workspace.touchpath(&["run", "--events", "events.csv", "--out", "home"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("holds no touchpath report or state (no summary.json or state.json); refusing to replace it")
    );
    assert_eq!(workspace.read("home/thesis.tex"), "precious");
}
