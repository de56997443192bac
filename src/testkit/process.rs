//! Child processes a test starts (the binary, nginx, Envoy…), always stopped the way their
//! operators stop them — a graceful signal, then a wait — and killed with their whole process
//! group only as a last resort, so no test leaves a worker behind.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// A child in its own process group, stopped on drop.
pub struct Process {
    child: Child,
    /// The signal that asks it to stop gracefully (`TERM`; nginx: `QUIT`).
    stop_signal: &'static str,
    status: Option<ExitStatus>,
}

/// How long a graceful stop may take before the group is killed: past tokengate's own 10 s
/// drain, so a slow drain is seen as a failed exit, not cut short.
const GRACE: Duration = Duration::from_secs(15);

impl Process {
    /// Starts `cmd` in a new process group.
    pub fn spawn(cmd: &mut Command, stop_signal: &'static str) -> io::Result<Process> {
        let child = cmd.process_group(0).spawn()?;
        Ok(Process {
            child,
            stop_signal,
            status: None,
        })
    }

    /// The child's pid (and process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` (`HUP`, `TERM`…) to the child.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status();
    }

    /// Waits for the child to exit by itself, at most `limit`.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.status {
            return Some(status);
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Real time: std has no wait-with-timeout for a child, so poll its exit.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the child gracefully and waits; kills its whole group if it does not go.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        self.signal(self.stop_signal);
        if let Some(status) = self.wait_for(GRACE) {
            return status;
        }
        eprintln!(
            "process {} ignored SIG{}: killing its group",
            self.child.id(),
            self.stop_signal
        );
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let status = self.child.wait().expect("wait for a killed child");
        self.status = Some(status);
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` until it gives `Some`, at most `limit`; panics naming `what` otherwise. For
/// what only a separate process's sockets can show (it is up, it applied a reload), where there
/// is nothing to await.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        // Real time: another process's state shows only when asked again.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
