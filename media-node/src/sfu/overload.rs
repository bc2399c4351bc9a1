//! Overload control: when the forwarding task is busy nearly all the time,
//! every subscriber's video budget is scaled down, so the layer allocator
//! drops upgrades and then the lowest-priority tiles (the smallest first)
//! instead of the socket queues growing until everything arrives late. When
//! the task has headroom again the scale creeps back. Pure: the caller
//! reports how busy it was and when.

use std::time::{Duration, Instant};

/// Busy above this (fraction of wall time) is overload: shed.
pub const SHED_ABOVE: f64 = 0.95;
/// Busy below this is headroom: restore.
pub const RESTORE_BELOW: f64 = 0.85;
/// Each overloaded report keeps this share of the budget.
const SHED_TO_PERCENT: u32 = 80;
/// Each restore step adds this many percent.
const RESTORE_STEP: u32 = 10;
/// The least budget share: a trickle of video keeps the estimates alive.
pub const MIN_PERCENT: u32 = 10;
/// Restores wait this long after any change, so a shed has time to show
/// in the busy figure before it is undone.
const RESTORE_HOLD: Duration = Duration::from_secs(1);

/// The node-wide share of each subscriber's video budget.
#[derive(Debug, Clone)]
pub struct Overload {
    /// Percent of the budget allowed (100: no overload).
    percent: u32,
    /// When the share last changed.
    changed: Option<Instant>,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            percent: 100,
            changed: None,
        }
    }
}

impl Overload {
    /// Percent of each subscriber's video budget allowed now.
    pub fn percent(&self) -> u32 {
        self.percent
    }

    /// Takes how busy the forwarding task was (0.0 to 1.0) over the last
    /// interval, ending at `now`; returns whether the share changed.
    pub fn handle_busy(&mut self, now: Instant, busy: f64) -> bool {
        let before = self.percent;
        if busy > SHED_ABOVE {
            self.percent = (self.percent * SHED_TO_PERCENT / 100).max(MIN_PERCENT);
        } else if busy < RESTORE_BELOW
            && self.percent < 100
            && self
                .changed
                .is_none_or(|t| now.saturating_duration_since(t) >= RESTORE_HOLD)
        {
            self.percent = (self.percent + RESTORE_STEP).min(100);
        }
        let changed = self.percent != before;
        if changed {
            self.changed = Some(now);
        }
        changed
    }

    /// `budget` scaled by the share.
    pub fn scale(&self, budget: u64) -> u64 {
        budget / 100 * u64::from(self.percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_while_busy_to_a_floor_and_restores_slowly_when_idle() {
        let t0 = Instant::now();
        let mut o = Overload::default();
        assert!(
            !o.handle_busy(t0, 0.5),
            "idle at full share changes nothing"
        );
        assert!(!o.handle_busy(t0, 0.85), "between the thresholds: hold");
        assert!(o.handle_busy(t0, 0.97));
        assert_eq!(o.percent(), 80);
        assert_eq!(o.scale(1_000_000), 800_000);
        for _ in 0..40 {
            o.handle_busy(t0, 1.0);
        }
        assert_eq!(o.percent(), MIN_PERCENT);
        // Restoring waits a second after the last change, then steps.
        let t1 = t0 + Duration::from_millis(500);
        assert!(!o.handle_busy(t1, 0.2));
        let mut t = t0 + Duration::from_secs(1);
        let mut steps = 0;
        while o.percent() < 100 {
            if o.handle_busy(t, 0.2) {
                steps += 1;
            }
            t += Duration::from_millis(250);
        }
        assert_eq!(steps, 9);
        assert!(
            t >= t0 + Duration::from_secs(9),
            "one step a second at most"
        );
    }
}
