//! h2load and wrk, run as they are and read from their own reports.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::proc::{which, write};

/// What an external load generator reported.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub requests: u64,
    pub rps: f64,
    /// Responses that were not 2xx, or errors.
    pub bad: u64,
    pub mean_us: f64,
    /// p50, p90, p99 in microseconds, where the tool gives them (wrk).
    pub pct_us: Option<[f64; 3]>,
}

/// `h2load` posting one framed `CheckRequest` for `secs` seconds.
pub async fn h2load(
    addr: SocketAddr,
    body: &Path,
    conns: usize,
    streams: usize,
    secs: u64,
) -> Option<Report> {
    let tool = which("h2load")?;
    let mut cmd = Command::new(tool);
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-m{streams}"),
        &format!("-D{secs}"),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
    ])
    .arg(body)
    .arg(format!(
        "http://{addr}/envoy.service.auth.v3.Authorization/Check"
    ));
    let out = run(cmd).await;
    let mut r = Report::default();
    for line in out.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("finished in ") {
            r.rps = rest
                .split(", ")
                .nth(1)
                .and_then(|s| s.strip_suffix(" req/s"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            let n = |what: &str| {
                rest.split(", ")
                    .find_map(|p| p.strip_suffix(what)?.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            r.requests = n(" succeeded");
            r.bad = n(" failed") + n(" errored") + n(" timeout");
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            r.mean_us = rest.split_whitespace().nth(2).map_or(0.0, duration_us);
        }
    }
    Some(r)
}

/// How the wrk script picks each request's token from the token file.
#[derive(Clone, Copy)]
pub enum Pick {
    /// Line 1 every time.
    First,
    /// Each line once, in order (wrapping if the run outlasts the file).
    Each,
    /// Lines 1..=`hot` in turn, except every tenth request, which takes the next later line.
    Mix { hot: usize },
}

/// `wrk` sending `GET /users/7` with a bearer token from `tokens`, one per line.
pub async fn wrk(
    url: &str,
    tokens: &Path,
    pick: Pick,
    conns: usize,
    secs: u64,
    dir: &Path,
) -> Option<Report> {
    let tool = which("wrk")?;
    let (mode, hot) = match pick {
        Pick::First => ("first", 1),
        Pick::Each => ("each", 0),
        Pick::Mix { hot } => ("mix", hot),
    };
    let script = dir.join(format!("wrk-{mode}.lua"));
    write(
        &script,
        format!(
            r#"local tokens = {{}}
for line in io.lines("{file}") do tokens[#tokens + 1] = line end
local mode, hot, i, cold = "{mode}", {hot}, 0, {hot}
request = function()
  i = i + 1
  local t
  if mode == "first" then
    t = tokens[1]
  elseif mode == "each" then
    t = tokens[(i - 1) % #tokens + 1]
  elseif i % 10 == 0 then
    cold = cold + 1
    t = tokens[(cold - 1) % #tokens + 1]
  else
    t = tokens[(i - 1) % hot + 1]
  end
  return wrk.format("GET", "{path}", {{["Authorization"] = "Bearer " .. t}})
end
"#,
            file = tokens.display(),
            path = crate::world::PATH,
        ),
    );
    let mut cmd = Command::new(tool);
    cmd.args([
        "-t1",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
        "-s",
    ])
    .arg(&script)
    .arg(url);
    let out = run(cmd).await;
    let mut r = Report::default();
    let mut pct = [0.0; 3];
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => r.rps = v.parse().unwrap_or(0.0),
            ["Latency", avg, ..] => r.mean_us = duration_us(avg),
            ["50%", v] => pct[0] = duration_us(v),
            ["90%", v] => pct[1] = duration_us(v),
            ["99%", v] => pct[2] = duration_us(v),
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            ["Non-2xx", "or", "3xx", "responses:", n] => r.bad += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", ..] => {
                r.bad += words
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    r.pct_us = Some(pct);
    Some(r)
}

/// "284us", "1.23ms", "2.5s" as microseconds.
fn duration_us(s: &str) -> f64 {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().map_or(0.0, |n| n * scale)
}

async fn run(mut cmd: Command) -> String {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("tool thread")
        .expect("run the load tool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
