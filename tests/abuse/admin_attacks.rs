//! Attacks on the admin listener's `/metrics`: scrape rate and series cardinality.

use std::net::SocketAddr;
use std::time::Duration;

use tokengate::pb::auth::authorization_client::AuthorizationClient;
use tokengate::testkit::check_request_with;
use tokio::time::Instant;

use crate::report::Outcome;
use crate::target::Target;

/// (12) `/metrics` at 1,000 scrapes a second for 3 s (8 clients, one every 8 ms each).
pub async fn scrapes(t: &Target) -> Outcome {
    const CLIENTS: usize = 8;
    let mut out = Outcome::default();
    let limit = Duration::from_secs(3);
    let url = format!("http://{}/metrics", t.admin);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let started = Instant::now();
                let mut tick = tokio::time::interval(Duration::from_millis(8));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let (mut ok, mut n) = (0, 0);
                while started.elapsed() < limit {
                    tick.tick().await;
                    n += 1;
                    let page = client
                        .get(&url)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    ok += usize::from(page.is_ok_and(|p| p.status() == 200));
                }
                (ok, n)
            })
        })
        .collect();
    let (mut ok, mut n) = (0, 0);
    for task in tasks {
        let (o, m) = task.await.unwrap();
        ok += o;
        n += m;
    }
    out.note(format!(
        "{ok}/{n} scrapes answered, {:.0} a second",
        ok as f64 / limit.as_secs_f64()
    ));
    out.check(ok * 100 >= n * 95, "scrapes are answered");
    out
}

/// Prometheus series on the page: lines that are neither comments nor blank.
async fn series(admin: SocketAddr) -> usize {
    let page = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// A small deterministic generator: the values only need to differ.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> String {
        format!("{:x}", self.next())
    }
}

/// One round of 600 requests whose every client-chosen value is new: methods, paths, headers,
/// tokens, claimed addresses, and `context_extensions` authorizers and scopes.
async fn odd_requests(t: &Target, rng: &mut Rng) {
    let web = reqwest::Client::new();
    let url = format!("http://{}", t.http);
    for i in 0..300 {
        let method = ["GET", "POST", "DELETE"][i % 3].to_owned();
        let method = if i % 4 == 0 {
            format!("M{}", rng.word())
        } else {
            method
        };
        let req = web
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{url}/{}/{}", rng.word(), rng.word()),
            )
            .header(format!("x-{}", rng.word()), rng.word())
            .header("x-real-ip", rng.word())
            .header(
                "authorization",
                format!("Bearer {}.{}.{}", rng.word(), rng.word(), rng.word()),
            );
        let _ = req.timeout(Duration::from_secs(2)).send().await;
    }
    let mut grpc = AuthorizationClient::connect(format!("http://{}", t.grpc))
        .await
        .unwrap();
    for i in 0..300 {
        let (path, header, value) = (
            format!("/{}", rng.word()),
            format!("x-{}", rng.word()),
            rng.word(),
        );
        let (authorizer, scopes) = (rng.word(), rng.word());
        let context: Vec<(&str, &str)> = if i % 2 == 0 {
            vec![("authorizer", &authorizer), ("scopes", &scopes)]
        } else {
            vec![(header.as_str(), value.as_str())]
        };
        let token = if i % 3 == 0 {
            t.token.clone()
        } else {
            format!("Bearer {}", rng.word())
        };
        let req = check_request_with(
            &rng.word(),
            &path,
            &[("authorization", &token), (&header, &value)],
            &context,
        );
        let _ = grpc.check(req).await;
    }
}

/// (12) Metric cardinality: two rounds of requests with fresh client-chosen values; the second
/// round adds no series.
pub async fn cardinality(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let before = series(t.admin).await;
    odd_requests(t, &mut rng).await;
    let first = series(t.admin).await;
    odd_requests(t, &mut rng).await;
    let second = series(t.admin).await;
    out.note(format!(
        "series: {before} at start, {first} after 600 odd requests, {second} after 600 more"
    ));
    out.check(second == first, "fresh client values add no series");
    out.check(second < 300, "the series count stays small");
    out
}
