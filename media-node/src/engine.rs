//! The forwarding task: owns the [`Sfu`] and the UDP socket, reads the clock
//! once per batch, and carries out what the core yields. The control API
//! talks to it through a bounded channel of [`Job`]s.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use protocol::media::NodeStats;
use protocol::node::NodeLoad;
use str0m::config::DtlsCert;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::rx_queue::{RxQueue, drain_time};
use crate::sfu::client::{Accepted, JoinError};
use crate::sfu::overload::{Pressure, Queue};
use crate::sfu::{Command, Output, Sfu};

/// Most datagrams read per turn before timers and jobs get a look in.
const BATCH: usize = 64;

/// Jobs waiting for the forwarding task; a full queue answers "busy".
pub const QUEUE: usize = 64;

/// How often the core hears how loaded the task is.
const LOAD_INTERVAL: Duration = Duration::from_millis(250);

/// Work for the forwarding task, each with its reply.
pub enum Job {
    /// Add an accepted participant; replies with the SDP answer.
    Join(Box<Accepted>, oneshot::Sender<Result<String, JoinError>>),
    /// A control command; replies with an SDP answer for restarts.
    Command(Command, oneshot::Sender<Result<Option<String>, JoinError>>),
    /// Counters.
    Stats(oneshot::Sender<NodeStats>),
}

/// Installs str0m's crypto backend (aws-lc-rs) once per process and makes
/// the node's DTLS certificate.
pub fn crypto() -> Option<DtlsCert> {
    let provider = str0m::crypto::from_feature_flags();
    let cert = provider.dtls_provider.generate_certificate();
    provider.install_process_default();
    cert
}

/// Runs the forwarding loop until every job sender is gone.
pub async fn run(
    mut sfu: Sfu,
    udp: Arc<UdpSocket>,
    mut jobs: mpsc::Receiver<Job>,
    load: watch::Sender<NodeLoad>,
) {
    let mut buf = vec![0u8; 2048];
    let mut load_window = LoadWindow::start(&udp);
    loop {
        let due = sfu
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            biased;
            job = jobs.recv() => {
                let Some(job) = job else { break };
                let now = std::time::Instant::now();
                match job {
                    Job::Join(accepted, reply) => {
                        let _ = reply.send(sfu.handle_join(now, *accepted));
                    }
                    Job::Command(cmd, reply) => {
                        let _ = reply.send(sfu.handle_command(now, cmd));
                    }
                    Job::Stats(reply) => {
                        let _ = reply.send(sfu.stats());
                    }
                }
            }
            ready = udp.readable() => {
                if ready.is_err() {
                    continue;
                }
                let now = std::time::Instant::now();
                for _ in 0..BATCH {
                    match udp.try_recv_from(&mut buf) {
                        Ok((n, from)) => {
                            load_window.read(n);
                            sfu.handle_datagram(now, from, &buf[..n]);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // ICMP errors (port unreachable) surface here; harmless.
                            tracing::debug!(error = %e, "udp receive");
                            break;
                        }
                    }
                }
                // Just after a read turn the queue is at its shortest: what
                // is left now is what stands.
                if let Some(pressure) = load_window.poll(now, LOAD_INTERVAL) {
                    sfu.handle_pressure(now, pressure);
                }
            }
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = std::time::Instant::now();
        if sfu.poll_timeout().is_some_and(|t| t <= now) {
            sfu.handle_timeout(now);
        }
        while let Some(out) = sfu.poll_output() {
            match out {
                Output::Transmit(t) => {
                    if let Err(e) = udp.try_send_to(&t.contents, t.destination) {
                        tracing::debug!(error = %e, to = %t.destination, "udp send");
                    }
                }
                Output::Gone {
                    room,
                    participant,
                    reason,
                } => tracing::info!(%room, %participant, reason, "participant left the node"),
            }
        }
        // Nothing to read for a while: the load is reported all the same.
        if let Some(pressure) = load_window.poll(now, 2 * LOAD_INTERVAL) {
            sfu.handle_pressure(now, pressure);
        }
        load.send_if_modified(|l| {
            let now = sfu.load();
            let changed = *l != now;
            *l = now;
            changed
        });
    }
}

/// What the core hears about load, gathered over one interval: CPU time,
/// and the socket's queue against the rate it was read at.
struct LoadWindow {
    began: std::time::Instant,
    /// The process's CPU time when the interval began.
    cpu: Option<Duration>,
    /// Datagrams read in the interval, and their bytes.
    read: u64,
    read_bytes: u64,
    /// The socket's kernel figures, where published.
    rx_queue: Option<RxQueue>,
}

impl LoadWindow {
    fn start(udp: &UdpSocket) -> Self {
        let ipv6 = udp.local_addr().is_ok_and(|a| a.is_ipv6());
        let rx_queue = RxQueue::for_fd(udp.as_raw_fd(), ipv6);
        if rx_queue.is_none() {
            tracing::warn!(
                "the media socket's receive queue is not readable: overload control goes by CPU time alone"
            );
        }
        LoadWindow {
            began: std::time::Instant::now(),
            cpu: cpu_time(),
            read: 0,
            read_bytes: 0,
            rx_queue,
        }
    }

    fn read(&mut self, bytes: usize) {
        self.read += 1;
        self.read_bytes += bytes as u64;
    }

    /// The interval's pressure once it has run `length`, and a new one
    /// begun.
    fn poll(&mut self, now: std::time::Instant, length: Duration) -> Option<Pressure> {
        let window = now.saturating_duration_since(self.began);
        if window < length {
            return None;
        }
        let cpu = cpu_time();
        let busy = match (self.cpu, cpu) {
            (Some(before), Some(after)) => {
                after.saturating_sub(before).as_secs_f64() / window.as_secs_f64()
            }
            _ => 0.0,
        };
        let queue = self
            .rx_queue
            .as_ref()
            .and_then(RxQueue::read)
            .map(|r| Queue {
                delay: drain_time(r.queued_bytes, self.read, self.read_bytes, window),
                drops: r.drops,
            });
        self.began = now;
        self.cpu = cpu;
        self.read = 0;
        self.read_bytes = 0;
        Some(Pressure { busy, queue })
    }
}

/// The process's CPU time (user + system) from `/proc/self/stat`, in clock
/// ticks of 10 ms. CPU time, not wall time: a node starved by its
/// neighbours is not overloaded by its own work, and shedding would not
/// help it. The forwarding task is one task, so a process near one core of
/// CPU means that task is near its limit.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may hold spaces, end with ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_cpu_time_that_grows_with_work() {
        let before = super::cpu_time().expect("/proc/self/stat readable");
        let start = std::time::Instant::now();
        let mut x = 1u64;
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 0);
        let after = super::cpu_time().expect("/proc/self/stat readable");
        assert!(after >= before + std::time::Duration::from_millis(20));
    }
}
