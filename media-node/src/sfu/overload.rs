//! Overload control: when the forwarding task falls behind its socket,
//! every subscriber's video budget is scaled down, so the layer allocator
//! drops upgrades and then the lowest-priority tiles (the smallest first)
//! instead of the socket queue growing until everything arrives late. When
//! the queue is short again the scale creeps back. Pure: the caller reports
//! how busy the task was, how long its receive queue is, and when.
//!
//! Falling behind, not being busy, is the trigger. A task near one core of
//! CPU that still drains its queue is doing its job (batches grow and each
//! packet costs less, so busy CPU says little about headroom); shedding
//! there cut video nobody needed cut. The queue is read the way CoDel reads
//! a router's: a standing queue, one still long a sampling interval later,
//! is overload; a burst that drains is not. Kernel drops are overload
//! however long the queue looks.

use std::time::{Duration, Instant};

/// A receive queue that would take longer than this to drain is long.
pub const QUEUE_TARGET: Duration = Duration::from_millis(10);
/// A long queue is only overload while the task is this busy (fraction of
/// one core): a task starved by its neighbours is not overloaded by its own
/// work, and shedding would not help it.
pub const SHED_BUSY: f64 = 0.8;
/// Without a queue reading, busy above this is taken as overload.
pub const SHED_ABOVE: f64 = 0.95;
/// Without a queue reading, busy below this is headroom.
pub const RESTORE_BELOW: f64 = 0.85;
/// Each overloaded report keeps this share of the budget.
const SHED_TO_PERCENT: u32 = 80;
/// Each restore step adds this many percent,
const RESTORE_STEP: u32 = 10;
/// or this many within `RESTORE_STEP` of the share the last shed began at
/// (the node fell behind there: probe it slowly, as TCP's slow start gives
/// way to congestion avoidance near the last loss).
const PROBE_STEP: u32 = 2;
/// A shed is remembered this long: load changes, and an old limit says
/// little about the next.
const CEILING_MEMORY: Duration = Duration::from_secs(20);
/// A queue this long at one reading is behind without waiting for the
/// next: at the queue's shortest point it cannot be a passing burst.
const QUEUE_FAR_BEHIND: Duration = Duration::from_millis(20);
/// The least budget share: a trickle of video keeps the estimates alive.
pub const MIN_PERCENT: u32 = 10;
/// A shed waits this long after the last one unless the kernel drops
/// packets: the queue a shed leaves behind takes a moment to drain.
const SHED_HOLD: Duration = Duration::from_millis(500);
/// Restores wait this long after any change, so a shed has time to show
/// before it is undone.
const RESTORE_HOLD: Duration = Duration::from_secs(1);

/// What the engine reports about its load, every interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    /// CPU time used over the interval as a fraction of one core.
    pub busy: f64,
    /// The socket's receive queue at the end of the interval, read just
    /// after a turn of reads, where it is shortest (what is left there
    /// stands), when the platform tells (Linux does).
    pub queue: Option<Queue>,
}

/// A reading of the media socket's receive queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    /// How long what is queued would take to read at the rate datagrams
    /// were read over the interval: the wait of the newest datagram.
    pub delay: Duration,
    /// Datagrams the kernel has dropped on this socket since it opened.
    pub drops: u64,
}

/// The node-wide share of each subscriber's video budget.
#[derive(Debug, Clone)]
pub struct Overload {
    /// Percent of the budget allowed (100: no overload).
    percent: u32,
    /// When the share last changed, and whether that was a shed.
    changed: Option<(Instant, bool)>,
    /// The previous queue reading: a long queue counts only if it was
    /// long at the reading before too (it stood), and drops only if the
    /// count grew.
    last: Option<Queue>,
    /// The share the last episode of sheds began at, and when it last
    /// shed: restores approach it slowly.
    ceiling: Option<(u32, Instant)>,
}

impl Default for Overload {
    fn default() -> Self {
        Overload {
            percent: 100,
            changed: None,
            last: None,
            ceiling: None,
        }
    }
}

/// What one report says about the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The kernel dropped datagrams: shed at once.
    Dropping,
    /// Behind: shed, unless a shed is still settling.
    Behind,
    /// Keeping up with headroom: restore after a hold.
    Headroom,
    /// Keeping up with little to spare: hold.
    Hold,
}

impl Overload {
    /// Percent of each subscriber's video budget allowed now.
    pub fn percent(&self) -> u32 {
        self.percent
    }

    /// Takes the load over the last interval, ending at `now`; returns
    /// whether the share changed.
    pub fn handle_pressure(&mut self, now: Instant, p: Pressure) -> bool {
        let verdict = self.verdict(p);
        let since = |shed_only: bool| {
            self.changed
                .filter(|(_, shed)| *shed || !shed_only)
                .map(|(t, _)| now.saturating_duration_since(t))
        };
        let before = self.percent;
        match verdict {
            Verdict::Dropping => self.shed(now),
            Verdict::Behind if since(true).is_none_or(|d| d >= SHED_HOLD) => self.shed(now),
            Verdict::Headroom
                if self.percent < 100 && since(false).is_none_or(|d| d >= RESTORE_HOLD) =>
            {
                let near = self.ceiling.is_some_and(|(c, t)| {
                    now.saturating_duration_since(t) < CEILING_MEMORY
                        && self.percent.abs_diff(c) <= RESTORE_STEP
                });
                let step = if near { PROBE_STEP } else { RESTORE_STEP };
                self.percent = (self.percent + step).min(100);
            }
            _ => {}
        }
        let changed = self.percent != before;
        if changed {
            self.changed = Some((now, self.percent < before));
        }
        changed
    }

    fn shed(&mut self, now: Instant) {
        // Sheds with no restore between them are one episode of falling
        // behind, and the node fell behind at the share the episode began
        // at, not at the shares it passed while its queue drained: a burst
        // of joins (a webinar's start: DTLS handshakes, no forwarding to
        // cut) sheds reading after reading, and remembering the last share
        // held video at a third for the 15 s after it.
        let episode = self.changed.is_some_and(|(_, shed)| shed)
            && self
                .ceiling
                .is_some_and(|(_, t)| now.saturating_duration_since(t) < CEILING_MEMORY);
        let began = match self.ceiling {
            Some((c, _)) if episode => c,
            _ => self.percent,
        };
        self.ceiling = Some((began, now));
        self.percent = (self.percent * SHED_TO_PERCENT / 100).max(MIN_PERCENT);
    }

    fn verdict(&mut self, p: Pressure) -> Verdict {
        let Some(q) = p.queue else {
            return if p.busy > SHED_ABOVE {
                Verdict::Behind
            } else if p.busy < RESTORE_BELOW {
                Verdict::Headroom
            } else {
                Verdict::Hold
            };
        };
        let last = self.last.replace(q);
        if last.is_some_and(|l| q.drops > l.drops) {
            return Verdict::Dropping;
        }
        let long = q.delay > QUEUE_TARGET;
        let stood =
            q.delay > QUEUE_FAR_BEHIND || (long && last.is_some_and(|l| l.delay > QUEUE_TARGET));
        if stood && p.busy > SHED_BUSY {
            Verdict::Behind
        } else if long {
            Verdict::Hold
        } else {
            Verdict::Headroom
        }
    }

    /// `budget` scaled by the share.
    pub fn scale(&self, budget: u64) -> u64 {
        budget / 100 * u64::from(self.percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(busy: f64) -> Pressure {
        Pressure { busy, queue: None }
    }

    /// Reports `p` `n` times, 250 ms apart, from `*t` on; the share after
    /// each change.
    fn report(o: &mut Overload, t: &mut Instant, n: usize, p: Pressure) -> Vec<u32> {
        let mut changes = Vec::new();
        for _ in 0..n {
            *t += Duration::from_millis(250);
            if o.handle_pressure(*t, p) {
                changes.push(o.percent());
            }
        }
        changes
    }

    fn queued(busy: f64, delay_ms: u64, drops: u64) -> Pressure {
        Pressure {
            busy,
            queue: Some(Queue {
                delay: Duration::from_millis(delay_ms),
                drops,
            }),
        }
    }

    #[test]
    fn without_a_queue_reading_sheds_while_busy_and_restores_slowly_when_idle() {
        let t0 = Instant::now();
        let mut o = Overload::default();
        assert!(
            !o.handle_pressure(t0, busy(0.5)),
            "idle at full share changes nothing"
        );
        assert!(
            !o.handle_pressure(t0, busy(0.85)),
            "between the thresholds: hold"
        );
        assert!(o.handle_pressure(t0, busy(0.97)));
        assert_eq!(o.percent(), 80);
        assert_eq!(o.scale(1_000_000), 800_000);
        let mut t = t0;
        let mut last_change = t0;
        for _ in 0..40 {
            t += Duration::from_millis(250);
            if o.handle_pressure(t, busy(1.0)) {
                last_change = t;
            }
        }
        assert_eq!(o.percent(), MIN_PERCENT);
        // Restoring waits a second after the last change, then steps.
        let early = last_change + Duration::from_millis(500);
        assert!(!o.handle_pressure(early, busy(0.2)));
        let start = last_change;
        let mut t = last_change + Duration::from_secs(1);
        let mut steps = 0;
        while o.percent() < 100 {
            let before = o.percent();
            if o.handle_pressure(t, busy(0.2)) {
                steps += 1;
                assert!(o.percent() - before <= 10, "{before} -> {}", o.percent());
            }
            t += Duration::from_millis(250);
        }
        assert!(steps >= 9);
        assert!(
            t >= start + Duration::from_secs(9),
            "one step a second at most"
        );
    }

    #[test]
    fn a_busy_task_that_drains_its_queue_keeps_the_whole_budget() {
        let mut t = Instant::now();
        let mut o = Overload::default();
        for i in 0..40 {
            t += Duration::from_millis(250);
            // Near a core, the queue short, now and then a burst.
            let delay = if i % 3 == 0 { 15 } else { 2 };
            assert!(!o.handle_pressure(t, queued(0.99, delay, 0)));
        }
        assert_eq!(o.percent(), 100);
    }

    #[test]
    fn a_standing_queue_sheds_with_a_hold_and_drops_shed_at_once() {
        let t0 = Instant::now();
        let mut o = Overload::default();
        assert!(
            !o.handle_pressure(t0, queued(0.99, 15, 5)),
            "one long reading: a burst"
        );
        let t1 = t0 + Duration::from_millis(250);
        assert!(o.handle_pressure(t1, queued(0.99, 15, 5)), "it stood: shed");
        assert_eq!(o.percent(), 80);
        let t2 = t1 + Duration::from_millis(250);
        assert!(
            !o.handle_pressure(t2, queued(0.99, 15, 5)),
            "the queue a shed leaves takes a moment to drain"
        );
        let t3 = t2 + Duration::from_millis(250);
        assert!(
            o.handle_pressure(t3, queued(0.99, 15, 5)),
            "still standing: shed again"
        );
        assert_eq!(o.percent(), 64);
        let t4 = t3 + Duration::from_millis(100);
        assert!(
            o.handle_pressure(t4, queued(0.99, 15, 9)),
            "the kernel dropped: at once"
        );
        assert_eq!(o.percent(), 51);
        // Short again: hold a second, then climb a step a second.
        let t5 = t4 + Duration::from_millis(250);
        assert!(!o.handle_pressure(t5, queued(0.99, 1, 9)));
        let t6 = t4 + Duration::from_secs(1);
        assert!(
            o.handle_pressure(t6, queued(0.99, 1, 9)),
            "short, though busy: restore"
        );
        assert_eq!(o.percent(), 61);
    }

    #[test]
    fn a_queue_far_behind_sheds_at_once_and_restores_probe_near_that_limit() {
        let mut t = Instant::now();
        let mut o = Overload::default();
        assert!(report(&mut o, &mut t, 4, queued(0.99, 1, 0)).is_empty());
        assert_eq!(
            report(&mut o, &mut t, 1, queued(0.99, 40, 0)),
            vec![80],
            "far behind: at once"
        );
        // Restores: 90, then within a step of 100, where it fell behind,
        // two at a time.
        assert_eq!(
            report(&mut o, &mut t, 16, queued(0.99, 0, 0)),
            vec![90, 92, 94, 96]
        );
        // Long after the shed, the limit is forgotten: full steps.
        let mut o = Overload::default();
        let t0 = Instant::now();
        assert!(o.handle_pressure(t0, queued(0.99, 40, 0)));
        let late = t0 + CEILING_MEMORY;
        assert!(o.handle_pressure(late, queued(0.99, 0, 0)));
        assert_eq!(o.percent(), 90);
        assert!(o.handle_pressure(late + RESTORE_HOLD, queued(0.99, 0, 0)));
        assert_eq!(o.percent(), 100);
    }

    #[test]
    fn a_cascade_of_sheds_restores_fast_up_to_where_it_began() {
        let mut t = Instant::now();
        let mut o = Overload::default();
        // A burst (a room's worth of joins) the node falls behind on for a
        // second and a half, dropping: it sheds at every reading.
        let mut drops = 0;
        let mut sheds = Vec::new();
        for _ in 0..5 {
            drops += 100;
            sheds.extend(report(&mut o, &mut t, 1, queued(1.0, 300, drops)));
        }
        assert_eq!(sheds, vec![80, 64, 51, 40, 32]);
        // Caught up with room to spare: full steps until near 100, where
        // the episode began, then two at a time.
        assert_eq!(
            report(&mut o, &mut t, 48, queued(0.5, 0, drops)),
            vec![42, 52, 62, 72, 82, 92, 94, 96, 98, 100]
        );
        // A second episode after a restore begins where that one shed.
        let mut o = Overload::default();
        let mut t = Instant::now();
        assert_eq!(report(&mut o, &mut t, 1, queued(1.0, 40, 0)), vec![80]);
        assert_eq!(report(&mut o, &mut t, 4, queued(0.5, 0, 0)), vec![90]);
        assert_eq!(report(&mut o, &mut t, 1, queued(1.0, 40, 0)), vec![72]);
        assert_eq!(report(&mut o, &mut t, 8, queued(0.5, 0, 0)), vec![82, 84]);
    }

    #[test]
    fn a_long_queue_without_cpu_pressure_is_not_this_tasks_overload() {
        let mut t = Instant::now();
        let mut o = Overload::default();
        assert!(report(&mut o, &mut t, 10, queued(0.4, 40, 0)).is_empty());
        assert_eq!(o.percent(), 100);
    }
}
