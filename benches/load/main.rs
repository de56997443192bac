//! The load harness: tokengate's real server over loopback, next to a floor server that does no
//! work, driven by our gRPC generator, h2load and wrk, then through real Envoy against Envoy's own
//! `jwt_authn`, then memory under 100k cached tokens and a flood. Prints its report; with
//! `--write`, writes it into BENCHMARKS.md and draws benches/results/load.svg.
//!
//! Runs only by name (`bench = false`: plain `cargo bench` runs the criterion benches):
//! `cargo bench --bench load` (all of it, about 10 minutes); `-- --write` to update
//! BENCHMARKS.md; `-- --quick` for a short pass; `-- --parts grpc,http,envoy,memory` for some of
//! it; `-- --secs N` per run; `-- --flood N`; `-- --out DIR` to write somewhere else.

#![allow(clippy::unwrap_used)] // a harness whose set-up fails should stop loudly

use tokengate::testkit as common;
mod envoy;
mod floor;
mod grpc;
mod memory;
mod proc;
mod report;
mod tools;
mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc::{Feed, Shape};
use report::{Measured, Row};
use tokengate::jwt::Alg;
use world::Target;

/// The command line.
pub struct Opts {
    /// Seconds per measured run.
    pub secs: u64,
    /// A short pass: one-second runs, fewer tokens, a smaller flood.
    pub quick: bool,
    /// Which parts run: `grpc`, `http`, `envoy`, `memory`.
    pub parts: Vec<String>,
    /// Distinct tokens in the memory part's flood.
    pub flood: usize,
    /// Write BENCHMARKS.md and the SVG (under `out`) instead of printing the report.
    pub write: bool,
    /// Where BENCHMARKS.md and benches/results/ are (the crate by default).
    pub out: PathBuf,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            secs: 4,
            quick: false,
            parts: ["grpc", "http", "envoy", "memory"]
                .map(String::from)
                .to_vec(),
            flood: 1_000_000,
            write: false,
            out: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => {
                    o.quick = true;
                    o.secs = 1;
                    o.flood = 100_000;
                }
                "--secs" => o.secs = args.next().and_then(|v| v.parse().ok()).expect("--secs N"),
                "--flood" => {
                    o.flood = args.next().and_then(|v| v.parse().ok()).expect("--flood N");
                }
                "--parts" => {
                    o.parts = args
                        .next()
                        .expect("--parts grpc,http,envoy,memory")
                        .split(',')
                        .map(String::from)
                        .collect();
                }
                "--write" => o.write = true,
                "--out" => o.out = args.next().map(PathBuf::from).expect("--out DIR"),
                _ => {} // `cargo bench` passes --bench
            }
        }
        o
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

fn main() {
    if let Ok(spec) = std::env::var(floor::ENV) {
        floor::serve(&spec);
        return;
    }
    let opts = Opts::parse();
    // One thread, like h2load's -t1: the generator takes at most one of the cores.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(opts));
}

/// Tokens and requests made once, before any measurement.
pub struct Fixture {
    /// The issuer the servers under test trust.
    pub jwks: common::JwksServer,
    /// The RS256 key the tokens are signed with.
    pub rs: tokengate::jwt::Signer,
    /// The ES256 key.
    pub es: tokengate::jwt::Signer,
    /// Distinct RS256 tokens: misses, and the cold tenth of the mix.
    pub rs_tokens: Vec<String>,
    /// Distinct ES256 tokens: misses.
    pub es_tokens: Vec<String>,
    /// The mix's hot set.
    pub hot_tokens: Vec<String>,
    /// `rs_tokens` as gRPC request frames, encoded once.
    pub rs_frames: Arc<Vec<Bytes>>,
    /// `es_tokens` as frames.
    pub es_frames: Arc<Vec<Bytes>>,
    /// `hot_tokens` as frames.
    pub hot_frames: Arc<Vec<Bytes>>,
    /// Where configs and logs of this run go (removed at the end).
    pub dir: PathBuf,
}

async fn run(opts: Opts) {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("tokengate-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rs = common::signer(Alg::RS256, "rs");
    let es = common::signer(Alg::ES256, "es");
    let jwks = common::JwksServer::start(&[&rs, &es]).await;
    let (n_rs, n_es, n_hot) = if opts.quick {
        (4_000, 4_000, 200)
    } else {
        (60_000, 40_000, 1_000)
    };
    let t = Instant::now();
    let rs_tokens = world::mint(&rs, &jwks.url, 0, n_rs);
    let es_tokens = world::mint(&es, &jwks.url, 0, n_es);
    let hot_tokens = world::mint(&rs, &jwks.url, 10_000_000, n_hot);
    eprintln!(
        "minted {n_rs} RS256, {n_es} ES256 and {n_hot} hot tokens in {:.1?}",
        t.elapsed()
    );
    let fx = Fixture {
        rs_frames: Arc::new(world::framed(&rs_tokens)),
        es_frames: Arc::new(world::framed(&es_tokens)),
        hot_frames: Arc::new(world::framed(&hot_tokens)),
        jwks,
        rs,
        es,
        rs_tokens,
        es_tokens,
        hot_tokens,
        dir,
    };
    let mut m = Measured {
        inprocess: inprocess_costs(&fx).await,
        ..Measured::default()
    };
    if opts.wants("grpc") {
        grpc_part(&fx, &opts, &mut m).await;
    }
    if opts.wants("http") {
        http_part(&fx, &opts, &mut m).await;
    }
    if opts.wants("envoy") {
        envoy::part(&fx, &opts, &mut m).await;
    }
    if opts.wants("memory") {
        memory::part(&fx, &opts, &mut m).await;
    }
    m.wall = started.elapsed();
    if opts.write {
        report::write(&opts, &m);
    } else {
        report::print(&opts, &m);
    }
    let _ = std::fs::remove_dir_all(&fx.dir);
}

/// The bare RS256 signature check of each token (ring, the key's modulus and exponent, nothing
/// parsed but the signature): the denominator for a miss.
fn bare_rs_verify_us(key: &tokengate::jwt::Signer, tokens: &[String]) -> f64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = key.jwk();
    let part = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let public = ring::signature::RsaPublicKeyComponents {
        n: part("n"),
        e: part("e"),
    };
    let split: Vec<(&[u8], Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.rsplit_once('.').unwrap();
            (input.as_bytes(), URL_SAFE_NO_PAD.decode(sig).unwrap())
        })
        .collect();
    let start = Instant::now();
    for (input, sig) in &split {
        public
            .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, input, sig)
            .unwrap();
    }
    start.elapsed().as_secs_f64() * 1e6 / split.len() as f64
}

/// Per-check CPU of the core in this process, one thread: a hit, and a full RS256 and ES256 miss.
async fn inprocess_costs(fx: &Fixture) -> report::InProcess {
    use tokengate::gate;
    use tokengate::request::Request;
    let yaml = |tokens: u64| {
        let (path, _) = world::tokengate_config(&fx.dir, &fx.jwks.url, tokens);
        std::fs::read_to_string(path).unwrap()
    };
    let cached = common::Tokengate::start(&yaml(100_000)).await.ready().await;
    let uncached = common::Tokengate::start(&yaml(0)).await.ready().await;
    let mean_us = async |state: &Arc<tokengate::state::State>, tokens: &[String]| {
        let reqs: Vec<_> = tokens
            .iter()
            .map(|t| {
                std::collections::HashMap::from([("authorization".to_owned(), common::bearer(t))])
            })
            .collect();
        let start = Instant::now();
        for headers in &reqs {
            let req = Request {
                method: "GET",
                target: world::PATH,
                headers,
                context: None,
            };
            let d = gate::check(&state.snapshot(), &req, tokengate::clock::now()).await;
            assert!(d.is_allow(), "{:?}", d.reason);
        }
        start.elapsed().as_secs_f64() * 1e6 / reqs.len() as f64
    };
    let n = fx.rs_tokens.len().min(2_000);
    let hit_token = vec![fx.hot_tokens[0].clone(); 20_000];
    mean_us(&cached.state, &hit_token[..1]).await;
    let costs = report::InProcess {
        bare_rs_verify_us: bare_rs_verify_us(&fx.rs, &fx.rs_tokens[..n]),
        hit_us: mean_us(&cached.state, &hit_token).await,
        rs_miss_us: mean_us(&uncached.state, &fx.rs_tokens[..n]).await,
        es_miss_us: mean_us(&uncached.state, &fx.es_tokens[..n]).await,
    };
    cached.shutdown().await;
    uncached.shutdown().await;
    eprintln!("in-process: {costs:?}");
    costs
}

/// What share of requests the cache can answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scenario {
    /// One token, over and over: every check after the first is a hit.
    Hit,
    /// Distinct RS256 tokens: every check verifies a signature.
    MissRs,
    /// Distinct ES256 tokens.
    MissEs,
    /// Nine requests in ten from the hot set (cached), one a fresh RS256 token.
    Mix,
}

impl Scenario {
    /// The scenario's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Hit => "100% hits",
            Scenario::MissRs => "0% hits, RS256",
            Scenario::MissEs => "0% hits, ES256",
            Scenario::Mix => "90/10 mix",
        }
    }

    fn feed(self, fx: &Fixture) -> Feed {
        match self {
            Scenario::Hit => Feed::Repeat(fx.hot_frames[0].clone()),
            Scenario::MissRs => Feed::Once(fx.rs_frames.clone()),
            Scenario::MissEs => Feed::Once(fx.es_frames.clone()),
            Scenario::Mix => Feed::Mix {
                hot: fx.hot_frames.clone(),
                cold: fx.rs_frames.clone(),
                every: 10,
            },
        }
    }
}

/// Connections × streams: many, and Envoy-like (Envoy keeps one HTTP/2 connection per worker).
pub const MANY: (usize, usize) = (32, 8);
/// Two connections of many streams: a proxy with two workers.
pub const TWO: (usize, usize) = (2, 64);
/// The h2load shape (`-c8 -m64`).
pub const EIGHT: (usize, usize) = (8, 64);

/// Readies a target for a scenario: warm connections and allocator on the hit token, and the
/// mix's hot set cached.
async fn warm(target: &Target, fx: &Fixture, scenario: Scenario) {
    let shape = Shape {
        conns: 4,
        streams: 8,
        duration: Duration::from_millis(500),
        rate: None,
    };
    grpc::run(target.grpc, Feed::Repeat(fx.hot_frames[0].clone()), shape).await;
    if scenario == Scenario::Mix {
        let all = Shape {
            duration: Duration::from_secs(60),
            ..shape
        };
        grpc::run(target.grpc, Feed::Once(fx.hot_frames.clone()), all).await;
    }
}

async fn measure(
    target: &Target,
    feed: Feed,
    shape: Shape,
) -> (grpc::Outcome, report::Cpu, Option<f64>) {
    let before = cache_counts(target).await;
    let meter = proc::CpuMeter::start(&[target.proc.pid(), std::process::id()]);
    let out = grpc::run(target.grpc, feed, shape).await;
    let (cpu, wall) = meter.stop();
    let after = cache_counts(target).await;
    let ratio = hit_ratio(target, before, after);
    (
        out,
        report::Cpu {
            server: cpu[0],
            client: Some(cpu[1]),
            wall,
        },
        ratio,
    )
}

/// The floor, or a fresh tokengate (empty cache) held in `slot`, replacing the last one.
async fn server_for<'a>(
    which: &str,
    floor: &'a Target,
    slot: &'a mut Option<Target>,
    fx: &Fixture,
) -> &'a Target {
    if which == "floor" {
        return floor;
    }
    *slot = None; // the previous tokengate exits before the next binds
    slot.insert(world::start_tokengate(&fx.dir, &fx.jwks.url, 100_000).await)
}

/// The share of hits between two `cache_counts`; `None` for the floor, which has no cache.
fn hit_ratio(target: &Target, before: (f64, f64), after: (f64, f64)) -> Option<f64> {
    target.admin.map(|_| {
        let (h, m) = (after.0 - before.0, after.1 - before.1);
        if h + m > 0.0 { h / (h + m) } else { 0.0 }
    })
}

async fn cache_counts(t: &Target) -> (f64, f64) {
    (
        t.metric("tokengate_token_cache_requests_total", "result=\"hit\"")
            .await,
        t.metric("tokengate_token_cache_requests_total", "result=\"miss\"")
            .await,
    )
}

async fn grpc_part(fx: &Fixture, opts: &Opts, m: &mut Measured) {
    let floor = world::start_floor();
    let mut fresh = None;
    let secs = Duration::from_secs(opts.secs);
    for (conns, streams) in [MANY, TWO] {
        for scenario in [
            Scenario::Hit,
            Scenario::MissRs,
            Scenario::MissEs,
            Scenario::Mix,
        ] {
            for which in ["floor", "tokengate"] {
                let target = server_for(which, &floor, &mut fresh, fx).await;
                warm(target, fx, scenario).await;
                let shape = Shape {
                    conns,
                    streams,
                    duration: secs,
                    rate: None,
                };
                let (out, cpu, hit_ratio) = measure(target, scenario.feed(fx), shape).await;
                let row = Row::from_grpc("gRPC", scenario, (conns, streams), which, &out, cpu)
                    .with_hit_ratio(hit_ratio);
                eprintln!("{}", row.line());
                m.rows.push(row);
            }
        }
    }
    // h2load: the same framed request every time, so hits only.
    let body = fx.dir.join("check-request.bin");
    proc::write(&body, &fx.hot_frames[0]);
    for (conns, streams) in [EIGHT, TWO] {
        for which in ["floor", "tokengate"] {
            let target = server_for(which, &floor, &mut fresh, fx).await;
            warm(target, fx, Scenario::Hit).await;
            let meter = proc::CpuMeter::start(&[target.proc.pid()]);
            let Some(r) = tools::h2load(target.grpc, &body, conns, streams, opts.secs).await else {
                eprintln!("h2load not installed (Debian nghttp2-client): skipped");
                break;
            };
            let (cpu, wall) = meter.stop();
            let row = Row::from_tool(
                "gRPC, h2load",
                Scenario::Hit.label(),
                (conns, streams),
                which,
                &r,
                report::Cpu {
                    server: cpu[0],
                    client: None,
                    wall,
                },
            );
            eprintln!("{}", row.line());
            m.rows.push(row);
        }
    }
    // Latency: one request at a time, then half of the peak measured above.
    let peak = m
        .rows
        .iter()
        .find(|r| {
            r.part == "gRPC"
                && r.target == "tokengate"
                && r.scenario == Scenario::Hit.label()
                && r.conns == MANY
        })
        .map_or(10_000.0, |r| r.rps);
    for (label, shape) in [
        (
            "unloaded (1 request in flight)",
            Shape {
                conns: 1,
                streams: 1,
                duration: secs.min(Duration::from_secs(3)),
                rate: None,
            },
        ),
        (
            "half of peak",
            Shape {
                conns: MANY.0,
                streams: MANY.1,
                duration: secs,
                rate: Some(peak / 2.0),
            },
        ),
    ] {
        for scenario in [Scenario::Hit, Scenario::Mix] {
            for which in ["floor", "tokengate"] {
                let target = server_for(which, &floor, &mut fresh, fx).await;
                warm(target, fx, scenario).await;
                let (out, cpu, hit_ratio) = measure(target, scenario.feed(fx), shape).await;
                let mut row = Row::from_grpc(
                    "gRPC latency",
                    scenario,
                    (shape.conns, shape.streams),
                    which,
                    &out,
                    cpu,
                )
                .with_hit_ratio(hit_ratio);
                row.load = label.to_owned();
                eprintln!("{}", row.line());
                m.rows.push(row);
            }
        }
    }
}

async fn http_part(fx: &Fixture, opts: &Opts, m: &mut Measured) {
    let floor = world::start_floor();
    let mut fresh = None;
    let files = [("hot", &fx.hot_tokens), ("rs", &fx.rs_tokens)].map(|(name, tokens)| {
        let path = fx.dir.join(format!("tokens-{name}.txt"));
        proc::write(&path, tokens.join("\n"));
        path
    });
    // The mix reads the hot set first, then the cold tokens after it.
    let mix = fx.dir.join("tokens-mix.txt");
    proc::write(
        &mix,
        [fx.hot_tokens.join("\n"), fx.rs_tokens.join("\n")].join("\n"),
    );
    let cases = [
        (Scenario::Hit, 64, &files[0], tools::Pick::First),
        (Scenario::Hit, 2, &files[0], tools::Pick::First),
        (Scenario::MissRs, 64, &files[1], tools::Pick::Each),
        (
            Scenario::Mix,
            64,
            &mix,
            tools::Pick::Mix {
                hot: fx.hot_tokens.len(),
            },
        ),
    ];
    for (scenario, conns, file, pick) in cases {
        for which in ["floor", "tokengate"] {
            let target = server_for(which, &floor, &mut fresh, fx).await;
            warm(target, fx, scenario).await;
            let url = format!("http://{}{}", target.http, world::PATH);
            // A miss run must not outlast its distinct tokens (wrk would wrap around to hits).
            let secs = if scenario == Scenario::MissRs {
                1
            } else {
                opts.secs
            };
            let before = cache_counts(target).await;
            let meter = proc::CpuMeter::start(&[target.proc.pid()]);
            let Some(r) = tools::wrk(&url, file, pick, conns, secs, &fx.dir).await else {
                eprintln!("wrk not installed (Debian wrk): skipped");
                return;
            };
            let (cpu, wall) = meter.stop();
            let after = cache_counts(target).await;
            let ratio = hit_ratio(target, before, after);
            let row = Row::from_tool(
                "HTTP, wrk",
                scenario.label(),
                (conns, 1),
                which,
                &r,
                report::Cpu {
                    server: cpu[0],
                    client: None,
                    wall,
                },
            )
            .with_hit_ratio(ratio);
            eprintln!("{}", row.line());
            m.rows.push(row);
        }
    }
}
