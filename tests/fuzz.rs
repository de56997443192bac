//! Replays the fuzz seeds and every past finding (`fuzz/regressions/TARGET/`) through the code
//! the cargo-fuzz targets run, so a fixed crash stays fixed without cargo-fuzz installed.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|f| f == ".gitkeep") {
                continue;
            }
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no seeds for fuzz target {target}");
}

#[test]
fn token_seeds_and_findings() {
    replay("token", tokengate::fuzz::token);
}

#[test]
fn route_seeds_and_findings() {
    replay("route", tokengate::fuzz::route);
}

#[test]
fn config_seeds_and_findings() {
    replay("config", tokengate::fuzz::config);
}

#[test]
fn request_seeds_and_findings() {
    replay("request", tokengate::fuzz::request);
}

#[test]
fn import_seeds_and_findings() {
    replay("import", tokengate::fuzz::import);
}

#[test]
fn check_request_seeds_and_findings() {
    replay("check_request", tokengate::fuzz::check_request);
}
