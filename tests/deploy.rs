//! The shipped Prometheus rules and Grafana dashboard load in the real tools' validators and
//! only name metrics tokengate exports.

use tokengate::testkit as common;

use common::tool;
use tokengate::metrics as m;

const NAMES: [&str; 8] = [
    m::CHECKS,
    m::CHECK_DURATION,
    m::TOKEN_CACHE_REQUESTS,
    m::TOKEN_CACHE_ENTRIES,
    m::JWKS_REFRESHES,
    m::JWKS_KEYS,
    m::JWKS_AGE,
    m::CONFIG_RELOADS,
];

/// Every `tokengate_*` identifier in a text, which must be a metric (or histogram series) we export.
fn assert_known_metrics(text: &str, what: &str) {
    let mut found = 0;
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("tokengate_") {
            let base = word
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            assert!(
                NAMES.contains(&base) || NAMES.contains(&word),
                "{what} names unknown metric {word}"
            );
            found += 1;
        }
    }
    assert!(found > 0, "{what} names no metric");
}

#[test]
fn alert_rules_pass_promtool_and_name_real_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
    assert_known_metrics(&std::fs::read_to_string(path).unwrap(), "alerts.yml");
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let out = std::process::Command::new(promtool)
        .args(["check", "rules", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_grafana_dashboard_is_valid_json_with_real_queries() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/dashboard.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let titles: Vec<_> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in [
        "Decisions by reason",
        "Deny rate",
        "Check latency",
        "Token cache hit ratio",
        "JWKS key age",
    ] {
        assert!(titles.contains(&want), "{want} panel");
    }
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            assert_known_metrics(t["expr"].as_str().expect("expr"), "dashboard");
        }
    }
    assert!(
        text.contains("histogram_quantile(0.99"),
        "latency quantiles come from the histogram"
    );
}
