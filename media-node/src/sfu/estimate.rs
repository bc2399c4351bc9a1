//! A subscriber's egress bandwidth estimate from the loss its browser
//! reports: the loss-based half of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02, section 6), sans-IO.
//!
//! Why not str0m's own estimator: enabling it also enables str0m's leaky
//! pacer, which releases one packet per `handle_timeout`, and each of those
//! walks every stream of the connection. Measured at 30x30 on the bench
//! machine, that pacer path was about 5 of 18 CPU µs per forwarded packet,
//! and at 50x50 it capped the node below the load (63 % loss against none
//! without it). Without it, str0m sends whatever is queued in one drain.
//! What is given up: delay-based detection of a filling bottleneck queue
//! before it drops packets, and probing. Loss arrives in the receiver
//! reports browsers send about once a second per stream.
//!
//! The rule, per report interval (the stats snapshot str0m makes each
//! [`INTERVAL`]): loss above 10 % cuts the estimate to the rate actually
//! sent (or half the estimate, if more) times (1 - loss / 2), and the next
//! interval cannot cut again, as its reports still count the losses of
//! the queue the cut drained; loss under 2 % raises it (doubling until the
//! first loss is seen, as a start phase; 8 % after), never beyond twice
//! what was sent plus [`HEADROOM`] or what the view asks for, whichever is
//! more, so a subscriber that wanted little does not claim a capacity it
//! never used, yet one whose tiles grew can reach their layers; in between
//! it holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::media::Mid;

/// How often str0m reports each stream's counters (its stats interval).
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The estimate before any report: the same start as str0m's estimator had.
pub const START: u64 = 600_000;
/// Never below this: audio and the lowest layer of a tile or two.
pub const MIN: u64 = 100_000;
/// Never above this.
pub const MAX: u64 = 50_000_000;
/// Growth allowed beyond twice the rate sent.
pub const HEADROOM: u64 = 300_000;

/// Loss above this fraction cuts the estimate.
const LOSS_HIGH: f32 = 0.10;
/// Loss under this fraction raises it.
const LOSS_LOW: f32 = 0.02;
/// Growth per interval once loss has been seen.
const GROWTH_PERCENT: u64 = 108;

/// One interval's counters, summed over the streams reported in it.
#[derive(Debug, Clone, Copy)]
struct Interval {
    /// The snapshot's time (str0m stamps every stream's report of one
    /// snapshot with the same instant).
    at: Instant,
    bytes: u64,
    packets: u64,
    /// Packets lost, as reported loss fractions times packets sent.
    lost: f64,
    /// Some stream in it had a receiver report.
    reported: bool,
}

/// The estimate for one subscriber's connection.
#[derive(Debug, Clone)]
pub struct LossEstimate {
    bitrate: u64,
    /// Loss above [`LOSS_LOW`] was seen once: the start phase is over.
    seen_loss: bool,
    /// The previous interval cut the estimate.
    just_cut: bool,
    /// The loss of the latest interval with a report.
    last_loss: Option<f32>,
    /// What the subscriber's view would use at its best layers.
    desired: u64,
    /// Each stream's cumulative counters at its previous report.
    totals: HashMap<Mid, (u64, u64)>,
    /// The interval being summed.
    current: Option<Interval>,
    /// When the previous interval was stamped, to turn bytes into a rate.
    previous_at: Option<Instant>,
    /// The browser's own receive-side estimate (REMB), where it sent one:
    /// a cap until loss next moves the estimate.
    remb: Option<u64>,
}

impl Default for LossEstimate {
    fn default() -> Self {
        LossEstimate {
            bitrate: START,
            seen_loss: false,
            just_cut: false,
            last_loss: None,
            desired: 0,
            totals: HashMap::new(),
            current: None,
            previous_at: None,
            remb: None,
        }
    }
}

/// One stream's report, as str0m's `MediaEgressStats` gives it.
#[derive(Debug, Clone, Copy)]
pub struct StreamReport {
    /// The section.
    pub mid: Mid,
    /// When str0m took the snapshot.
    pub at: Instant,
    /// Bytes sent so far (cumulative).
    pub bytes: u64,
    /// Packets sent so far (cumulative).
    pub packets: u64,
    /// Loss fraction from receiver reports since the previous snapshot.
    pub loss: Option<f32>,
}

impl LossEstimate {
    /// The estimate in bits per second.
    pub fn bitrate(&self) -> u64 {
        self.remb.map_or(self.bitrate, |r| r.min(self.bitrate))
    }

    /// A REMB from the browser: it caps the estimate until loss next
    /// changes it.
    pub fn handle_remb(&mut self, bps: u64) {
        self.remb = Some(bps);
    }

    /// What the subscriber's view would use at the layers its tiles
    /// call for: the estimate may grow that far without having sent it.
    pub fn set_desired(&mut self, bps: u64) {
        self.desired = bps;
    }

    /// One stream's counters. An interval is complete when a report of a
    /// later snapshot arrives; returns `true` when that changed the
    /// estimate.
    pub fn handle_report(&mut self, r: StreamReport) -> bool {
        let mut changed = false;
        if let Some(done) = self.current.filter(|c| c.at != r.at) {
            changed = self.conclude(done);
            self.current = None;
        }
        let (bytes0, packets0) = self.totals.get(&r.mid).copied().unwrap_or((0, 0));
        // A stream declared again (parked, reused) restarts its counters.
        let bytes = r.bytes.checked_sub(bytes0).unwrap_or(r.bytes);
        let packets = r.packets.checked_sub(packets0).unwrap_or(r.packets);
        self.totals.insert(r.mid, (r.bytes, r.packets));
        let c = self.current.get_or_insert(Interval {
            at: r.at,
            bytes: 0,
            packets: 0,
            lost: 0.0,
            reported: false,
        });
        c.bytes += bytes;
        c.packets += packets;
        if let Some(loss) = r.loss {
            c.lost += f64::from(loss.clamp(0.0, 1.0)) * packets as f64;
            c.reported = true;
        }
        changed
    }

    fn conclude(&mut self, i: Interval) -> bool {
        let previous = self.previous_at.replace(i.at);
        let Some(previous) = previous else {
            return false; // No rate without a previous snapshot.
        };
        let secs = i.at.saturating_duration_since(previous).as_secs_f64();
        if secs <= 0.0 || i.packets == 0 {
            return false;
        }
        let sent = (i.bytes as f64 * 8.0 / secs) as u64;
        // Browsers report audio every 5 s, video every second: while only
        // audio flows, an interval without a report keeps the verdict of
        // the last one, or the estimate could not grow back to video.
        let loss = if i.reported {
            (i.lost / i.packets as f64) as f32
        } else {
            match self.last_loss {
                Some(l) if l < LOSS_LOW => l,
                _ => return false,
            }
        };
        self.last_loss = Some(loss);
        let before = self.bitrate;
        let just_cut = std::mem::take(&mut self.just_cut);
        if loss > LOSS_HIGH {
            self.seen_loss = true;
            // Receiver reports lag: the interval after a cut still counts
            // losses from the queue the cut has since drained.
            if !just_cut {
                // A paused tile makes the rate sent a poor sample of the
                // path: never cut more than half in one step.
                let base = sent.max(self.bitrate / 2);
                let cut = base as f64 * (1.0 - f64::from(loss) / 2.0);
                self.bitrate = (cut as u64).min(self.bitrate);
                self.just_cut = true;
            }
        } else if loss < LOSS_LOW {
            let grown = if self.seen_loss {
                self.bitrate * GROWTH_PERCENT / 100
            } else {
                self.bitrate * 2
            };
            // What the view asks for may be tried even without evidence
            // (there is no probing): a cut follows if the path cannot.
            let cap = sent
                .saturating_mul(2)
                .saturating_add(HEADROOM)
                .max(self.desired);
            self.bitrate = self.bitrate.max(grown.min(cap));
        } else {
            self.seen_loss = true;
        }
        self.bitrate = self.bitrate.clamp(MIN, MAX);
        let changed = self.bitrate != before;
        if changed {
            self.remb = None;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one interval: every stream sent `bps / streams` for a second
    /// with `loss`; returns the estimate after.
    struct Feed {
        e: LossEstimate,
        t0: Instant,
        second: u64,
        totals: Vec<(u64, u64)>,
    }

    impl Feed {
        fn new(streams: usize) -> Self {
            Feed {
                e: LossEstimate::default(),
                t0: Instant::now(),
                second: 0,
                totals: vec![(0, 0); streams],
            }
        }

        fn second(&mut self, bps: u64, loss: Option<f32>) -> u64 {
            self.second += 1;
            let at = self.t0 + Duration::from_secs(self.second);
            let n = self.totals.len() as u64;
            for (k, t) in self.totals.iter_mut().enumerate() {
                t.0 += bps / 8 / n;
                t.1 += 100 / n;
                self.e.handle_report(StreamReport {
                    mid: Mid::from(format!("{k}").as_str()),
                    at,
                    bytes: t.0,
                    packets: t.1,
                    loss,
                });
            }
            self.e.bitrate()
        }
    }

    #[test]
    fn starts_where_str0m_started_and_doubles_without_loss() {
        let mut f = Feed::new(3);
        assert_eq!(f.e.bitrate(), START);
        // The first two snapshots give the first rate; the interval is
        // concluded by the next snapshot's first report.
        f.second(2_000_000, Some(0.0));
        f.second(2_000_000, Some(0.0));
        assert_eq!(f.second(2_000_000, Some(0.0)), 2 * START);
        assert_eq!(f.second(2_000_000, Some(0.0)), 4 * START);
    }

    #[test]
    fn growth_is_capped_by_what_was_sent() {
        let mut f = Feed::new(1);
        for _ in 0..20 {
            f.second(100_000, Some(0.0));
        }
        assert_eq!(f.e.bitrate(), START, "2 x 100 kbps + headroom < start");
        for _ in 0..20 {
            f.second(3_000_000, Some(0.0));
        }
        assert_eq!(f.e.bitrate(), 2 * 3_000_000 + HEADROOM);
    }

    #[test]
    fn the_view_may_ask_for_more_than_was_sent() {
        let mut f = Feed::new(1);
        f.e.set_desired(2_000_000);
        for _ in 0..10 {
            f.second(500_000, Some(0.0));
        }
        // 2 x 500 kbps + headroom would stop at 1.3 Mbps.
        assert_eq!(f.e.bitrate(), 2_000_000);
    }

    #[test]
    fn heavy_loss_cuts_to_the_rate_sent_and_growth_slows_after() {
        let mut f = Feed::new(2);
        for _ in 0..6 {
            f.second(4_000_000, Some(0.0));
        }
        let high = f.e.bitrate();
        assert!(high > 4_000_000);
        f.second(4_000_000, Some(0.5));
        let cut = f.second(4_000_000, Some(0.5));
        // Half of what was sent lost: a quarter off the rate sent, or off
        // half the estimate where that is more.
        let base = 4_000_000u64.max(high / 2);
        assert_eq!(cut, base * 3 / 4);
        // The next interval's loss is the drained queue's: no second cut.
        assert_eq!(f.second(4_000_000, Some(0.0)), cut);
        let after = f.second(4_000_000, Some(0.0));
        assert_eq!(after, cut * GROWTH_PERCENT / 100);
    }

    #[test]
    fn moderate_loss_holds_and_no_report_changes_nothing() {
        let mut f = Feed::new(1);
        for _ in 0..4 {
            f.second(2_000_000, Some(0.0));
        }
        // This report concludes the interval before it (no loss).
        let held = f.second(2_000_000, Some(0.05));
        assert_eq!(f.second(2_000_000, None), held);
        assert_eq!(f.second(2_000_000, None), held);
    }

    #[test]
    fn without_reports_a_clean_verdict_still_grows_the_estimate() {
        let mut f = Feed::new(1);
        for _ in 0..3 {
            f.second(100_000, Some(0.0));
        }
        let clean = f.second(400_000, None);
        assert!(f.second(400_000, None) > clean, "audio-only intervals grow");
        let mut g = Feed::new(1);
        for _ in 0..3 {
            g.second(100_000, None);
        }
        assert_eq!(g.second(100_000, None), START, "no verdict yet: hold");
    }

    #[test]
    fn a_remb_caps_until_loss_moves_the_estimate() {
        let mut f = Feed::new(1);
        for _ in 0..4 {
            f.second(2_000_000, Some(0.0));
        }
        f.second(2_000_000, Some(0.05));
        f.e.handle_remb(300_000);
        assert_eq!(f.e.bitrate(), 300_000);
        // Concludes the 5 % interval: a hold, so the cap stays.
        assert_eq!(f.second(3_000_000, Some(0.0)), 300_000);
        // Concludes a clean one at a higher rate sent: the loss rule moves
        // the estimate, and the cap goes.
        assert!(f.second(3_000_000, Some(0.0)) > 300_000);
    }

    #[test]
    fn stays_within_bounds_and_survives_counter_resets() {
        let mut f = Feed::new(1);
        for _ in 0..8 {
            f.second(150_000, Some(1.0));
        }
        assert_eq!(f.e.bitrate(), MIN);
        // A stream declared again reports counters from zero.
        f.totals[0] = (0, 0);
        f.second(1_000_000, Some(0.0));
        assert!(f.e.bitrate() >= MIN);
        let mut g = Feed::new(1);
        for _ in 0..40 {
            g.second(u64::MAX / 64, Some(0.0));
        }
        assert_eq!(g.e.bitrate(), MAX);
    }
}
