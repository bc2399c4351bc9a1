//! A subscription: one track of another participant sent to a subscriber,
//! in one media section of the subscriber's connection.

use std::time::Instant;

use protocol::ParticipantId;
use protocol::media::Source;
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid, Pt};

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

/// One track sent to one subscriber.
#[derive(Debug)]
pub struct Subscription {
    /// The track.
    pub track: TrackRef,
    /// Whose it is (for the subscriber's track map).
    pub participant: ParticipantId,
    /// What it is.
    pub source: Source,
    /// Audio or video.
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
}

impl Subscription {
    /// A subscription offered in section `mid`.
    pub fn new(
        track: TrackRef,
        participant: ParticipantId,
        source: Source,
        kind: MediaKind,
        mid: Mid,
    ) -> Self {
        let clock = if kind == MediaKind::Audio {
            48_000
        } else {
            90_000
        };
        Subscription {
            track,
            participant,
            source,
            kind,
            mid,
            pt: None,
            codec: None,
            state: State::Offered,
            current: None,
            target: None,
            rewriter: Rewriter::new(clock),
            last_upgrade: None,
        }
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
