//! The binary under attack: its config, its process (stopped with SIGTERM and waited for), and
//! what `/proc` says it holds.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokengate::jwt::{Alg, Signer};
use tokengate::testkit::{JwksServer, Process, bearer, claims, free_port, signer};

/// This tree's binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

/// Which binary runs: this tree's, with the test's `limits`, or an older one from
/// `TOKENGATE_ABUSE_BIN`, which has no `limits` block and is only measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    After,
    Before,
}

/// What every attack shares: the binary, an issuer the binary trusts, a valid token.
pub struct Bench {
    pub mode: Mode,
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub iss: String,
    /// `Bearer …`, valid for an hour on every route.
    pub token: String,
    _jwks: JwksServer,
    _signer: Signer,
}

impl Bench {
    pub async fn new(mode: Mode, bin: PathBuf) -> Bench {
        let k = signer(Alg::ES256, "abuse");
        let jwks = JwksServer::start(&[&k]).await;
        let token = bearer(&k.sign(&claims(&jwks.url, "api")));
        let dir = std::env::temp_dir().join(format!("tokengate-abuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Bench {
            mode,
            bin,
            dir,
            iss: jwks.url.clone(),
            token,
            _jwks: jwks,
            _signer: k,
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Configs and logs, kept on request for a look after a failure.
        if std::env::var_os("TOKENGATE_ABUSE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How one attack's process runs.
#[derive(Clone, Copy, Default)]
pub struct Spec {
    /// `limits` keys over the suite's own (this tree's binary only).
    pub limits: &'static [(&'static str, &'static str)],
    /// Run under `prlimit --nofile=N:N`.
    pub nofile: Option<u64>,
    /// stderr into a pipe the attack reads (else a file).
    pub pipe_stderr: bool,
    /// Environment for the process (`RUST_LOG`).
    pub env: &'static [(&'static str, &'static str)],
}

/// Short waits, so that each attack's effect shows within seconds.
const LIMITS: [(&str, &str); 3] = [
    ("request_timeout", "2s"),
    ("header_read_timeout", "1s"),
    ("idle_timeout", "10s"),
];

fn config(b: &Bench, spec: &Spec, grpc: u16, http: u16, admin: u16) -> String {
    let mut y = format!(
        "listen: {{grpc: \"127.0.0.1:{grpc}\", http: \"127.0.0.1:{http}\", admin: \"127.0.0.1:{admin}\"}}\n\
         authorizers:\n  a: {{issuer: \"{}\", audience: [api]}}\n\
         routes:\n  \"$default\": {{authorizer: a}}\n",
        b.iss
    );
    if b.mode == Mode::After {
        y.push_str("limits:\n");
        let ours = LIMITS
            .iter()
            .filter(|(k, _)| !spec.limits.iter().any(|(o, _)| o == k));
        for (k, v) in ours.chain(spec.limits) {
            y.push_str(&format!("  {k}: {v}\n"));
        }
    }
    y
}

/// A running binary.
pub struct Target {
    pub pid: u32,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    pub token: String,
    pub mode: Mode,
    pub stderr: Mutex<Option<ChildStderr>>,
    process: Mutex<Process>,
}

impl Target {
    pub async fn start(b: &Bench, name: &str, spec: &Spec) -> Target {
        let (g, h, a) = (free_port(), free_port(), free_port());
        let path = b.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, config(b, spec, g, h, a)).unwrap();
        let mut cmd = match spec.nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(&b.bin);
                c
            }
            None => Command::new(&b.bin),
        };
        cmd.args(["serve", "--config"])
            .arg(&path)
            .envs(spec.env.iter().copied())
            .stdout(Stdio::null());
        if spec.pipe_stderr {
            cmd.stderr(Stdio::piped());
        } else {
            cmd.stderr(File::create(b.dir.join(format!("{name}.log"))).unwrap());
        }
        let mut process = Process::spawn(&mut cmd, "TERM").unwrap();
        let stderr = process.child().stderr.take();
        let t = Target {
            pid: process.id(),
            grpc: SocketAddr::from(([127, 0, 0, 1], g)),
            http: SocketAddr::from(([127, 0, 0, 1], h)),
            admin: SocketAddr::from(([127, 0, 0, 1], a)),
            token: b.token.clone(),
            mode: b.mode,
            stderr: Mutex::new(stderr),
            process: Mutex::new(process),
        };
        t.wait_ready().await;
        t
    }

    async fn wait_ready(&self) {
        let url = format!("http://{}/readyz", self.admin);
        let client = reqwest::Client::new();
        for _ in 0..300 {
            let ready = client
                .get(&url)
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self.process.lock().unwrap().wait_for(Duration::ZERO) {
                panic!("tokengate exited at start: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tokengate never became ready");
    }

    /// SIGTERM, then waits: the exit status and how long it took.
    pub fn stop(&self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let status = self.process.lock().unwrap().stop();
        (status, started.elapsed())
    }

    /// SIGTERM, then waits up to `limit` (past the 10 s drain if need be): the exit status,
    /// if it came, and how long it took.
    pub fn terminate(&self, limit: Duration) -> (Option<ExitStatus>, Duration) {
        let started = Instant::now();
        let mut process = self.process.lock().unwrap();
        process.signal("TERM");
        let status = process.wait_for(limit);
        (status, started.elapsed())
    }

    pub fn usage(&self) -> Usage {
        Usage::of(self.pid).unwrap_or_default()
    }
}

/// What the process holds: resident memory, CPU time used, open descriptors.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub rss_kb: u64,
    pub cpu: Duration,
    pub fds: u64,
}

fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

impl Usage {
    pub fn of(pid: u32) -> Option<Usage> {
        let proc = Path::new("/proc").join(pid.to_string());
        let status = std::fs::read_to_string(proc.join("status")).ok()?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
        let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
        // After the parenthesised command name, utime and stime are the 12th and 13th fields.
        let rest = &stat[stat.rfind(')')? + 2..];
        let ticks: u64 = rest
            .split(' ')
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse::<u64>().ok())
            .sum();
        let fds = std::fs::read_dir(proc.join("fd")).ok()?.count() as u64;
        Some(Usage {
            rss_kb,
            cpu: Duration::from_millis(ticks * 1000 / clock_ticks()),
            fds,
        })
    }

    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }
}

/// Samples a process's usage every 50 ms on its own thread.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Instant, Usage)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, samples) = (stop.clone(), samples.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(u) = Usage::of(pid) {
                        samples.lock().unwrap().push((Instant::now(), u));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The highest RSS and descriptor count sampled between `from` and `to`.
    pub fn peak(&self, from: Instant, to: Instant) -> (u64, u64) {
        let samples = self.samples.lock().unwrap();
        let within = samples.iter().filter(|(at, _)| *at >= from && *at <= to);
        within.fold((0, 0), |(rss, fds), (_, u)| {
            (rss.max(u.rss_kb), fds.max(u.fds))
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
