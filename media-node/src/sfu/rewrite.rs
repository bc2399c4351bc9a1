//! Rewriting forwarded RTP so a subscriber sees one continuous stream while
//! the node switches between a publisher's simulcast layers.
//!
//! Each layer has its own SSRC, sequence numbers, timestamps and VP8 picture
//! ids. On a switch the offsets are rebased so the output continues from the
//! last packet sent: sequence numbers follow on (gaps inside a layer stay
//! gaps, so the subscriber still NACKs real loss), the timestamp advances by
//! the wall time elapsed, picture ids and TL0PICIDX follow on. Pure: times
//! come from the packets.

use std::time::Instant;

/// One incoming packet, as far as rewriting cares.
#[derive(Debug, Clone, Copy)]
pub struct In {
    /// Extended (rollover-free) sequence number.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// When it arrived.
    pub at: Instant,
    /// VP8 picture id (15 bit) and TL0PICIDX, when present.
    pub picture_id: Option<u16>,
    /// VP8 TL0PICIDX, when present.
    pub tl0: Option<u8>,
}

/// What to write instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    /// Extended sequence number; starts with rollover count 0.
    pub seq: u64,
    /// RTP timestamp.
    pub ts: u32,
    /// Rewritten picture id.
    pub picture_id: Option<u16>,
    /// Rewritten TL0PICIDX.
    pub tl0: Option<u8>,
}

/// The rewriting state of one subscription.
#[derive(Debug, Clone)]
pub struct Rewriter {
    /// Clock rate of the codec (90 kHz video, 48 kHz Opus).
    clock_rate: u32,
    /// Offsets of the layer being forwarded; `None` until the first packet
    /// and after a switch was requested.
    offsets: Option<Offsets>,
    /// The highest output so far, to continue from on a switch.
    last: Option<(Out, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Offsets {
    /// The first incoming sequence number of this layer since the switch;
    /// anything older belongs to before it and is dropped.
    start: u64,
    seq: i64,
    ts: u32,
    picture_id: u16,
    tl0: u8,
}

const PICTURE_ID_MASK: u16 = 0x7fff;

impl Rewriter {
    /// A rewriter for a codec clocked at `clock_rate`.
    pub fn new(clock_rate: u32) -> Self {
        Rewriter {
            clock_rate,
            offsets: None,
            last: None,
        }
    }

    /// The next packet will start a new layer (call it with a keyframe).
    pub fn rebase(&mut self) {
        self.offsets = None;
    }

    /// Rewrites `p`, or `None` when it is older than the current layer's
    /// start (a late packet of before the switch).
    pub fn rewrite(&mut self, p: In) -> Option<Out> {
        let o = match self.offsets {
            Some(o) => o,
            None => {
                let o = self.offsets_for(&p);
                self.offsets = Some(o);
                o
            }
        };
        if p.seq < o.start {
            return None;
        }
        let seq = u64::try_from(p.seq as i64 + o.seq).ok()?;
        let out = Out {
            seq,
            ts: p.ts.wrapping_add(o.ts),
            picture_id: p
                .picture_id
                .map(|id| id.wrapping_add(o.picture_id) & PICTURE_ID_MASK),
            tl0: p.tl0.map(|t| t.wrapping_add(o.tl0)),
        };
        match self.last {
            Some((last, _)) if last.seq >= out.seq => {}
            _ => self.last = Some((out, p.at)),
        }
        Some(out)
    }

    fn offsets_for(&self, p: &In) -> Offsets {
        let Some((last, at)) = self.last else {
            // First packet ever: keep the low 16 bits so the rollover
            // counter starts at 0, as SRTP receivers assume.
            return Offsets {
                start: p.seq,
                seq: -((p.seq & !0xffff) as i64),
                ts: 0,
                picture_id: 0,
                tl0: 0,
            };
        };
        let elapsed = p.at.saturating_duration_since(at);
        let ticks = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000) as u32;
        let ts = last.ts.wrapping_add(ticks.max(1));
        Offsets {
            start: p.seq,
            seq: (last.seq + 1) as i64 - p.seq as i64,
            ts: ts.wrapping_sub(p.ts),
            picture_id: match (last.picture_id, p.picture_id) {
                (Some(l), Some(i)) => l.wrapping_add(1).wrapping_sub(i),
                _ => 0,
            },
            tl0: match (last.tl0, p.tl0) {
                (Some(l), Some(i)) => l.wrapping_add(1).wrapping_sub(i),
                _ => 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pkt(t0: Instant, seq: u64, ts: u32, ms: u64, pid: u16, tl0: u8) -> In {
        In {
            seq,
            ts,
            at: t0 + Duration::from_millis(ms),
            picture_id: Some(pid),
            tl0: Some(tl0),
        }
    }

    #[test]
    fn first_layer_passes_through_with_rollover_zero() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = r.rewrite(pkt(t0, 70_000, 1000, 0, 5, 9)).unwrap();
        assert_eq!(a.seq, 70_000 & 0xffff);
        assert_eq!((a.ts, a.picture_id, a.tl0), (1000, Some(5), Some(9)));
        let b = r.rewrite(pkt(t0, 70_002, 4000, 33, 6, 9)).unwrap();
        // A gap stays a gap, so the subscriber can NACK it.
        assert_eq!(b.seq, a.seq + 2);
    }

    #[test]
    fn a_switch_continues_sequence_time_and_picture_ids() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        let a = r.rewrite(pkt(t0, 100, 50_000, 0, 300, 20)).unwrap();
        r.rebase();
        // The other layer has unrelated numbering.
        let b = r.rewrite(pkt(t0, 9_000, 7_777_777, 100, 12, 200)).unwrap();
        assert_eq!(b.seq, a.seq + 1);
        assert_eq!(b.ts, a.ts + 9_000); // 100 ms at 90 kHz
        assert_eq!(b.picture_id, Some(301));
        assert_eq!(b.tl0, Some(21));
        let c = r.rewrite(pkt(t0, 9_001, 7_780_777, 133, 13, 200)).unwrap();
        assert_eq!(c.seq, b.seq + 1);
        assert_eq!(c.ts, b.ts + 3000);
        assert_eq!(c.picture_id, Some(302));
        // A late packet of before the switch is dropped.
        assert!(r.rewrite(pkt(t0, 8_999, 7_770_000, 140, 11, 200)).is_none());
    }

    #[test]
    fn picture_ids_wrap_at_15_bits() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(90_000);
        r.rewrite(pkt(t0, 1, 0, 0, 0x7fff, 255)).unwrap();
        r.rebase();
        let b = r.rewrite(pkt(t0, 50, 0, 33, 7, 3)).unwrap();
        assert_eq!(b.picture_id, Some(0));
        assert_eq!(b.tl0, Some(0));
    }
}
