//! A child process in its own process group. Dropping the handle stops the
//! whole group (wrangler's workerd, chromedriver's Chromium): SIGTERM, then
//! SIGKILL if it has not exited within a grace period.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a group gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A running process group, stopped on drop.
#[derive(Debug)]
pub struct Group {
    name: String,
    child: Child,
    /// Where its output goes, printed on drop if the test is failing.
    log: Option<std::path::PathBuf>,
}

impl Group {
    /// Starts `cmd` as the leader of a new process group. Output goes to `log`
    /// (a file) when given, else to this process's stdout and stderr.
    pub fn spawn(name: &str, cmd: &mut Command, log: Option<&Path>) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).stdin(Stdio::null());
        if let Some(path) = log {
            let file = std::fs::File::create(path)?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.map(Path::to_path_buf),
        })
    }

    /// The process id (also the group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader has exited, and how.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` to the whole group.
    pub fn signal(&self, signal: Signal) {
        // The group may already be gone; that is what we wanted.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Sends SIGTERM and waits for the leader to exit (SIGKILL after the
    /// grace period).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.try_status() {
            self.signal(Signal::SIGKILL); // stragglers of an exited leader
            return Some(status);
        }
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                self.signal(Signal::SIGKILL);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }

    /// SIGKILL to the group, no goodbye.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        self.signal(Signal::SIGKILL);
        self.child.wait().ok()
    }

    /// The last `lines` lines of the log file, if output goes to one.
    pub fn log_tail(&self, lines: usize) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if std::thread::panicking() && self.log.is_some() {
            eprintln!(
                "--- last output of {} ---\n{}\n---",
                self.name,
                self.log_tail(40)
            );
        }
        self.stop();
    }
}
