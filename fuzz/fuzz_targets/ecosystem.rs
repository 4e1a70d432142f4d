//! Arbitrary text as an ecosystem file: the YAML/JSON parser under its budget and the
//! validator, with and without `--env production`. Errors are fine; panics are not, and every
//! problem must be rendered without panicking (that is what the CLI prints).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use svctl::config::{LoadOptions, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/tmp/fuzz/eco.yaml");
    for opts in [
        LoadOptions::default(),
        LoadOptions {
            env_name: Some("production".to_string()),
        },
    ] {
        match load_str(text, file, &opts) {
            Ok(loaded) => {
                // What the CLI sends to the daemon must serialize.
                let _ = serde_json::to_vec(&loaded.apps).expect("specs serialize");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
