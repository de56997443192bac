//! The shipped Prometheus rules and Grafana dashboard load in the real tools' validators and
//! only name metrics tokengate exports.

use tokengate::testkit as common;

use common::tool;
use tokengate::decision::Reason;
use tokengate::metrics as m;

const NAMES: [&str; 12] = [
    m::CHECKS,
    m::CHECK_DURATION,
    m::TOKEN_CACHE_REQUESTS,
    m::TOKEN_CACHE_ENTRIES,
    m::JWKS_REFRESHES,
    m::JWKS_KEYS,
    m::JWKS_AGE,
    m::CONFIG_RELOADS,
    m::REVOCATIONS,
    m::REVOCATION_RELOADS,
    m::LOG_LINES_DROPPED,
    m::CONNECTIONS,
];

/// The deny reasons a PromQL text selects (`reason="x"`, `reason=~"x|y"`), each checked to be one
/// of tokengate's reasons.
fn named_reasons(text: &str, what: &str) -> Vec<Reason> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("reason=") {
        let rest = text[i + "reason=".len()..].trim_start_matches('~');
        let Some(quoted) = rest.strip_prefix('"') else {
            continue;
        };
        let value = &quoted[..quoted.find('"').expect("closing quote")];
        for label in value.split('|') {
            let reason = Reason::ALL
                .into_iter()
                .find(|r| r.as_str() == label)
                .unwrap_or_else(|| panic!("{what} names unknown reason {label:?}"));
            found.push(reason);
        }
    }
    found
}

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
    let text = std::fs::read_to_string(path).unwrap();
    assert_known_metrics(&text, "alerts.yml");
    let reasons = named_reasons(&text, "alerts.yml");
    for want in [
        Reason::BadRequest,
        Reason::Revoked,
        Reason::InsufficientScope,
        Reason::InsufficientClaims,
    ] {
        assert!(reasons.contains(&want), "an alert on {}", want.as_str());
    }
    for want in [
        "tokengate_revocation_reloads_total{result=\"error\"}",
        "tokengate_revocations <",
    ] {
        assert!(text.contains(want), "alerts.yml: {want}");
    }
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
        "Denials by answer",
        "Revocation list",
    ] {
        assert!(titles.contains(&want), "{want} panel");
    }
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr");
            assert_known_metrics(expr, "dashboard");
            named_reasons(expr, "dashboard");
        }
    }
    // Every deny reason is shown once, under the status it answers.
    let answers = panels
        .iter()
        .find(|p| p["title"] == "Denials by answer")
        .unwrap();
    let mut shown = Vec::new();
    for t in answers["targets"].as_array().unwrap() {
        let legend = t["legendFormat"].as_str().unwrap();
        for reason in named_reasons(t["expr"].as_str().unwrap(), "dashboard") {
            let status = reason.wire().http_status.to_string();
            assert!(
                legend.starts_with(&status),
                "{} is answered {status}, shown as {legend}",
                reason.as_str()
            );
            shown.push(reason);
        }
    }
    let denials: Vec<Reason> = Reason::ALL.into_iter().filter(|r| !r.is_allow()).collect();
    shown.sort_by_key(|r| r.as_str());
    let mut want = denials.clone();
    want.sort_by_key(|r| r.as_str());
    assert_eq!(shown, want, "each deny reason once in Denials by answer");
    let revocation = panels
        .iter()
        .find(|p| p["title"] == "Revocation list")
        .unwrap();
    let exprs = revocation["targets"].to_string();
    for metric in [m::REVOCATIONS, m::REVOCATION_RELOADS] {
        assert!(exprs.contains(metric), "Revocation list shows {metric}");
    }
    assert!(
        text.contains("histogram_quantile(0.99"),
        "latency quantiles come from the histogram"
    );
}
