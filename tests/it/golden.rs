//! Golden cases: `datasets/golden/<case>/` holds `events.csv`, optionally
//! `spend.csv` and `touchpath.toml`, and `expected/` with the report files a
//! run must write, byte for byte. The expected files were checked by hand
//! (see `docs/models.md` for the small case worked through), except the
//! rows of `incremental`, whose fit on four users is not a hand computation:
//! they guard against regressions, and the model's formulas are checked by
//! hand in the unit tests of `src/models/incremental/`. Its credit still
//! adds up to the same conversions and revenue as every other model's.
//!
//! After an intended change of output, `TOUCHPATH_UPDATE_GOLDEN=1 cargo
//! nextest run golden` rewrites them; review the diff before committing.

use std::fs;
use std::path::Path;

use touchpath::Config;

use crate::support::Workspace;

fn check_case(name: &str) {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/golden").join(name);
    let config_path = case.join("touchpath.toml");
    let config = if config_path.is_file() { Config::load(&config_path).unwrap() } else { Config::default() };
    let spend: Vec<_> = [case.join("spend.csv")].into_iter().filter(|path| path.is_file()).collect();
    let workspace = Workspace::new();
    workspace.run(&[case.join("events.csv")], &spend, &config).unwrap();

    let update = std::env::var_os("TOUCHPATH_UPDATE_GOLDEN").is_some();
    let mut compared = 0;
    for entry in fs::read_dir(case.join("expected")).unwrap() {
        let expected_path = entry.unwrap().path();
        let file_name = expected_path.file_name().unwrap().to_str().unwrap().to_owned();
        let actual = workspace.read(&format!("out/{file_name}"));
        if update {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap();
        for (line, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
            assert_eq!(got, want, "{name}/{file_name}, line {}", line + 1);
        }
        assert_eq!(actual.lines().count(), expected.lines().count(), "{name}/{file_name}: number of lines");
        compared += 1;
    }
    assert!(update || compared >= 4, "{name}: only {compared} expected files");
}

#[test]
fn small_case_all_models() {
    check_case("small");
}

#[test]
fn period_case_selects_conversions_and_spend_by_date() {
    check_case("period");
}
