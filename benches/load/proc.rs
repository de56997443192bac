//! Child processes and what the kernel says they cost: CPU time and resident memory.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokengate::testkit::Process;

/// A child stopped when dropped (SIGTERM, a wait, its group killed only as a last resort), so a
/// failed run leaves nothing behind.
pub struct Proc {
    process: Process,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let process = Process::spawn(cmd.stdin(Stdio::null()), "TERM")
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { process }
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn rss_mib(&self) -> f64 {
        rss_kib(self.pid()) as f64 / 1024.0
    }

    pub fn alive(&mut self) -> bool {
        self.process.wait_for(Duration::ZERO).is_none()
    }
}

fn ticks_per_second() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User plus system time of every thread of `pid` so far.
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / ticks_per_second())
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU used by a set of processes over an interval of wall time.
pub struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<Duration>,
    wall: Instant,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> CpuMeter {
        CpuMeter {
            pids: pids.to_vec(),
            start: pids.iter().map(|p| cpu_of(*p)).collect(),
            wall: Instant::now(),
        }
    }

    /// CPU seconds per process, in the order given, and the wall time.
    pub fn stop(&self) -> (Vec<f64>, f64) {
        let cpu = self
            .pids
            .iter()
            .zip(&self.start)
            .map(|(p, s)| cpu_of(*p).saturating_sub(*s).as_secs_f64())
            .collect();
        (cpu, self.wall.elapsed().as_secs_f64())
    }
}

pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address")
}

pub fn wait_for_port(addr: SocketAddr, limit: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < limit, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tool on PATH, or None.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

pub fn write(path: &Path, text: impl AsRef<[u8]>) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
