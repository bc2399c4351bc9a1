//! When to register with the worker and when to heartbeat. Sans-IO: the caller
//! asks [`Registrar::poll_action`] what is due, performs the HTTP call, and
//! reports the [`Outcome`]; it sleeps until [`Registrar::poll_timeout`].

use std::time::{Duration, Instant};

/// First retry delay after a failed call; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A call the caller must make now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /api/media-nodes/register`.
    Register,
    /// `POST /api/media-nodes/{id}/heartbeat`.
    Heartbeat,
}

/// How the last call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Registration accepted; heartbeat at this interval.
    Registered {
        /// The worker's heartbeat interval.
        heartbeat_interval: Duration,
    },
    /// Heartbeat accepted.
    HeartbeatOk,
    /// The worker does not know this node (it was marked gone or its data was
    /// reset): register again at once.
    Unknown,
    /// Network error, timeout or server error: retry with backoff.
    Failed,
}

/// Registration state of this node with the worker.
#[derive(Debug)]
pub struct Registrar {
    /// Whether the worker has accepted our registration.
    registered: bool,
    /// Heartbeat interval the worker asked for.
    interval: Duration,
    /// When the next call is due.
    due: Instant,
    /// A call has been handed out and its outcome not yet reported; nothing
    /// else is due until then.
    in_flight: bool,
    /// Delay before the next retry after a failure.
    backoff: Duration,
}

impl Registrar {
    /// A node that has not registered yet: registration is due at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            registered: false,
            interval: Duration::from_secs(5),
            due: now,
            in_flight: false,
            backoff: MIN_BACKOFF,
        }
    }

    /// Whether the worker currently counts us as registered.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The call due at `now`, if any.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        if self.in_flight || now < self.due {
            return None;
        }
        self.in_flight = true;
        Some(if self.registered {
            Action::Heartbeat
        } else {
            Action::Register
        })
    }

    /// When to call [`Registrar::poll_action`] next; `None` while a call is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.due)
    }

    /// Reports how the call handed out by `poll_action` went.
    pub fn handle_outcome(&mut self, now: Instant, outcome: Outcome) {
        self.in_flight = false;
        match outcome {
            Outcome::Registered { heartbeat_interval } => {
                self.registered = true;
                self.interval = heartbeat_interval.max(Duration::from_millis(100));
                self.backoff = MIN_BACKOFF;
                self.due = now + self.interval;
            }
            Outcome::HeartbeatOk => {
                self.backoff = MIN_BACKOFF;
                self.due = now + self.interval;
            }
            Outcome::Unknown => {
                self.registered = false;
                self.due = now;
            }
            Outcome::Failed => {
                // Retry sooner than the next heartbeat would be, so that a
                // short outage does not make the node look stale.
                self.due = now + self.backoff.min(self.interval);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn registers_then_heartbeats_on_the_workers_interval() {
        let t0 = Instant::now();
        let mut r = Registrar::new(t0);
        assert_eq!(r.poll_action(t0), Some(Action::Register));
        assert_eq!(r.poll_action(t0), None, "one call at a time");
        assert_eq!(r.poll_timeout(), None);
        r.handle_outcome(
            t0,
            Outcome::Registered {
                heartbeat_interval: 2 * SEC,
            },
        );
        assert!(r.is_registered());
        assert_eq!(r.poll_timeout(), Some(t0 + 2 * SEC));
        assert_eq!(r.poll_action(t0 + SEC), None);
        assert_eq!(r.poll_action(t0 + 2 * SEC), Some(Action::Heartbeat));
        r.handle_outcome(t0 + 2 * SEC, Outcome::HeartbeatOk);
        assert_eq!(r.poll_timeout(), Some(t0 + 4 * SEC));
    }

    #[test]
    fn failures_back_off_and_recover() {
        let t0 = Instant::now();
        let mut r = Registrar::new(t0);
        let mut now = t0;
        let mut delays = vec![];
        for _ in 0..8 {
            assert_eq!(r.poll_action(now), Some(Action::Register));
            r.handle_outcome(now, Outcome::Failed);
            let next = r.poll_timeout().unwrap();
            delays.push(next - now);
            now = next;
        }
        assert_eq!(delays[0], MIN_BACKOFF);
        assert_eq!(delays[1], MIN_BACKOFF * 2);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF));
        assert_eq!(r.poll_action(now), Some(Action::Register));
        r.handle_outcome(
            now,
            Outcome::Registered {
                heartbeat_interval: 5 * SEC,
            },
        );
        assert_eq!(r.poll_timeout(), Some(now + 5 * SEC));
    }

    #[test]
    fn a_forgotten_node_registers_again_at_once() {
        let t0 = Instant::now();
        let mut r = Registrar::new(t0);
        r.poll_action(t0);
        r.handle_outcome(
            t0,
            Outcome::Registered {
                heartbeat_interval: SEC,
            },
        );
        assert_eq!(r.poll_action(t0 + SEC), Some(Action::Heartbeat));
        r.handle_outcome(t0 + SEC, Outcome::Unknown);
        assert!(!r.is_registered());
        assert_eq!(r.poll_action(t0 + SEC), Some(Action::Register));
    }

    #[test]
    fn a_failed_heartbeat_is_retried_before_the_node_looks_stale() {
        let t0 = Instant::now();
        let mut r = Registrar::new(t0);
        r.poll_action(t0);
        r.handle_outcome(
            t0,
            Outcome::Registered {
                heartbeat_interval: 5 * SEC,
            },
        );
        let t1 = t0 + 5 * SEC;
        assert_eq!(r.poll_action(t1), Some(Action::Heartbeat));
        r.handle_outcome(t1, Outcome::Failed);
        assert_eq!(r.poll_timeout(), Some(t1 + MIN_BACKOFF));
        assert_eq!(r.poll_action(t1 + MIN_BACKOFF), Some(Action::Heartbeat));
    }
}
