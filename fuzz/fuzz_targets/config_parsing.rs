//! Arbitrary bytes as a configuration file, through `Config::load` and
//! `Config::validate` as the binary runs them: nothing may panic, every
//! refusal is the user's error, and a valid configuration survives being
//! written out and read back.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tempfile::TempDir;
use touchpath::{Config, Error, models};

fn scratch() -> &'static TempDir {
    static DIRECTORY: OnceLock<TempDir> = OnceLock::new();
    DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

fn assert_user_error(error: &Error) {
    assert!(!matches!(error, Error::Internal(_)), "internal error: {error}");
    assert!(error.is_user_error(), "not a user error: {error}");
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().path().join("touchpath.toml");
    std::fs::write(&path, data).expect("the config is written");
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(error) => return assert_user_error(&error),
    };
    if let Err(error) = config.validate() {
        return assert_user_error(&error);
    }
    match models::selected(&config) {
        Ok(selected) => {
            for model in &selected {
                let _ = model.formula();
            }
        }
        Err(error) => assert_user_error(&error),
    }
    let written = toml::to_string(&config).expect("a valid config serialises");
    let reread: Config = toml::from_str(&written).unwrap_or_else(|error| panic!("{written}\n{error}"));
    assert_eq!(reread, config, "{written}");
});
