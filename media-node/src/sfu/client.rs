//! A client: one participant's connection to the node, its `Rtc`, what it
//! publishes and what it receives.
//!
//! [`accept`] does the expensive and untrusted part of a join (SDP parsing,
//! building the `Rtc`, checking the offer against the grants) off the
//! forwarding task; only a ready [`Accepted`] reaches the core.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use protocol::ParticipantId;
use protocol::media::{
    MAX_OFFER_SOURCES, MAX_SDP_BYTES, MediaClaims, NodeMessage, Source, TrackSource,
};
use str0m::bwe::Bitrate;
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::config::DtlsCert;
use str0m::media::{Direction, MediaKind, Mid, Rid};
use str0m::net::Protocol;
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Output, Rtc, RtcConfig};

use super::subscription::Subscription;
use super::track::Track;

/// Why a join or restart was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The offer is not SDP str0m can read, or too large.
    #[error("malformed SDP offer: {0}")]
    MalformedSdp(String),
    /// The offer sends something not declared or not granted.
    #[error("{0}")]
    Forbidden(String),
    /// The node or the room is full.
    #[error("{0}")]
    Full(String),
    /// No such participant (restart).
    #[error("no such participant")]
    NotFound,
}

/// What the node needs to build clients.
#[derive(Clone)]
pub struct Endpoint {
    /// The advertised UDP address (the local ICE candidate).
    pub public_addr: SocketAddr,
    /// The node's DTLS certificate, made once at start.
    pub cert: DtlsCert,
}

/// A joined participant's connection, ready to be added to the core.
pub struct Accepted {
    /// The grants.
    pub claims: MediaClaims,
    /// Their `Rtc`, with the offer applied.
    pub rtc: Rtc,
    /// The SDP answer for the browser.
    pub answer: String,
    /// The tracks the offer publishes.
    pub tracks: Vec<Track>,
    /// When `rtc` next needs time.
    pub deadline: Instant,
}

/// The `Rtc` settings for one participant.
fn config(endpoint: &Endpoint) -> RtcConfig {
    Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_dtls_cert(endpoint.cert.clone())
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_bwe(Some(Bitrate::kbps(600)))
        // Lets each subscriber's own connection answer its NACKs.
        .set_send_buffer_video(1000)
}

/// Parses an SDP offer, refusing oversized input before parsing.
pub fn parse_offer(sdp: &str) -> Result<SdpOffer, JoinError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(JoinError::MalformedSdp(format!(
            "offer larger than {MAX_SDP_BYTES} bytes"
        )));
    }
    SdpOffer::from_sdp_string(sdp).map_err(|e| JoinError::MalformedSdp(e.to_string()))
}

/// Builds a participant's `Rtc` from their offer, after checking that every
/// section it sends is declared in `sources`, of the right kind, and granted
/// (or granted but muted) by `claims`.
pub fn accept(
    endpoint: &Endpoint,
    claims: MediaClaims,
    sources: &[TrackSource],
    offer: &str,
    now: Instant,
) -> Result<Accepted, JoinError> {
    if sources.len() > MAX_OFFER_SOURCES {
        return Err(JoinError::MalformedSdp(format!(
            "at most {MAX_OFFER_SOURCES} sources"
        )));
    }
    let offer = parse_offer(offer)?;
    let mut declared: HashMap<&str, Source> = HashMap::new();
    for s in sources {
        if declared.insert(s.mid.as_str(), s.source).is_some() {
            return Err(JoinError::MalformedSdp(format!(
                "mid {} declared twice",
                s.mid
            )));
        }
        if !(claims.may_publish(s.source) || claims.muted.contains(&s.source)) {
            return Err(JoinError::Forbidden(format!(
                "publishing {} is not granted",
                s.source.as_str()
            )));
        }
    }
    let mut rtc = config(endpoint).build(now);
    let candidate = Candidate::host(endpoint.public_addr, Protocol::Udp)
        .map_err(|e| JoinError::Full(format!("node address unusable: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| JoinError::MalformedSdp(e.to_string()))?;
    let mut tracks = Vec::new();
    let deadline = loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => break t,
            Ok(Output::Transmit(_)) => {}
            Ok(Output::Event(Event::MediaAdded(m))) => {
                if m.direction == Direction::Inactive || m.direction == Direction::SendOnly {
                    continue; // The browser receives here; nothing to publish.
                }
                let Some(&source) = declared.get(m.mid.to_string().as_str()) else {
                    return Err(JoinError::Forbidden(format!(
                        "section {} sends media without a declared source",
                        m.mid
                    )));
                };
                let kind_ok = match m.kind {
                    MediaKind::Audio => !source.is_video(),
                    MediaKind::Video => source.is_video(),
                };
                if !kind_ok {
                    return Err(JoinError::Forbidden(format!(
                        "section {} is {:?}, not {}",
                        m.mid,
                        m.kind,
                        source.as_str()
                    )));
                }
                let rids: Vec<Rid> = m
                    .simulcast
                    .map(|s| s.recv.iter().map(|l| l.rid).collect())
                    .unwrap_or_default();
                let mut track = Track::new(m.mid, source, m.kind, rids);
                track.blocked = !claims.may_publish(source);
                tracks.push(track);
            }
            Ok(Output::Event(_)) => {}
            Err(e) => return Err(JoinError::MalformedSdp(e.to_string())),
        }
    };
    Ok(Accepted {
        claims,
        rtc,
        answer: answer.to_sdp_string(),
        tracks,
        deadline,
    })
}

/// One participant's connection inside the core.
pub struct Client {
    /// Unique for the node's lifetime; slab keys are reused, these are not.
    pub id: u64,
    /// Whose connection.
    pub participant: ParticipantId,
    /// The room, by index in the core's room table key.
    pub room: protocol::RoomId,
    /// The connection.
    pub rtc: Rtc,
    /// Sources forwarded now; others are blocked (host mute, role change).
    pub publish: Vec<Source>,
    /// Whether others' tracks are sent here.
    pub subscribe: bool,
    /// The node's ICE username fragment for this client (routing key).
    pub ufrag: String,
    /// Addresses this client proved with STUN (routing keys).
    pub addrs: Vec<SocketAddr>,
    /// What this client publishes.
    pub tracks: Vec<Track>,
    /// Incoming SSRC to (track, layer), filled on a stream's first packet.
    pub ssrcs: HashMap<Ssrc, (usize, usize)>,
    /// What this client receives; indexes are stable (ended ones stay).
    pub subs: Vec<Subscription>,
    /// The `sfu` data channel, once open.
    pub channel: Option<ChannelId>,
    /// The node's offer in flight, if any.
    pub pending: Option<SdpPendingOffer>,
    /// A renegotiation is due (tracks came or went).
    pub dirty: bool,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// When it joined (for the connect deadline).
    pub joined: Instant,
    /// When its `Rtc` next needs time.
    pub deadline: Instant,
    /// The latest egress bandwidth estimate.
    pub estimate: Option<Bitrate>,
    /// Tile heights on the browser's screen, by (participant, source).
    pub view: HashMap<(ParticipantId, Source), u32>,
    /// Messages for the data channel that could not be sent yet.
    pub outbox: Vec<NodeMessage>,
}

impl Client {
    /// The subscription index carried in section `mid`.
    pub fn sub_by_mid(&self, mid: Mid) -> Option<usize> {
        self.subs
            .iter()
            .position(|s| s.mid == mid && s.state != super::subscription::State::Ended)
    }
}
