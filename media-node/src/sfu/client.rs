//! A client: one participant's connection to the node, its `Rtc`, what it
//! publishes and what it receives.
//!
//! [`accept`] does the expensive and untrusted part of a join (SDP parsing,
//! building the `Rtc`, checking the offer against the grants) off the
//! forwarding task; only a ready [`Accepted`] reaches the core.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use protocol::ParticipantId;
use protocol::channel::Reassembly;
use protocol::media::{
    MAX_OFFER_SOURCES, MAX_SDP_BYTES, MediaClaims, Source, TrackName, TrackSource,
};
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::config::DtlsCert;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, MediaKind, Mid, Pt, Rid};
use str0m::net::Protocol;
use str0m::rtp::Ssrc;
use str0m::{Candidate, Output, Rtc, RtcConfig};

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
///
/// Packets each subscriber's connection keeps per forwarded stream to answer
/// NACKs, and for how long: about a second of a 720p layer (~230
/// packets/s). A browser's NACKs come within a round trip or two; str0m's
/// default keeps 3 s, which is memory held per forwarded track.
pub const RTX_HISTORY: usize = 256;
/// See [`RTX_HISTORY`].
pub const RTX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// How often str0m reports on each video stream (its sender or receiver
/// report), before [`own_interval`] makes it the connection's own.
const VIDEO_REPORTS: std::time::Duration = std::time::Duration::from_secs(1);
/// The same for audio streams.
const AUDIO_REPORTS: std::time::Duration = std::time::Duration::from_secs(5);

/// `usual` scaled by a factor between 1 and 1.25 that is the connection's
/// own (RFC 3550 §6.3.1 spreads report times for the same reason; reports
/// here never come more often than str0m's usual, as a shorter interval
/// made the loss-based estimate of a congested subscriber let more video
/// through in the simulation). str0m writes the reports for all of a connection's streams in
/// one timeout: for a subscriber with 60 streams that is 0.5 to 1 ms of
/// work. Connections that joined
/// together would report together, every second from then on: twenty of
/// them held every packet in the node's queue for 15 ms. With intervals of
/// their own they drift apart.
fn own_interval(usual: std::time::Duration, claims: &MediaClaims) -> std::time::Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    claims.room.hash(&mut h);
    claims.participant.hash(&mut h);
    let permille = 1000 + (h.finish() % 250) as u32;
    usual * permille / 1000
}

/// Codecs: Opus, asking senders for DTX (`usedtx=1` in our answer: a silent
/// microphone sends a packet every 400 ms instead of 50 per second, which
/// matters with 64 in a room), and VP8, VP9 (profile 0), H.264 (constrained
/// baseline, packetization mode 1) and AV1. A publisher sends the codec its
/// offer put first; a subscriber receives a track only in the publisher's
/// codec (no transcoding), so clients offer VP8 unless told otherwise.
fn config(endpoint: &Endpoint, claims: &MediaClaims) -> RtcConfig {
    let mut config = Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_dtls_cert(endpoint.cert.clone())
        .clear_codecs()
        // No str0m estimator: it brings str0m's pacer, one packet per
        // timeout (see `estimate`). Loss comes from the stats snapshots.
        .enable_bwe(None)
        .set_stats_interval(Some(super::estimate::INTERVAL))
        .set_rtcp_report_interval_video(own_interval(VIDEO_REPORTS, claims))
        .set_rtcp_report_interval_audio(own_interval(AUDIO_REPORTS, claims))
        // Lets each subscriber's own connection answer its NACKs.
        .set_send_buffer_video(RTX_HISTORY);
    let codecs = config.codec_config();
    codecs.add_config(
        Pt::from(111),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            use_dtx: Some(true),
            ..Default::default()
        },
    );
    codecs.enable_vp8(true);
    codecs.add_config(
        Pt::from(98),
        Some(Pt::from(99)),
        Codec::Vp9,
        Frequency::NINETY_KHZ,
        None,
        FormatParams {
            profile_id: Some(0),
            ..Default::default()
        },
    );
    codecs.add_h264(Pt::from(108), Some(Pt::from(109)), true, 0x42e01f);
    codecs.enable_av1(true);
    config
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
    let offer_text = offer;
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
    let mut rtc = config(endpoint, &claims).build(now);
    let candidate = Candidate::host(endpoint.public_addr, Protocol::Udp)
        .map_err(|e| JoinError::Full(format!("node address unusable: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| JoinError::MalformedSdp(e.to_string()))?;
    // str0m announces sections (`MediaAdded`) only once media can flow, so
    // the grants are checked on the offer's own sections.
    let mut tracks = Vec::new();
    for section in sections(offer_text) {
        if let Some(track) = admit(&declared, &claims, section)? {
            tracks.push(track);
        }
    }
    let deadline = loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => break t,
            Ok(_) => {}
            Err(e) => return Err(JoinError::MalformedSdp(e.to_string())),
        }
    };
    let admitted: Vec<String> = tracks.iter().map(|t| t.mid.to_string()).collect();
    if let Some(missing) = sources.iter().find(|s| !admitted.contains(&s.mid)) {
        return Err(JoinError::MalformedSdp(format!(
            "declared section {} does not send media",
            missing.mid
        )));
    }
    Ok(Accepted {
        claims,
        rtc,
        answer: answer.to_sdp_string(),
        tracks,
        deadline,
    })
}

/// One media section of an offer, as far as grants care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Audio or video (data channels are not listed).
    pub kind: MediaKind,
    /// Its media id.
    pub mid: String,
    /// Whether the offerer sends on it (`sendonly` or `sendrecv`).
    pub sends: bool,
    /// Simulcast rids it sends.
    pub rids: Vec<String>,
}

/// The audio and video sections of an SDP that str0m already accepted.
pub fn sections(sdp: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            out.extend(current.take());
            let kind = match m.split(' ').next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
            current = kind.map(|kind| Section {
                kind,
                mid: String::new(),
                sends: true, // sendrecv is the default direction
                rids: Vec::new(),
            });
            continue;
        }
        let Some(sec) = current.as_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            sec.mid = mid.to_owned();
        } else if line == "a=recvonly" || line == "a=inactive" {
            sec.sends = false;
        } else if line == "a=sendonly" || line == "a=sendrecv" {
            sec.sends = true;
        } else if let Some(rid) = line.strip_prefix("a=rid:") {
            let mut parts = rid.split(' ');
            if let (Some(id), Some("send")) = (parts.next(), parts.next()) {
                sec.rids.push(id.to_owned());
            }
        }
    }
    out.extend(current);
    out
}

/// Checks one section against the declared sources and the grants; `None`
/// for a section that only receives.
fn admit(
    declared: &HashMap<&str, Source>,
    claims: &MediaClaims,
    section: Section,
) -> Result<Option<Track>, JoinError> {
    if !section.sends {
        return Ok(None); // The browser receives here; nothing to publish.
    }
    let Some(&source) = declared.get(section.mid.as_str()) else {
        return Err(JoinError::Forbidden(format!(
            "section {} sends media without a declared source",
            section.mid
        )));
    };
    let kind_ok = match section.kind {
        MediaKind::Audio => !source.is_video(),
        MediaKind::Video => source.is_video(),
    };
    if !kind_ok {
        return Err(JoinError::Forbidden(format!(
            "section {} is {:?}, not {}",
            section.mid,
            section.kind,
            source.as_str()
        )));
    }
    let rids = section.rids.iter().map(|r| Rid::from(r.as_str())).collect();
    let mut track = Track::new(Mid::from(section.mid.as_str()), source, section.kind, rids);
    track.blocked = !claims.may_publish(source);
    Ok(Some(track))
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
    /// What this client receives, one entry per media section: audio
    /// sections and video slots; indexes are stable (ended ones stay).
    pub subs: Vec<Subscription>,
    /// The others' video tracks this client may show, as last told to it
    /// (`NodeMessage::Tracks`): the candidates for its video slots.
    pub available: Vec<(super::TrackRef, TrackName)>,
    /// Video slots the view needs: the next negotiation grows the pool to
    /// this many. Slots are never removed (a stopped section stays in the
    /// SDP for good), only reassigned.
    pub slots_wanted: usize,
    /// The `sfu` data channel, once open.
    pub channel: Option<ChannelId>,
    /// The node's offer in flight, if any.
    pub pending: Option<SdpPendingOffer>,
    /// A renegotiation is due (tracks came or went).
    pub dirty: bool,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// Since when ICE has been disconnected (a browser gone without
    /// leaving, or its network down): nothing is forwarded to it meanwhile,
    /// as it would only cost the node, and it is removed unless ICE comes
    /// back (by itself or by a restart) within `Limits::reconnect_within`.
    pub ice_down_since: Option<Instant>,
    /// When it joined (for the connect deadline).
    pub joined: Instant,
    /// When its `Rtc` next needs time.
    pub deadline: Instant,
    /// The time of this client's live entry on the timer heap, if any.
    pub scheduled: Option<Instant>,
    /// Packets written to this client (for `/stats`).
    pub packets_out: u64,
    /// On the core's list of clients to drain at the next poll.
    pub written: bool,
    /// The egress bandwidth estimate: from loss in the browser's receiver
    /// reports, capped by its REMB where it sends one.
    pub estimate: super::estimate::LossEstimate,
    /// Tile heights on the browser's screen, by (participant, source).
    pub view: HashMap<(ParticipantId, Source), u32>,
    /// Frames for the data channel not written yet: the channel is not open,
    /// or its send buffer was full. Written, in order, whenever the client
    /// is polled.
    pub outbox: VecDeque<String>,
    /// Parts of a large message from the browser.
    pub inbox: Reassembly,
}

impl Client {
    /// The subscription index carried in section `mid`.
    pub fn sub_by_mid(&self, mid: Mid) -> Option<usize> {
        self.subs
            .iter()
            .position(|s| s.mid == mid && s.state != super::subscription::State::Ended)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rid:l send\r\na=rid:h send\r\na=simulcast:send l;h\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";

    fn claims_of(room: &str, who: &str) -> MediaClaims {
        MediaClaims {
            room: protocol::RoomId::parse(room).unwrap(),
            participant: ParticipantId::parse(who).unwrap(),
            publish: vec![],
            subscribe: true,
            muted: vec![],
        }
    }

    #[test]
    fn each_connection_reports_at_an_interval_of_its_own_near_the_usual() {
        let usual = Duration::from_secs(1);
        let intervals: Vec<Duration> = (0..40)
            .map(|i| own_interval(usual, &claims_of("r1", &format!("u-{i}"))))
            .collect();
        for d in &intervals {
            assert!(
                (Duration::from_millis(1000)..Duration::from_millis(1250)).contains(d),
                "{d:?}"
            );
        }
        let mut distinct = intervals.clone();
        distinct.sort();
        distinct.dedup();
        // Forty participants joining together: their reports drift apart.
        assert!(distinct.len() >= 30, "{distinct:?}");
        // The same connection keeps its interval.
        assert_eq!(own_interval(usual, &claims_of("r1", "u-3")), intervals[3]);
    }

    #[test]
    fn sections_list_what_the_offer_sends() {
        let s = sections(OFFER);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(
            (s[0].kind, s[0].mid.as_str(), s[0].sends),
            (MediaKind::Audio, "0", true)
        );
        assert_eq!(s[1].rids, ["l", "h"]);
        assert!(!s[2].sends);
    }

    #[test]
    fn undeclared_or_mismatched_sections_are_refused() {
        let claims = MediaClaims {
            room: protocol::RoomId::parse("r1").unwrap(),
            participant: ParticipantId::parse("u-a").unwrap(),
            publish: vec![Source::Camera, Source::Microphone],
            subscribe: true,
            muted: vec![],
        };
        let s = sections(OFFER);
        let empty = HashMap::new();
        assert!(matches!(
            admit(&empty, &claims, s[0].clone()),
            Err(JoinError::Forbidden(_))
        ));
        let wrong: HashMap<&str, Source> = [("0", Source::Camera)].into();
        assert!(matches!(
            admit(&wrong, &claims, s[0].clone()),
            Err(JoinError::Forbidden(_))
        ));
        let right: HashMap<&str, Source> = [("1", Source::Camera)].into();
        let t = admit(&right, &claims, s[1].clone()).unwrap().unwrap();
        assert_eq!(t.layers.len(), 2);
        assert!(!t.blocked);
        assert!(admit(&empty, &claims, s[2].clone()).unwrap().is_none());
    }
}
