//! A subscription: one media section of a subscriber's connection and what
//! it carries. An audio section carries one microphone for good; a video
//! section is a **slot**, carrying whichever video track the subscriber's
//! view needs now (see [`Subscription::assign`]).

use std::time::{Duration, Instant};

use protocol::media::TrackName;
use str0m::Rtc;
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::{Ssrc, StreamTx};

use super::TrackRef;
use super::rewrite::Rewriter;

/// Where a subscription is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In an offer the subscriber has not answered yet.
    Offered,
    /// Negotiated: packets flow when a layer is chosen.
    Active,
    /// The track ended or the subscriber may no longer receive it; its
    /// media section is stopped at the next negotiation.
    Ended,
}

/// The track a section carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The track.
    pub track: TrackRef,
    /// Whose and what it is, as the browser knows it.
    pub name: TrackName,
}

/// One section of a subscriber's connection.
#[derive(Debug)]
pub struct Subscription {
    /// The track carried now: always one for audio; for a video slot, the
    /// track assigned (`None` while the slot is free).
    pub holder: Option<Holder>,
    /// The browser has not been told of the holder yet: `Assign` goes out
    /// with the holder's first forwarded packet, so a tile never binds to
    /// the slot before its own frames come.
    pub announce: bool,
    /// Audio or video (a video section is a slot).
    pub kind: MediaKind,
    /// The subscriber's media section carrying it.
    pub mid: Mid,
    /// The subscriber's payload type for the track's codec, once known.
    pub pt: Option<Pt>,
    /// The codec the payload type was resolved for.
    pub codec: Option<Codec>,
    /// Life cycle.
    pub state: State,
    /// The layer being forwarded now.
    pub current: Option<usize>,
    /// The layer wanted; differs from `current` until its keyframe arrives.
    pub target: Option<usize>,
    /// Sequence, timestamp and picture-id continuity across switches.
    pub rewriter: Rewriter,
    /// When the target last went up (upgrades wait, downgrades do not).
    pub last_upgrade: Option<Instant>,
    /// When a packet was last written (or the subscription started): a
    /// section idle for [`PARK_AFTER`] is parked.
    pub last_sent: Option<Instant>,
    /// While parked, the SSRC of the send stream removed from the
    /// subscriber's `Rtc` (one without RTX); the next packet declares it
    /// again.
    pub parked: Option<Ssrc>,
}

/// A section that sent nothing for this long gives its send stream back.
///
/// str0m scans every send stream of a connection for each packet it sends
/// (pacer queues, RTCP timers), so an idle stream (a silent microphone in a
/// large room, whose packets the node drops) costs as much per forwarded
/// packet as a busy one. Removing it while idle makes a subscriber's cost
/// follow what it receives, not the size of the room. The browser sees no
/// change: the section, its SSRC and the sequence numbers (ours, in RTP
/// mode) stay the same.
///
/// Only streams without RTX are parked. A declared-again stream starts its
/// RTX sequence numbers (str0m's own, for resends and padding) from zero,
/// on the RTX SSRC the browser already saw higher numbers on: its SRTP
/// replay check would drop every resend and padding packet until the count
/// passed the old one, so loss repair and bandwidth probing would fail on a
/// resumed tile. str0m 0.25 can neither keep a removed stream nor set that
/// counter; hidden video tiles stay declared until it can.
pub const PARK_AFTER: Duration = Duration::from_secs(2);

impl Subscription {
    /// A section offered as `mid`, carrying `holder` (audio) or free (a
    /// video slot).
    pub fn new(holder: Option<Holder>, kind: MediaKind, mid: Mid) -> Self {
        let clock = if kind == MediaKind::Audio {
            48_000
        } else {
            90_000
        };
        Subscription {
            holder,
            announce: false,
            kind,
            mid,
            pt: None,
            codec: None,
            state: State::Offered,
            current: None,
            target: None,
            rewriter: Rewriter::new(clock),
            last_upgrade: None,
            last_sent: None,
            parked: None,
        }
    }

    /// The track carried now.
    pub fn track(&self) -> Option<TrackRef> {
        self.holder.as_ref().map(|h| h.track)
    }

    /// Whether this section carries `track` now.
    pub fn carries(&self, track: TrackRef) -> bool {
        self.track() == Some(track)
    }

    /// Gives a video slot to another track (or frees it), returning the
    /// previous holder. The new holder starts paused, like a new
    /// subscription: the caller sets its target and asks for a keyframe.
    /// The rewriter carries on, so the slot's SSRC, sequence numbers,
    /// timestamps and picture ids stay continuous for the browser, exactly
    /// as across a layer switch; the RTX stream is untouched.
    pub fn assign(&mut self, holder: Option<Holder>) -> Option<Holder> {
        self.current = None;
        self.target = None;
        self.last_upgrade = None;
        self.announce = holder.is_some();
        std::mem::replace(&mut self.holder, holder)
    }

    /// Removes the send stream from `rtc` if nothing was sent for
    /// [`PARK_AFTER`]. Returns whether it parked now.
    pub fn park_if_idle(&mut self, rtc: &mut Rtc, now: Instant) -> bool {
        if self.state != State::Active || self.parked.is_some() {
            return false;
        }
        let idle = self
            .last_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= PARK_AFTER);
        if !idle {
            return false;
        }
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(self.mid, None) else {
            return false;
        };
        // Packets or resends still queued in the pacer would be lost.
        let queued = tx.queue_info().is_some_and(|q| q.packet_count() > 0);
        if tx.rtx().is_some() || queued {
            return false;
        }
        let ssrc = tx.ssrc();
        api.remove_stream_tx(ssrc);
        self.parked = Some(ssrc);
        true
    }

    /// Declares the parked send stream again, with the same SSRC, so the
    /// next packet (or an offer listing the section) finds it. Returns
    /// whether it was parked.
    pub fn unpark(&mut self, rtc: &mut Rtc) -> bool {
        let Some(ssrc) = self.parked else {
            return false;
        };
        // str0m panics on a stream for a section it does not know; an ended
        // section is never unparked.
        if self.state == State::Ended || rtc.media(self.mid).is_none() {
            return false;
        }
        self.parked = None;
        let mut api = rtc.direct_api();
        if api.stream_tx_by_mid(self.mid, None).is_some() {
            return false; // str0m made one meanwhile; never two per section.
        }
        tune(api.declare_stream_tx(ssrc, None, self.mid, None));
        true
    }

    /// Whether a packet of `layer` goes out, given whether it starts a
    /// keyframe. Switches to the target layer on its first keyframe (audio
    /// has one layer and needs none).
    pub fn gate(&mut self, layer: usize, keyframe: bool) -> Gate {
        if self.state != State::Active || self.pt.is_none() {
            return Gate::Drop;
        }
        let ready = keyframe || self.kind == MediaKind::Audio;
        if self.target == Some(layer) && self.current != Some(layer) && ready {
            let switched = self.current.is_some();
            self.current = Some(layer);
            self.rewriter.rebase();
            return Gate::Forward { switched };
        }
        if self.current == Some(layer) {
            Gate::Forward { switched: false }
        } else {
            Gate::Drop
        }
    }

    /// Sets the wanted layer; `None` pauses at once. Returns whether a
    /// keyframe is needed from the new target.
    pub fn set_target(&mut self, target: Option<usize>, now: Instant) -> bool {
        if target == self.target {
            return false;
        }
        if target > self.target {
            self.last_upgrade = Some(now);
        }
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
        target.is_some() && target != self.current
    }
}

/// Sets a subscription's send stream up: resends from a short history.
pub fn tune(tx: &mut StreamTx) {
    tx.set_rtx_cache(
        super::client::RTX_HISTORY,
        super::client::RTX_AGE,
        Some(0.15),
    );
}

/// What to do with one packet for one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Not this layer, or not ready.
    Drop,
    /// Send it; `switched` when it starts a new layer after another.
    Forward {
        /// A layer switch happened with this packet.
        switched: bool,
    },
}
