//! A bounded soak of the real binary: 32 concurrent gRPC streams over four connections plus
//! HTTP clients, while the issuer rotates its keys and `SIGHUP` swaps between two configs.
//! Every answer is checked against what its token deserves given the config and keys at that
//! moment; no RPC may fail; the process's memory must stay flat.
//!
//! `TOKENGATE_SOAK_SECS` sets the duration (default 20 s). The long form:
//!
//! ```sh
//! TOKENGATE_SOAK_SECS=600 cargo test --release --test soak -- --nocapture
//! ```
//!
//! How "at that moment" is known: the test keeps a history of worlds, each the set of states
//! the server may be in. Before it changes anything (writes a config and sends `SIGHUP`,
//! publishes a rotated key set) it appends a world holding both the old and the new state; once
//! it has seen the change take effect (the reload counter on `/metrics`; a probe where the new
//! key verifies and the retired one is refused) it appends the new state alone. A request read
//! the world's index before it was sent and again when its answer came; its answer must be one
//! that some state of those worlds gives. Outside a change that is exactly one answer.

// A failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;
use tokengate::jwt::Signer;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Needs scope `read` in both configs.
    Stable,
    /// Needs `read` in config A, `write` in config B.
    Flip,
    /// `$default`: any valid token.
    Any,
    /// Public in both configs.
    Health,
}

impl Route {
    const ALL: [Route; 4] = [Route::Stable, Route::Flip, Route::Any, Route::Health];

    fn path(self) -> &'static str {
        match self {
            Route::Stable => "/stable",
            Route::Flip => "/flip",
            Route::Any => "/any/thing",
            Route::Health => "/health",
        }
    }
}

const READ: u8 = 1;
const WRITE: u8 = 2;

/// What a request carries.
#[derive(Clone, Debug)]
enum Kind {
    /// A valid token of pool key `key` with these scope bits.
    Valid {
        key: usize,
        scopes: u8,
        sub: String,
    },
    /// Refused whatever the keys and config: a bad signature, expired, another issuer.
    Bad,
    Missing,
}

#[derive(Clone, Debug)]
struct Case {
    route: Route,
    kind: Kind,
    token: Option<Arc<str>>,
}

/// The gRPC code a case deserves in config `cfg` (0 = A, 1 = B) when its key is or is not
/// in the server's key set.
fn deserved(case: &Case, cfg: usize, key_valid: bool) -> i32 {
    match (&case.kind, case.route) {
        (_, Route::Health) => 0,
        (Kind::Missing | Kind::Bad, _) => 16,
        (Kind::Valid { .. }, _) if !key_valid => 16,
        (Kind::Valid { .. }, Route::Any) => 0,
        (Kind::Valid { scopes, .. }, route) => {
            let needed = match (route, cfg) {
                (Route::Flip, 1) => WRITE,
                _ => READ,
            };
            if scopes & needed != 0 { 0 } else { 7 }
        }
    }
}

fn code_bit(code: i32) -> u8 {
    match code {
        0 => 1,
        7 => 2,
        16 => 4,
        _ => 0,
    }
}

/// The states the server may be in: configs (bit 0 = A, bit 1 = B) and, per pool key, bit 0
/// "may be absent", bit 1 "may be held". Keys not listed are absent.
#[derive(Clone, Debug)]
struct World {
    configs: u8,
    keys: Vec<(usize, u8)>,
}

impl World {
    fn key(&self, k: usize) -> u8 {
        self.keys
            .iter()
            .find(|(i, _)| *i == k)
            .map_or(1, |(_, m)| *m)
    }

    /// Codes (as `code_bit`s) the case may get in this world.
    fn allows(&self, case: &Case) -> u8 {
        let key = match case.kind {
            Kind::Valid { key, .. } => self.key(key),
            _ => 1,
        };
        let mut bits = 0;
        for cfg in 0..2 {
            if self.configs & (1 << cfg) == 0 {
                continue;
            }
            for (bit, valid) in [(1, false), (2, true)] {
                if key & bit != 0 {
                    bits |= code_bit(deserved(case, cfg, valid));
                }
            }
        }
        bits
    }
}

#[derive(Default)]
struct Model {
    history: RwLock<Vec<World>>,
    version: AtomicUsize,
}

impl Model {
    fn push(&self, world: World) {
        let mut h = self.history.write().unwrap();
        h.push(world);
        self.version.store(h.len() - 1, Ordering::SeqCst);
    }

    fn now(&self) -> usize {
        self.version.load(Ordering::SeqCst)
    }

    fn current(&self) -> World {
        self.history.read().unwrap()[self.now()].clone()
    }

    /// Codes the case may get if it was decided while the world was any of `from..=to`.
    fn allows(&self, case: &Case, from: usize, to: usize) -> u8 {
        let h = self.history.read().unwrap();
        h[from..=to].iter().fold(0, |bits, w| bits | w.allows(case))
    }
}

/// One key of the pool and its tokens.
struct PoolKey {
    signer: Signer,
    /// `(token, scopes, sub)`: every scope combination, two subjects each.
    valid: Vec<(Arc<str>, u8, String)>,
    /// A bad signature on this `kid`, expired, and another issuer.
    bad: Vec<Arc<str>>,
}

fn scope_claim(scopes: u8) -> Option<&'static str> {
    match scopes {
        READ => Some("read"),
        WRITE => Some("write"),
        3 => Some("read write"),
        _ => None,
    }
}

fn mint(signer: &Signer, iss: &str, scopes: u8, sub: &str) -> Arc<str> {
    let mut c = claims(iss, "api");
    c["sub"] = json!(sub);
    if let Some(s) = scope_claim(scopes) {
        c["scope"] = json!(s);
    }
    Arc::from(bearer(&signer.sign(&c)))
}

fn pool_key(n: usize, iss: &str, stranger: &Signer) -> PoolKey {
    let signer = signer(Alg::ES256, &format!("soak-{n}"));
    let mut valid = Vec::new();
    for scopes in 0..4 {
        for s in 0..2 {
            let sub = format!("k{n}-s{scopes}-{s}");
            valid.push((mint(&signer, iss, scopes, &sub), scopes, sub));
        }
    }
    let mut expired = claims(iss, "api");
    expired["exp"] = json!(now() - 30.0);
    let header = json!({"alg": "ES256", "kid": signer.kid});
    let forged = stranger.sign_raw(
        header.to_string().as_bytes(),
        claims(iss, "api").to_string().as_bytes(),
    );
    let bad = vec![
        Arc::from(bearer(&forged)),
        Arc::from(bearer(&signer.sign(&expired))),
        Arc::from(bearer(
            &signer.sign(&claims("https://elsewhere.example", "api")),
        )),
    ];
    PoolKey { signer, valid, bad }
}

/// Shared between the controller and the workers.
struct Shared {
    iss: String,
    model: Model,
    pool: RwLock<Vec<Arc<PoolKey>>>,
    /// Published keys are `window` and `window + 1`.
    window: AtomicUsize,
    stop: AtomicBool,
    checks: [AtomicU64; 2],
    failed: AtomicU64,
    wrong: AtomicU64,
    ambiguous: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn problem(&self, text: String) {
        let mut p = self.problems.lock().unwrap();
        if p.len() < 20 {
            p.push(text);
        }
    }

    /// A request: mostly pool tokens of keys around the window (one retired, two held, one
    /// about to come), some freshly minted, some bad, some without a token.
    fn pick(&self, rng: &mut u64) -> Case {
        let r = next(rng);
        let route = Route::ALL[(r % 3) as usize];
        let window = self.window.load(Ordering::SeqCst);
        let pool = self.pool.read().unwrap();
        let key = (window + (r >> 8) as usize % 4)
            .saturating_sub(1)
            .min(pool.len() - 1);
        let entry = pool[key].clone();
        drop(pool);
        match (r >> 16) % 20 {
            0..=11 => {
                let (token, scopes, sub) = &entry.valid[(r >> 24) as usize % entry.valid.len()];
                Case {
                    route,
                    kind: Kind::Valid {
                        key,
                        scopes: *scopes,
                        sub: sub.clone(),
                    },
                    token: Some(token.clone()),
                }
            }
            12 => {
                // A token never seen before: a cache miss, and one more cache entry.
                let scopes = ((r >> 24) % 4) as u8;
                let sub = format!("fresh-{r:x}");
                Case {
                    route,
                    token: Some(mint(&entry.signer, &self.iss, scopes, &sub)),
                    kind: Kind::Valid { key, scopes, sub },
                }
            }
            13..=16 => Case {
                route,
                kind: Kind::Bad,
                token: Some(entry.bad[(r >> 24) as usize % entry.bad.len()].clone()),
            },
            17 | 18 => Case {
                route,
                kind: Kind::Missing,
                token: None,
            },
            _ => Case {
                route: Route::Health,
                kind: Kind::Missing,
                token: None,
            },
        }
    }

    /// Checks one answer (`None`: the RPC or request failed).
    fn judge(
        &self,
        transport: usize,
        case: &Case,
        from: usize,
        code: Option<i32>,
        user: Option<&str>,
    ) {
        self.checks[transport].fetch_add(1, Ordering::Relaxed);
        let to = self.model.now();
        let Some(code) = code else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let allowed = self.model.allows(case, from, to);
        if allowed.count_ones() > 1 {
            self.ambiguous.fetch_add(1, Ordering::Relaxed);
        }
        let mut ok = allowed & code_bit(code) != 0;
        if let (0, Kind::Valid { sub, .. }) = (code, &case.kind)
            && user != Some(sub.as_str())
        {
            ok = false;
        }
        if !ok {
            self.wrong.fetch_add(1, Ordering::Relaxed);
            self.problem(format!(
                "{} {:?} {:?}: got {code} (x-user-id {user:?}), worlds {from}..={to} allow {allowed:#05b}",
                ["grpc", "http"][transport],
                case.route,
                case.kind,
            ));
        }
    }
}

fn next(state: &mut u64) -> u64 {
    // xorshift64*
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn config(variant: usize, iss: &str, ports: (u16, u16, u16)) -> String {
    let (g, h, a) = ports;
    let (flip, headers, refresh) = if variant == 0 {
        ("read", "{sub: x-user-id}", "1s")
    } else {
        ("write", "{sub: x-user-id, scope: x-user-scopes}", "2s")
    };
    format!(
        r#"
listen: {{grpc: "127.0.0.1:{g}", http: "127.0.0.1:{h}", admin: "127.0.0.1:{a}"}}
cache: {{tokens: 1000, max_ttl: 1m}}
authorizers:
  soak:
    issuer: "{iss}"
    audience: [api]
    jwks_refresh: {refresh}
    claims_to_headers: {headers}
routes:
  "GET /stable": {{authorizer: soak, scopes: [read]}}
  "GET /flip": {{authorizer: soak, scopes: [{flip}]}}
  "GET /health": {{public: true}}
  "$default": {{authorizer: soak}}
"#
    )
}

/// Writes the file whole before the process can read it.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

async fn metric(admin: &str, series: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("{admin}/metrics")).await else {
        return -1.0;
    };
    let page = r.text().await.unwrap_or_default();
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A probe's gRPC code for `token` on the `$default` route.
async fn probe(
    client: &mut tokengate::pb::auth::authorization_client::AuthorizationClient<
        tonic::transport::Channel,
    >,
    token: &str,
) -> i32 {
    let req = check_request("GET", "/any/probe", &[("authorization", token)]);
    client
        .check(req)
        .await
        .map_or(-1, |r| verdict(r.into_inner()).grpc_code)
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokengate-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_key_rotation_and_reloads() {
    let secs: u64 = std::env::var("TOKENGATE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let duration = Duration::from_secs(secs);

    let stranger = signer(Alg::ES256, "stranger");
    let jwks = JwksServer::start(&[]).await;
    let iss = jwks.url.clone();
    let pool = vec![
        Arc::new(pool_key(0, &iss, &stranger)),
        Arc::new(pool_key(1, &iss, &stranger)),
    ];
    jwks.set_keys(&[&pool[0].signer, &pool[1].signer]);
    let shared = Arc::new(Shared {
        iss: iss.clone(),
        model: Model::default(),
        pool: RwLock::new(pool),
        window: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        checks: [AtomicU64::new(0), AtomicU64::new(0)],
        failed: AtomicU64::new(0),
        wrong: AtomicU64::new(0),
        ambiguous: AtomicU64::new(0),
        problems: Mutex::new(Vec::new()),
    });
    shared.model.push(World {
        configs: 1,
        keys: vec![(0, 2), (1, 2)],
    });

    let dir = temp_dir();
    let path = dir.join("tokengate.yaml");
    let log_path = dir.join("tokengate.log");
    let ports = (free_port(), free_port(), free_port());
    write_atomically(&path, &config(0, &iss, ports));
    let mut child = Process::spawn(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap()),
        "TERM",
    )
    .unwrap();
    let pid = child.id();
    let admin = format!("http://127.0.0.1:{}", ports.2);
    let grpc = format!("http://127.0.0.1:{}", ports.0);
    let http_base = format!("http://127.0.0.1:{}", ports.1);
    eventually(Duration::from_secs(10), "tokengate ready", || async {
        let r = reqwest::get(format!("{admin}/readyz")).await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;

    // Memory, once a second.
    let rss = Arc::new(Mutex::new(Vec::<(Duration, u64)>::new()));
    let started = Instant::now();
    let sampler = {
        let (rss, shared) = (rss.clone(), shared.clone());
        tokio::spawn(async move {
            while !shared.stop.load(Ordering::SeqCst) {
                if let Some(kib) = rss_kib(pid) {
                    rss.lock().unwrap().push((started.elapsed(), kib));
                }
                // Real time: memory is sampled over the run's wall time.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // 32 gRPC streams over four connections.
    let mut workers = Vec::new();
    for c in 0..4 {
        let channel = tonic::transport::Endpoint::from_shared(grpc.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        for s in 0..8 {
            let mut client = tokengate::pb::auth::authorization_client::AuthorizationClient::new(
                channel.clone(),
            );
            let shared = shared.clone();
            let mut rng = 0x9e37_79b9_7f4a_7c15 ^ ((c * 8 + s + 1) as u64);
            workers.push(tokio::spawn(async move {
                while !shared.stop.load(Ordering::Relaxed) {
                    let case = shared.pick(&mut rng);
                    let headers: Vec<(&str, &str)> = case
                        .token
                        .as_deref()
                        .map(|t| ("authorization", t))
                        .into_iter()
                        .collect();
                    let req = check_request("GET", case.route.path(), &headers);
                    let from = shared.model.now();
                    let answer = client.check(req).await;
                    let (code, user) = match answer {
                        Ok(r) => {
                            let v = verdict(r.into_inner());
                            (Some(v.grpc_code), v.set.get("x-user-id").cloned())
                        }
                        Err(e) => {
                            shared.problem(format!("gRPC failed: {e}"));
                            (None, None)
                        }
                    };
                    shared.judge(0, &case, from, code, user.as_deref());
                }
            }));
        }
    }
    // And four HTTP clients.
    for w in 0..4u64 {
        let shared = shared.clone();
        let base = http_base.clone();
        let mut rng = 0xd1b5_4a32_d192_ed03 ^ (w + 1);
        let http = reqwest::Client::new();
        workers.push(tokio::spawn(async move {
            while !shared.stop.load(Ordering::Relaxed) {
                let case = shared.pick(&mut rng);
                let mut req = http.get(format!("{base}{}", case.route.path()));
                if let Some(t) = &case.token {
                    req = req.header("authorization", &**t);
                }
                let from = shared.model.now();
                let (code, user) = match req.send().await {
                    Ok(r) => {
                        let code = match r.status().as_u16() {
                            200 => 0,
                            401 => 16,
                            403 => 7,
                            503 => 14,
                            other => 1000 + i32::from(other),
                        };
                        let user = r
                            .headers()
                            .get("x-user-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        (Some(code), user)
                    }
                    Err(e) => {
                        shared.problem(format!("HTTP failed: {e}"));
                        (None, None)
                    }
                };
                shared.judge(1, &case, from, code, user.as_deref());
            }
        }));
    }

    // The controller: a reload, then a key rotation, over and over.
    let prober =
        tokengate::pb::auth::authorization_client::AuthorizationClient::connect(grpc.clone())
            .await
            .unwrap();
    let reloads_ok = r#"tokengate_config_reloads_total{result="ok"}"#;
    let (mut variant, mut reloads, mut rotations) = (0, 0u32, 0u32);
    let mut slowest_swap = Duration::ZERO;
    while started.elapsed() < duration {
        // Reload into the other config.
        let world = shared.model.current();
        shared.model.push(World {
            configs: 3,
            ..world.clone()
        });
        variant = 1 - variant;
        write_atomically(&path, &config(variant, &iss, ports));
        let swap = Instant::now();
        child.signal("HUP");
        let applied = f64::from(reloads + 1);
        let what = format!("reload {reloads} applied");
        eventually(Duration::from_secs(10), &what, || async {
            (metric(&admin, reloads_ok).await >= applied).then_some(())
        })
        .await;
        slowest_swap = slowest_swap.max(swap.elapsed());
        reloads += 1;
        shared.model.push(World {
            configs: 1 << variant,
            ..world
        });
        // Real time: the load runs under the new config alone for a while.
        tokio::time::sleep(Duration::from_millis(500)).await;

        // Rotate: keys (i, i+1) become (i+1, i+2).
        let i = shared.window.load(Ordering::SeqCst);
        let fresh = Arc::new(pool_key(i + 2, &iss, &stranger));
        let (old, kept) = {
            let mut pool = shared.pool.write().unwrap();
            pool.push(fresh.clone());
            (pool[i].clone(), pool[i + 1].clone())
        };
        let configs = shared.model.current().configs;
        shared.model.push(World {
            configs,
            keys: vec![(i, 3), (i + 1, 2), (i + 2, 3)],
        });
        jwks.set_keys(&[&kept.signer, &fresh.signer]);
        shared.window.store(i + 1, Ordering::SeqCst);
        let swap = Instant::now();
        let what = format!("rotation {rotations} seen");
        eventually(Duration::from_secs(10), &what, || {
            let mut prober = prober.clone();
            let (fresh, old) = (fresh.clone(), old.clone());
            async move {
                let held = probe(&mut prober, &fresh.valid[0].0).await == 0;
                (held && probe(&mut prober, &old.valid[0].0).await == 16).then_some(())
            }
        })
        .await;
        slowest_swap = slowest_swap.max(swap.elapsed());
        rotations += 1;
        shared.model.push(World {
            configs,
            keys: vec![(i + 1, 2), (i + 2, 2)],
        });
        // Real time: the load runs under the new keys alone for a while.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    sampler.await.unwrap();

    // SIGTERM: drain and exit 0 (the grace before a kill is longer than the 10 s drain).
    let exit = child.stop();

    let [grpc_checks, http_checks] = [0, 1].map(|t| shared.checks[t].load(Ordering::Relaxed));
    let total = grpc_checks + http_checks;
    let failed = shared.failed.load(Ordering::Relaxed);
    let wrong = shared.wrong.load(Ordering::Relaxed);
    let ambiguous = shared.ambiguous.load(Ordering::Relaxed);
    let samples = rss.lock().unwrap().clone();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let first = samples.first().map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    // Warm-up: the first 3 s or 15 % of the run, whichever is longer (allocator arenas,
    // connection buffers and the cache filling to its working set).
    let warm = Duration::from_secs(3).max(elapsed.mul_f64(0.15));
    let steady: Vec<u64> = samples
        .iter()
        .filter(|s| s.0 >= warm)
        .map(|s| s.1)
        .collect();
    let third = steady.len() / 3;
    let avg = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
    let (early, late) = (avg(&steady[..third]), avg(&steady[steady.len() - third..]));
    eprintln!(
        "soak: {:.1} s, {total} checks ({grpc_checks} gRPC, {http_checks} HTTP), {:.0} checks/s, \
         wrong decisions {wrong}, failed RPCs {failed}, answers inside a swap window {ambiguous}, \
         reloads {reloads}, key rotations {rotations} (slowest swap {slowest_swap:?}), \
         RSS start/peak/end {:.1}/{:.1}/{:.1} MiB (steady first/last third {:.1}/{:.1} MiB)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        mib(first),
        mib(peak),
        mib(last),
        early / 1024.0,
        late / 1024.0,
    );
    let problems = shared.problems.lock().unwrap().clone();
    let logs = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    assert!(exit.success(), "exit {exit:?}\n{}", logs());
    assert_eq!(failed, 0, "failed RPCs: {problems:#?}\n{}", logs());
    assert_eq!(wrong, 0, "wrong decisions: {problems:#?}");
    assert!(reloads >= 2 && rotations >= 2, "too few changes");
    assert!(
        total as f64 / elapsed.as_secs_f64() > 200.0,
        "the load did not run"
    );
    // Steady memory. The process holds a bounded token cache (1000 entries, a few MiB at most),
    // fixed metric series and a fixed set of connections, so after warm-up its RSS should be
    // flat; allocator noise on a ~20 MiB process is a few MiB. A leak of even 1 KiB per check
    // at these rates adds several MiB a second and doubles it within a short run. 1.5x plus
    // 4 MiB of slack for the allocator keeps the bound far from noise and far below a leak.
    assert!(third >= 2, "too few RSS samples after warm-up: {samples:?}");
    assert!(
        late <= early * 1.5 + 4096.0,
        "RSS grew from {early:.0} KiB to {late:.0} KiB: {samples:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
