//! Media grants: what the claims of a media token allow on a media node.
//!
//! The worker side (which knows the room's permissions) mints a short-lived
//! EdDSA-signed JWT carrying [`MediaClaims`]; the media node verifies it with
//! the matching public key and enforces exactly these grants. The node trusts
//! nothing else a browser says.

use serde::{Deserialize, Serialize};

use crate::{ParticipantId, RoomId};

/// A kind of track a participant may publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Camera video.
    Camera,
    /// Microphone audio.
    Microphone,
    /// Screen share (video, and its audio if any).
    Screen,
}

/// The custom claims of a media token (the JWT adds `exp` and `iat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaClaims {
    /// The only room this token is good for.
    pub room: RoomId,
    /// Who holds it.
    pub participant: ParticipantId,
    /// What it may publish.
    pub publish: Vec<Source>,
    /// Whether it may receive others' tracks.
    pub subscribe: bool,
    /// Sources the role allows but a host has muted for now: the offer may
    /// declare them, and nothing of them is forwarded until a grant update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub muted: Vec<Source>,
}

impl MediaClaims {
    /// Whether `source` may be published.
    pub fn may_publish(&self, source: Source) -> bool {
        self.publish.contains(&source)
    }
}

impl Source {
    /// Whether this source carries video (camera, screen) or audio.
    pub fn is_video(self) -> bool {
        !matches!(self, Source::Microphone)
    }

    /// The wire name (`camera`, `microphone`, `screen`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Camera => "camera",
            Source::Microphone => "microphone",
            Source::Screen => "screen",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "camera" => Some(Source::Camera),
            "microphone" => Some(Source::Microphone),
            "screen" => Some(Source::Screen),
            _ => None,
        }
    }
}

/// Largest SDP the node and the room accept, in bytes (a browser's first
/// offer with every codec it knows is about 13 KiB; ours asks for fewer).
pub const MAX_SDP_BYTES: usize = 32 * 1024;

/// Most media sections a browser's offer may declare.
pub const MAX_OFFER_SOURCES: usize = 4;

/// One of the sender's own tracks, declared with its offer: the media
/// section (`mid`) carrying it and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackSource {
    /// The offer's media id of the section carrying the track.
    pub mid: String,
    /// What the track is.
    pub source: Source,
}

/// `POST {control}/rooms/{room}/participants`: a participant joins the node
/// with an offer. The room sends it with a fresh media token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The media token (EdDSA JWT) naming the room, participant and grants.
    pub token: String,
    /// The browser's SDP offer.
    pub offer: String,
    /// What each of the offer's sending sections carries.
    pub sources: Vec<TrackSource>,
}

/// The node's SDP answer to a [`JoinRequest`] or an ICE restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaAnswer {
    /// The SDP answer.
    pub answer: String,
}

/// `POST {control}/rooms/{room}/participants/{id}/offer`: an ICE restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartRequest {
    /// The browser's SDP offer with new ICE credentials.
    pub offer: String,
}

/// `PUT {control}/rooms/{room}/participants/{id}/grants`: what the
/// participant may do now (after a host mute, unmute or role change).
/// Tracks of sources not in `publish` stop being forwarded at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsUpdate {
    /// Sources that may be forwarded.
    pub publish: Vec<Source>,
    /// Whether the participant receives others' tracks.
    pub subscribe: bool,
}

/// An error from the node's control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeErrorBody {
    /// Machine-readable reason (`bad_token`, `malformed_sdp`, `forbidden`, ...).
    pub error: String,
    /// For people.
    pub message: String,
}

/// `GET {control}/stats`: counters of the forwarding core.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Rooms with at least one participant.
    pub rooms: u32,
    /// Participants connected or connecting.
    pub participants: u32,
    /// Published tracks.
    pub tracks: u32,
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP packets written to subscribers.
    pub packets_out: u64,
    /// Datagrams that matched no participant (random bytes, strangers).
    pub dropped_unrouted: u64,
    /// Packets of a track whose source is not granted (host mute).
    pub dropped_blocked: u64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: u64,
    /// Simulcast layer switches done.
    pub layer_switches: u64,
    /// Participants removed because their input made str0m fail or panic.
    pub faulted: u64,
    /// Audio packets not forwarded: a large room's silent microphones.
    #[serde(default)]
    pub dropped_inaudible: u64,
    /// Idle send streams removed from a subscriber's connection, and put
    /// back when packets resumed (a parked stream costs nothing per packet).
    #[serde(default)]
    pub parks: u64,
    /// See `parks`.
    #[serde(default)]
    pub unparks: u64,
    /// Video slots given a track: a tile shown, or a slot passed from a
    /// track not wanted now to one that is.
    #[serde(default)]
    pub slot_moves: u64,
    /// The share of every subscriber's video budget allowed now, in
    /// percent: under 100 while the node sheds load (it fell behind).
    #[serde(default = "full_share")]
    pub budget_percent: u32,
    /// Each connected participant, for diagnosis.
    #[serde(default)]
    pub clients: Vec<ClientStats>,
}

fn full_share() -> u32 {
    100
}

/// One participant's connection on a node, as `GET /stats` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientStats {
    /// The room.
    pub room: String,
    /// Who.
    pub participant: String,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// The latest egress bandwidth estimate, bits per second.
    pub estimate: Option<u64>,
    /// Packets written to this client.
    pub packets_out: u64,
    /// Tracks received: `participant/source` with the layer forwarded now
    /// (`None` when paused).
    pub receiving: Vec<(String, Option<u8>)>,
    /// Sections whose idle send stream is parked now.
    #[serde(default)]
    pub parked: u32,
    /// ICE is down (no connectivity check for a while): nothing is
    /// forwarded to it until it is back.
    #[serde(default)]
    pub ice_down: bool,
}

/// A track the node sends to a subscriber in a section of its own, as
/// named in a [`NodeMessage::Offer`] (audio: one section per microphone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTrack {
    /// The media id of the section in the node's offer.
    pub mid: String,
    /// Whose track it is.
    pub participant: ParticipantId,
    /// What it is.
    pub source: Source,
}

/// A track by whose and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrackName {
    /// Whose track it is.
    pub participant: ParticipantId,
    /// What it is.
    pub source: Source,
}

/// What the node sends a browser on the `sfu` data channel.
///
/// Video reaches a subscriber in **slots**: send-only sections that carry
/// one video track at a time and are reused as the view changes, so a
/// subscriber's connection grows with the tiles it shows, not with the
/// room. [`NodeMessage::Tracks`] names the video tracks there are (a tile
/// each); [`NodeMessage::Assign`] says which slot carries which of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeMessage {
    /// A renegotiation: sections were added or stopped. The browser answers
    /// with [`PeerMessage::Answer`].
    Offer {
        /// The SDP offer.
        sdp: String,
        /// Every section that carries one track for good (audio), by
        /// media id.
        tracks: Vec<RemoteTrack>,
        /// The media ids of the video slots.
        #[serde(default)]
        slots: Vec<String>,
    },
    /// The video tracks this browser may show now (each gets a tile); sent
    /// whenever the list changes. A track not listed has ended.
    Tracks {
        /// Every video track of the others.
        available: Vec<TrackName>,
    },
    /// Slot `mid` carries `track` from RTP time `from_rtp_time` on (sent
    /// with the first packet of the track, a keyframe), or nothing (`None`,
    /// sent before the slot's next track starts). The data channel can
    /// overtake the media: a page shows the slot's frames in the track's
    /// tile only from that RTP time on (the slot's timestamps only rise),
    /// so the previous holder's last frames never appear there.
    Assign {
        /// The slot's media id.
        mid: String,
        /// What it carries now.
        #[serde(default)]
        track: Option<TrackName>,
        /// The RTP timestamp of the track's first packet in the slot.
        #[serde(default)]
        from_rtp_time: Option<u32>,
    },
    /// Who is speaking, loudest first (at most three).
    Speakers {
        /// Participants.
        ids: Vec<ParticipantId>,
    },
}

/// One tile on a browser's screen: what size it shows a track at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileView {
    /// Whose track.
    pub participant: ParticipantId,
    /// Which of their tracks.
    pub source: Source,
    /// Width on screen in CSS pixels times the device pixel ratio; 0 when hidden.
    pub width: u32,
    /// Height likewise.
    pub height: u32,
}

/// What a browser sends the node on the `sfu` data channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerMessage {
    /// The answer to the pending [`NodeMessage::Offer`].
    Answer {
        /// The SDP answer.
        sdp: String,
    },
    /// The tiles on screen, which drive layer choice and slots. Video
    /// tracks not listed are not sent; before the first report every track
    /// is wanted at a default size.
    View {
        /// The tiles.
        tiles: Vec<TileView>,
    },
}
