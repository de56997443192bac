//! A real headless browser (Debian's `chromium`) loading one page: `--dump-dom` after a
//! `--virtual-time-budget`, which chromium only spends while the page is idle, so every fetch the
//! page makes has finished (or failed) by the time the DOM is written.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Process;

/// A hung fetch stops chromium's virtual clock for good: the wall-clock limit on one run.
const LIMIT: Duration = Duration::from_secs(45);

/// What one page load came to.
pub struct Page {
    /// The serialized DOM once the page went idle and its time budget ran out.
    pub dom: String,
}

impl Page {
    /// The text of the element `<TAG id="ID">`, up to the next `</TAG>` (the page writes what
    /// a test reads as plain text in a `<pre>`).
    pub fn text(&self, tag: &str, id: &str) -> Option<&str> {
        let open = format!("<{tag} id=\"{id}\">");
        let start = self.dom.find(&open)? + open.len();
        let len = self.dom[start..].find(&format!("</{tag}>"))?;
        Some(&self.dom[start..start + len])
    }
}

/// Loads `url` in a fresh profile and returns the DOM; with `screenshot`, a PNG of the
/// 900×700 window is written there too. Panics (after stopping chromium and everything it
/// started) if the page does not finish within [`LIMIT`].
pub fn load(chromium: &Path, url: &str, screenshot: Option<&Path>) -> Page {
    let profile = std::env::temp_dir().join(format!(
        "tokengate-chromium-{}-{}",
        std::process::id(),
        super::free_port()
    ));
    std::fs::create_dir_all(&profile).unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        // Root in a container has no user namespace for the sandbox.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
        "--window-size=900,700",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    if let Some(shot) = screenshot {
        cmd.arg(format!("--screenshot={}", shot.display()));
    }
    cmd.args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut process = Process::spawn(&mut cmd, "TERM").expect("start chromium");
    let mut stdout = process.child().stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let started = Instant::now();
    let status = process.wait_for(LIMIT);
    let leftovers = stop_group(process.id());
    if status.is_none() {
        process.stop();
    }
    let dom = reader.join().unwrap();
    std::fs::remove_dir_all(&profile).ok();
    assert!(
        status.is_some(),
        "chromium did not finish {url} within {LIMIT:?}"
    );
    assert!(
        leftovers.is_empty(),
        "chromium left processes behind: {leftovers:?}"
    );
    eprintln!("chromium: {url} in {:?}", started.elapsed());
    Page { dom }
}

/// Ends what is left of chromium's process group (its zygote and renderers outlive the browser
/// for a moment): `TERM`, a wait, then `KILL` for any that stayed. Returns those that needed
/// `KILL`.
fn stop_group(pgid: u32) -> Vec<String> {
    let group = format!("-{pgid}");
    let alive = || {
        Command::new("kill")
            .args(["-0", "--", &group])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !alive() {
        return Vec::new();
    }
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() {
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &group])
                .status();
            return vec![format!("process group {pgid}")];
        }
        // Real time: other processes' exits.
        std::thread::sleep(Duration::from_millis(50));
    }
    Vec::new()
}

/// Where browser tests keep what a person may want to look at (screenshots):
/// `target/browser/`, beside cargo's `target/tmp` (`tmp` is the test's
/// `env!("CARGO_TARGET_TMPDIR")`).
pub fn output_dir(tmp: &str) -> PathBuf {
    let dir = Path::new(tmp)
        .parent()
        .map_or_else(|| PathBuf::from(tmp), Path::to_path_buf)
        .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PNG's width and height, read from its `IHDR` chunk.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || !png.starts_with(b"\x89PNG\r\n\x1a\n") || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}
