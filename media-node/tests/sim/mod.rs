//! A deterministic network for the forwarding core: one [`Sfu`] and plain
//! str0m peers (in RTP mode, like a load generator) exchanging datagrams
//! through a queue with latency and an optional per-peer downlink cap. No
//! sockets, no sleeps: time is `t0` plus what the simulation advances.
#![allow(dead_code)] // each test binary uses a subset
#![allow(clippy::unwrap_used)] // test harness: a failure is a test failure

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use durable_objects::media_token;
use media_node::sfu::client::{self, Endpoint};
use media_node::sfu::frame;
use media_node::sfu::{Command, Limits, Output, Sfu};
use protocol::channel;
use protocol::media::{
    MediaClaims, NodeMessage, PeerMessage, Source, TileView, TrackName, TrackSource,
};
use protocol::{ParticipantId, RoomId};
use str0m::change::SdpAnswer;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Rtc};

pub const SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";

/// Payload bytes per frame per layer (l, m, h), about 100, 300 and 900 kbit/s at 30 fps.
const LAYER_BYTES: [usize; 3] = [400, 1200, 1150];
const LAYER_PACKETS: [usize; 3] = [1, 1, 3];
const LAYER_SIZE: [(u16, u16); 3] = [(320, 180), (640, 360), (1280, 720)];
pub const RIDS: [&str; 3] = ["l", "m", "h"];

/// A synthetic packet of `codec`, marked like a real one: where frames and
/// keyframes start, and (VP8, VP9) the layer's size on keyframes; the
/// payload ends with `layer` repeated so a receiver can tell which it got.
fn payload(
    codec: Codec,
    picture_id: u16,
    keyframe: bool,
    first: bool,
    layer: usize,
    len: usize,
) -> Vec<u8> {
    let (w, h) = LAYER_SIZE[layer];
    let mut p = match codec {
        Codec::Vp8 => return vp8(picture_id, keyframe, first, layer, len),
        Codec::Vp9 => {
            // I, P on inter frames, B on the first packet, V with the size on keyframes.
            let mut b0 = 0x80;
            if !keyframe {
                b0 |= 0x40;
            }
            if first {
                b0 |= 0x08;
            }
            let ss = first && keyframe;
            if ss {
                b0 |= 0x02;
            }
            let mut p = vec![b0, 0x80 | (picture_id >> 8) as u8 & 0x7f, picture_id as u8];
            if ss {
                p.push(0x10);
                p.extend_from_slice(&w.to_be_bytes());
                p.extend_from_slice(&h.to_be_bytes());
            }
            p
        }
        // An IDR or non-IDR slice alone, then FU-A middle fragments.
        Codec::H264 if first && keyframe => vec![0x65, 0x88],
        Codec::H264 if first => vec![0x41, 0x9a],
        Codec::H264 => vec![0x7c, 0x05],
        // The aggregation header's N bit on a new coded video sequence.
        Codec::Av1 if first && keyframe => vec![0x18],
        Codec::Av1 => vec![0x10],
        other => panic!("no synthetic {other:?}"),
    };
    p.resize(len.max(p.len() + 1), 0x40 + layer as u8);
    p
}

/// A synthetic VP8 packet: descriptor with a 15-bit picture id, then the
/// frame header (with dimensions on keyframes), then `layer` repeated so a
/// receiver can tell which layer it got.
fn vp8(picture_id: u16, keyframe: bool, first: bool, layer: usize, len: usize) -> Vec<u8> {
    let s = if first { 0x10 } else { 0x00 };
    let mut p = vec![
        0x80 | s,
        0x80,
        0x80 | (picture_id >> 8) as u8 & 0x7f,
        picture_id as u8,
    ];
    if first {
        let (w, h) = LAYER_SIZE[layer];
        if keyframe {
            p.extend_from_slice(&[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a]);
        } else {
            p.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00]);
        }
        p.extend_from_slice(&w.to_le_bytes());
        p.extend_from_slice(&h.to_le_bytes());
    }
    p.resize(len.max(p.len() + 1), 0x40 + layer as u8);
    p
}

/// What a peer received on one of its media sections.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub packets: u64,
    /// Packets per layer marker byte (video) .
    pub by_layer: [u64; 3],
    pub keyframes: u64,
    /// The codec of the last packet, by the receiver's payload types.
    pub codec: Option<Codec>,
    pub last_seq: Option<u64>,
    /// Sequence numbers that went backwards or repeated.
    pub disorder: u64,
    /// Every SSRC the section arrived on.
    pub ssrcs: BTreeSet<u32>,
    /// Video: the peer index stamped in each packet by its publisher (a
    /// slot must never deliver one participant's packets as another's).
    pub senders: BTreeSet<u8>,
    /// Video: whether the first packet received started a keyframe.
    pub first_keyframe: Option<bool>,
}

pub struct Peer {
    pub name: String,
    pub participant: ParticipantId,
    pub room: RoomId,
    pub addr: SocketAddr,
    pub rtc: Rtc,
    pub deadline: Instant,
    pub channel: Option<ChannelId>,
    /// Our sending sections.
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    /// The node's map of what it sends us, by mid: audio sections from its
    /// offers, video slots from its `Assign` messages.
    pub remote: BTreeMap<String, (ParticipantId, Source)>,
    /// The video slots of the node's last offer.
    pub slots: Vec<String>,
    /// The video tracks the node last said there are.
    pub available: Vec<TrackName>,
    /// Every `Assign` the node sent, in order.
    pub assigns: Vec<(String, Option<TrackName>)>,
    /// Packets on a section the node had not said what it carries.
    pub unassigned: u64,
    /// Slots given a track whose first packet has not come yet, with the
    /// RTP time the `Assign` said it starts at.
    fresh: BTreeMap<String, Option<u32>>,
    /// For each track a slot took: whether its first packet started a
    /// keyframe, and whether its RTP time was the one `Assign` named.
    pub slot_starts: Vec<(bool, bool)>,
    /// The last sequence number per section, and how often one went
    /// backwards or repeated across everything the section carried.
    pub last_seq_by_mid: BTreeMap<String, u64>,
    pub section_disorder: u64,
    pub received: BTreeMap<(ParticipantId, Source), Received>,
    pub keyframe_wanted: [bool; 3],
    pub keyframe_requests: u64,
    /// The codec this peer publishes video in.
    pub codec: Codec,
    pub speakers: Vec<ParticipantId>,
    pub offers: u64,
    /// While set, the node's offers wait here unanswered (see
    /// [`Sim::release_answer`]).
    pub hold_answers: bool,
    pub held_offer: Option<String>,
    /// The largest offer message (bytes) the node sent on the data channel.
    pub largest_offer: usize,
    inbox: channel::Reassembly,
    frame: u64,
    seq: [u64; 4],
    /// Downlink capacity in bits per second (None: unlimited).
    pub downlink: Option<u64>,
    /// When the downlink is next free.
    link_free: Instant,
    pub connected: bool,
    /// Speaks (a high audio level); starts true for names beginning "loud".
    pub loud: bool,
    /// Vanished without a word (a closed laptop): hears and says nothing.
    pub gone: bool,
    /// Datagrams the node sent it after it vanished.
    pub sent_while_gone: u64,
}

pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub node: SocketAddr,
    pub sfu: Sfu,
    pub endpoint: Endpoint,
    pub peers: Vec<Peer>,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    packets: BTreeMap<u64, (SocketAddr, SocketAddr, Vec<u8>)>,
    next_packet: u64,
    pub latency: Duration,
    next_frame: Instant,
    next_audio: Instant,
    /// Datagrams the node sent to addresses no peer has.
    pub misdelivered: u64,
    /// Whether peers send media (off: only signaling, for large rooms).
    pub media: bool,
    /// The node's answer to the last join.
    pub last_answer: String,
    pub dropped_by_cap: u64,
    /// Wall time spent inside the node's own calls while the network ran
    /// (`handle_datagram`, `handle_timeout`, `poll_output`): what the
    /// forwarding core costs, apart from the simulated peers. Only the
    /// benchmark reads it; nothing is decided by it.
    pub sfu_busy: Duration,
}

impl Sim {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        let cert = media_node::engine::crypto().expect("a DTLS certificate");
        let node: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let t0 = Instant::now();
        Sim {
            t0,
            now: t0,
            node,
            sfu: Sfu::new(node, limits),
            endpoint: Endpoint {
                public_addr: node,
                cert,
            },
            peers: Vec::new(),
            queue: BinaryHeap::new(),
            packets: BTreeMap::new(),
            next_packet: 0,
            latency: Duration::from_millis(5),
            next_frame: t0,
            next_audio: t0,
            misdelivered: 0,
            media: true,
            last_answer: String::new(),
            dropped_by_cap: 0,
            sfu_busy: Duration::ZERO,
        }
    }

    pub fn claims(room: &str, who: &str, publish: &[Source]) -> MediaClaims {
        MediaClaims {
            room: RoomId::parse(room).unwrap(),
            participant: ParticipantId::parse(who).unwrap(),
            publish: publish.to_vec(),
            subscribe: true,
            muted: vec![],
        }
    }

    /// A browser-like peer's offer: microphone, simulcast camera, data channel.
    pub fn offer(
        rtc: &mut Rtc,
        audio: bool,
        video: bool,
    ) -> (
        String,
        str0m::change::SdpPendingOffer,
        Option<Mid>,
        Option<Mid>,
    ) {
        let mut api = rtc.sdp_api();
        let a =
            audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let v = video.then(|| {
            let mut sim = Simulcast::new();
            for r in RIDS {
                sim.send.push(SimulcastLayer::new(r));
            }
            api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(sim))
        });
        api.add_channel("sfu".into());
        let (offer, pending) = api.apply().expect("an offer");
        (offer.to_sdp_string(), pending, a, v)
    }

    pub fn new_peer_rtc(&self, addr: SocketAddr) -> Rtc {
        self.new_peer_rtc_with(addr, &[Codec::Vp8])
    }

    /// A peer accepting video in `codecs` (the first is what it offers first).
    pub fn new_peer_rtc_with(&self, addr: SocketAddr, codecs: &[Codec]) -> Rtc {
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        for c in codecs {
            config = match c {
                Codec::Vp8 => config.enable_vp8(true),
                Codec::Vp9 => config.enable_vp9(true),
                Codec::H264 => {
                    // Constrained baseline, as the node configures it.
                    config
                        .codec_config()
                        .add_h264(108.into(), Some(109.into()), true, 0x42e01f);
                    config
                }
                Codec::Av1 => config.enable_av1(true),
                other => panic!("no {other:?} peers"),
            };
        }
        let mut rtc = config.build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, Protocol::Udp).unwrap());
        rtc
    }

    /// Joins a peer publishing microphone and camera, and returns its index.
    pub fn join(&mut self, name: &str, room: &str, publish: &[Source]) -> usize {
        let claims = Self::claims(room, &format!("u-{name}"), publish);
        self.join_with(name, claims, true, true)
            .expect("join accepted")
    }

    /// Joins a peer publishing microphone and camera in the first of
    /// `codecs`, and accepting video in any of them.
    pub fn join_codecs(&mut self, name: &str, room: &str, codecs: &[Codec]) -> usize {
        let claims = Self::claims(
            room,
            &format!("u-{name}"),
            &[Source::Microphone, Source::Camera],
        );
        self.join_full(name, claims, true, true, codecs)
            .expect("join accepted")
    }

    pub fn join_with(
        &mut self,
        name: &str,
        claims: MediaClaims,
        audio: bool,
        video: bool,
    ) -> Result<usize, client::JoinError> {
        self.join_full(name, claims, audio, video, &[Codec::Vp8])
    }

    fn join_full(
        &mut self,
        name: &str,
        claims: MediaClaims,
        audio: bool,
        video: bool,
        codecs: &[Codec],
    ) -> Result<usize, client::JoinError> {
        let addr: SocketAddr = format!("127.0.0.1:{}", 40000 + self.peers.len())
            .parse()
            .unwrap();
        let mut rtc = self.new_peer_rtc_with(addr, codecs);
        let (sdp, pending, a, v) = Self::offer(&mut rtc, audio, video);
        let mut sources = Vec::new();
        if let Some(m) = a {
            sources.push(TrackSource {
                mid: m.to_string(),
                source: Source::Microphone,
            });
        }
        if let Some(m) = v {
            sources.push(TrackSource {
                mid: m.to_string(),
                source: Source::Camera,
            });
        }
        let token = media_token::mint(SEED, claims.clone(), 1_800_000_000_000).unwrap();
        let key =
            media_node::token::TokenKey::from_hex(&media_token::public_key_hex(SEED).unwrap())
                .unwrap();
        let verified =
            media_node::token::verify(&token, &key, &claims.room, 1_800_000_000_000).unwrap();
        let accepted = client::accept(&self.endpoint, verified, &sources, &sdp, self.now)?;
        let answer = self.sfu.handle_join(self.now, accepted)?;
        self.last_answer = answer.clone();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        self.peers.push(Peer {
            loud: name.starts_with("loud"),
            gone: false,
            sent_while_gone: 0,
            name: name.into(),
            participant: claims.participant.clone(),
            room: claims.room.clone(),
            addr,
            rtc,
            deadline: self.now,
            channel: None,
            audio_mid: a,
            video_mid: v,
            remote: BTreeMap::new(),
            slots: Vec::new(),
            available: Vec::new(),
            assigns: Vec::new(),
            unassigned: 0,
            fresh: BTreeMap::new(),
            slot_starts: Vec::new(),
            last_seq_by_mid: BTreeMap::new(),
            section_disorder: 0,
            received: BTreeMap::new(),
            keyframe_wanted: [true; 3],
            keyframe_requests: 0,
            codec: codecs[0],
            speakers: vec![],
            offers: 0,
            hold_answers: false,
            held_offer: None,
            largest_offer: 0,
            inbox: channel::Reassembly::default(),
            frame: 0,
            seq: [1000, 2000, 3000, 4000],
            downlink: None,
            link_free: self.now,
            connected: false,
        });
        let i = self.peers.len() - 1;
        self.drain_peer(i);
        self.drain_sfu();
        Ok(i)
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let mut at = self.now + self.latency;
        if let Some(p) = self.peers.iter_mut().find(|p| p.addr == to)
            && let Some(cap) = p.downlink
        {
            // A drop-tail queue of at most 200 ms in front of the peer.
            let start = p.link_free.max(self.now);
            if start > self.now + Duration::from_millis(200) {
                self.dropped_by_cap += 1;
                return;
            }
            let busy = Duration::from_nanos(bytes.len() as u64 * 8 * 1_000_000_000 / cap);
            p.link_free = start + busy;
            at = p.link_free + self.latency;
        }
        let id = self.next_packet;
        self.next_packet += 1;
        self.packets.insert(id, (from, to, bytes));
        self.queue.push(Reverse((at, id, 0)));
    }

    /// Calls the node, adding the wall time it took to `sfu_busy`.
    fn timed<R>(&mut self, call: impl FnOnce(&mut Sfu) -> R) -> R {
        let start = Instant::now();
        let r = call(&mut self.sfu);
        self.sfu_busy += start.elapsed();
        r
    }

    fn drain_sfu(&mut self) {
        while let Some(o) = self.timed(Sfu::poll_output) {
            if let Output::Transmit(t) = o {
                if !self.peers.iter().any(|p| p.addr == t.destination) {
                    self.misdelivered += 1;
                    continue;
                }
                self.send(self.node, t.destination, t.contents.to_vec());
            }
        }
    }

    fn drain_peer(&mut self, i: usize) {
        loop {
            let out = self.peers[i].rtc.poll_output().expect("peer rtc works");
            match out {
                str0m::Output::Timeout(t) => {
                    self.peers[i].deadline = t;
                    break;
                }
                str0m::Output::Transmit(t) => {
                    let from = self.peers[i].addr;
                    self.send(from, t.destination, t.contents.to_vec());
                }
                str0m::Output::Event(e) => self.peer_event(i, e),
            }
        }
    }

    fn peer_event(&mut self, i: usize, e: Event) {
        let p = &mut self.peers[i];
        match e {
            Event::Connected => p.connected = true,
            Event::ChannelOpen(id, _) => p.channel = Some(id),
            Event::ChannelData(d) => {
                let frame = std::str::from_utf8(&d.data).unwrap();
                let Some(text) = p.inbox.handle(frame).unwrap() else {
                    return;
                };
                match serde_json::from_str::<NodeMessage>(&text).unwrap() {
                    NodeMessage::Offer { sdp, tracks, slots } => {
                        p.offers += 1;
                        p.largest_offer = p.largest_offer.max(text.len());
                        p.remote.retain(|mid, _| slots.contains(mid));
                        p.remote.extend(
                            tracks
                                .into_iter()
                                .map(|t| (t.mid, (t.participant, t.source))),
                        );
                        p.slots = slots;
                        if p.hold_answers {
                            p.held_offer = Some(sdp);
                        } else {
                            answer(p, &sdp);
                        }
                    }
                    NodeMessage::Speakers { ids } => p.speakers = ids,
                    NodeMessage::Tracks { available } => p.available = available,
                    NodeMessage::Assign {
                        mid,
                        track,
                        from_rtp_time,
                    } => {
                        if track.is_some() {
                            p.fresh.insert(mid.clone(), from_rtp_time);
                        }
                        match &track {
                            Some(t) => p
                                .remote
                                .insert(mid.clone(), (t.participant.clone(), t.source)),
                            None => p.remote.remove(&mid),
                        };
                        p.assigns.push((mid, track));
                    }
                }
            }
            Event::RtpPacket(pkt) => {
                let mid = p
                    .rtc
                    .direct_api()
                    .stream_rx(&pkt.header.ssrc)
                    .map(|s| s.mid());
                let Some(mid) = mid.map(|m| m.to_string()) else {
                    return;
                };
                let seq = *pkt.seq_no;
                if p.last_seq_by_mid
                    .insert(mid.clone(), seq)
                    .is_some_and(|l| seq <= l)
                {
                    p.section_disorder += 1;
                }
                let Some(key) = p.remote.get(&mid).cloned() else {
                    p.unassigned += 1;
                    return;
                };
                let codec = p
                    .rtc
                    .codec_config()
                    .find(|c| c.pt() == pkt.header.payload_type)
                    .map(|c| c.spec().codec);
                if let Some(at) = p.fresh.remove(&mid) {
                    p.slot_starts.push((
                        frame::inspect(codec, &pkt.payload).keyframe,
                        at == Some(pkt.header.timestamp),
                    ));
                }
                let r = p.received.entry(key).or_default();
                r.packets += 1;
                r.ssrcs.insert(*pkt.header.ssrc);
                let seq = *pkt.seq_no;
                if r.last_seq.is_some_and(|l| seq <= l) {
                    r.disorder += 1;
                } else {
                    r.last_seq = Some(seq);
                }
                r.codec = codec;
                if let Some(&b) = pkt.payload.last()
                    && (0x40..0x43).contains(&b)
                    && pkt.payload.len() > 16
                {
                    r.by_layer[(b - 0x40) as usize] += 1;
                    r.senders.insert(pkt.payload[pkt.payload.len() - 2]);
                    let keyframe = frame::inspect(codec, &pkt.payload).keyframe;
                    r.first_keyframe.get_or_insert(keyframe);
                    if keyframe {
                        r.keyframes += 1;
                    }
                }
            }
            Event::KeyframeRequest(k) => {
                p.keyframe_requests += 1;
                let layer = k
                    .rid
                    .and_then(|r| RIDS.iter().position(|x| **x == *r))
                    .unwrap_or(0);
                p.keyframe_wanted[layer] = true;
            }
            _ => {}
        }
    }

    /// Sends one frame per layer (every 33 ms) and one Opus packet (every
    /// 20 ms) from every publishing peer.
    fn publish(&mut self) {
        if !self.media {
            return;
        }
        let now = self.now;
        if now >= self.next_audio {
            self.next_audio += Duration::from_millis(20);
            for i in 0..self.peers.len() {
                let p = &mut self.peers[i];
                let (Some(mid), true) = (p.audio_mid, p.connected) else {
                    continue;
                };
                let pt = pt(&p.rtc, Codec::Opus);
                p.seq[3] += 1;
                let ts = (now - self.t0).as_millis() as u32 * 48;
                let level = if p.loud { -10 } else { -100 };
                let ext = ExtensionValues {
                    audio_level: Some(level),
                    voice_activity: Some(level > -50),
                    ..Default::default()
                };
                let seq = p.seq[3];
                if let Some(tx) = p.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    tx.write_rtp(
                        RtpWrite::new(pt, SeqNo::from(seq), ts, now, vec![0xfc; 60]).ext_vals(ext),
                    );
                }
                self.drain_peer(i);
            }
        }
        if now >= self.next_frame {
            self.next_frame += Duration::from_millis(33);
            for i in 0..self.peers.len() {
                let p = &mut self.peers[i];
                let (Some(mid), true) = (p.video_mid, p.connected) else {
                    continue;
                };
                let codec = p.codec;
                let pt = pt(&p.rtc, codec);
                p.frame += 1;
                let ts = (now - self.t0).as_millis() as u32 * 90;
                for layer in 0..3 {
                    let keyframe =
                        std::mem::take(&mut p.keyframe_wanted[layer]) || p.frame % 300 == 1;
                    let n = LAYER_PACKETS[layer];
                    for k in 0..n {
                        p.seq[layer] += 1;
                        let mut payload = payload(
                            codec,
                            (p.frame & 0x7fff) as u16,
                            keyframe,
                            k == 0,
                            layer,
                            LAYER_BYTES[layer],
                        );
                        let at = payload.len() - 2;
                        payload[at] = i as u8;
                        let seq = p.seq[layer];
                        let rid = Rid::from(RIDS[layer]);
                        if let Some(tx) = p.rtc.direct_api().stream_tx_by_mid(mid, Some(rid)) {
                            tx.write_rtp(
                                RtpWrite::new(pt, SeqNo::from(seq), ts, now, payload)
                                    .marker(k + 1 == n)
                                    .nackable(true),
                            );
                        }
                    }
                }
                self.drain_peer(i);
            }
        }
    }

    /// Runs the network for `d` of simulated time.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let mut next = if self.media {
                end.min(self.next_frame).min(self.next_audio)
            } else {
                end
            };
            if let Some(t) = self.sfu.poll_timeout() {
                next = next.min(t);
            }
            for p in self.peers.iter().filter(|p| !p.gone) {
                next = next.min(p.deadline);
            }
            if let Some(Reverse((t, _, _))) = self.queue.peek() {
                next = next.min(*t);
            }
            self.now = next.max(self.now);
            // Deliver everything due.
            while let Some(Reverse((t, id, _))) = self.queue.peek().copied() {
                if t > self.now {
                    break;
                }
                self.queue.pop();
                let (from, to, bytes) = self.packets.remove(&id).unwrap();
                if to == self.node {
                    let now = self.now;
                    self.timed(|sfu| sfu.handle_datagram(now, from, &bytes));
                    self.drain_sfu();
                } else if let Some(i) = self.peers.iter().position(|p| p.addr == to)
                    && self.peers[i].gone
                {
                    self.peers[i].sent_while_gone += 1;
                } else if let Some(i) = self.peers.iter().position(|p| p.addr == to)
                    && let Ok(r) = Receive::new(Protocol::Udp, from, to, &bytes)
                {
                    let _ = self.peers[i].rtc.handle_input(Input::Receive(self.now, r));
                    self.drain_peer(i);
                }
            }
            if self.sfu.poll_timeout().is_some_and(|t| t <= self.now) {
                let now = self.now;
                self.timed(|sfu| sfu.handle_timeout(now));
                self.drain_sfu();
            }
            for i in 0..self.peers.len() {
                if self.peers[i].deadline <= self.now && !self.peers[i].gone {
                    let now = self.now;
                    let _ = self.peers[i].rtc.handle_input(Input::Timeout(now));
                    self.drain_peer(i);
                }
            }
            self.publish();
            self.drain_sfu();
            if self.now >= end {
                return;
            }
        }
    }

    /// Peer `i` vanishes: it stops sending and answering, as a browser
    /// whose laptop closed.
    pub fn vanish(&mut self, i: usize) {
        self.peers[i].gone = true;
        self.peers[i].connected = false;
    }

    /// Injects a datagram from anywhere.
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.sfu.handle_datagram(self.now, from, bytes);
        self.drain_sfu();
    }

    pub fn command(&mut self, cmd: Command) -> Result<Option<String>, client::JoinError> {
        let r = self.sfu.handle_command(self.now, cmd);
        self.drain_sfu();
        r
    }

    /// `loud` speakers then `quiet` silent people join `room` with only a
    /// microphone (names `loud0`.., then `quiet{loud}`..). Returns them.
    pub fn microphones(&mut self, room: &str, loud: usize, quiet: usize) -> Vec<usize> {
        (0..loud + quiet)
            .map(|i| {
                let name = if i < loud {
                    format!("loud{i}")
                } else {
                    format!("quiet{i}")
                };
                let claims = Sim::claims(room, &format!("u-{name}"), &[Source::Microphone]);
                self.join_with(&name, claims, true, false).unwrap()
            })
            .collect()
    }

    /// Answers the offer peer `i` held back, and answers at once from now on.
    pub fn release_answer(&mut self, i: usize) {
        let p = &mut self.peers[i];
        p.hold_answers = false;
        if let Some(sdp) = p.held_offer.take() {
            answer(p, &sdp);
        }
        self.drain_peer(i);
    }

    /// Peer `i` restarts ICE through the room (a restart offer to the node
    /// as a control command) and applies the node's answer.
    pub fn ice_restart(&mut self, i: usize) {
        let mut api = self.peers[i].rtc.sdp_api();
        api.ice_restart(true);
        let (offer, pending) = api.apply().expect("a restart offer");
        let (room, who) = (
            self.peers[i].room.clone(),
            self.peers[i].participant.clone(),
        );
        let answer = self
            .command(Command::Restart(room, who, Box::new(offer)))
            .expect("restart accepted")
            .expect("an answer");
        self.peers[i]
            .rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
    }

    /// Tells the node the peer's tile sizes.
    pub fn view(&mut self, i: usize, tiles: &[(usize, u32)]) {
        let tiles: Vec<(ParticipantId, u32)> = tiles
            .iter()
            .map(|&(of, h)| (self.peers[of].participant.clone(), h))
            .collect();
        self.view_ids(i, &tiles);
    }

    /// Tells the node the peer's camera tile sizes by participant (who may
    /// not have joined yet).
    pub fn view_ids(&mut self, i: usize, tiles: &[(ParticipantId, u32)]) {
        let tiles: Vec<TileView> = tiles
            .iter()
            .map(|(who, h)| TileView {
                participant: who.clone(),
                source: Source::Camera,
                width: h.saturating_mul(16) / 9,
                height: *h,
            })
            .collect();
        let msg = serde_json::to_vec(&PeerMessage::View { tiles }).unwrap();
        let p = &mut self.peers[i];
        let id = p.channel.expect("channel open");
        p.rtc.channel(id).unwrap().write(false, &msg).unwrap();
        self.drain_peer(i);
    }

    /// What peer `i` received of peer `of`'s `source`.
    pub fn got(&self, i: usize, of: usize, source: Source) -> Received {
        let who = &self.peers[of].participant;
        self.peers[i]
            .received
            .get(&(who.clone(), source))
            .cloned()
            .unwrap_or_default()
    }

    /// Tracks received as someone else's: (receiver, attributed to, the
    /// publisher stamped in the packets). Empty when slots deliver right.
    pub fn misattributed(&self) -> Vec<(usize, usize, u8)> {
        let mut wrong = Vec::new();
        for (i, p) in self.peers.iter().enumerate() {
            for ((who, _), r) in &p.received {
                let Some(of) = self.peers.iter().position(|q| &q.participant == who) else {
                    continue;
                };
                wrong.extend(
                    r.senders
                        .iter()
                        .filter(|&&x| usize::from(x) != of)
                        .map(|&x| (i, of, x)),
                );
            }
        }
        wrong
    }

    /// Packet counts of everything peer `i` received so far.
    pub fn snapshot(&self, i: usize) -> BTreeMap<(ParticipantId, Source), u64> {
        self.peers[i]
            .received
            .iter()
            .map(|(k, v)| (k.clone(), v.packets))
            .collect()
    }
}

fn pt(rtc: &Rtc, codec: Codec) -> str0m::media::Pt {
    rtc.codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
        .expect("codec configured")
}

/// Accepts the node's offer and sends the answer on the data channel.
fn answer(p: &mut Peer, sdp: &str) {
    let offer = str0m::change::SdpOffer::from_sdp_string(sdp).unwrap();
    let answer = p.rtc.sdp_api().accept_offer(offer).unwrap();
    let msg = serde_json::to_string(&PeerMessage::Answer {
        sdp: answer.to_sdp_string(),
    })
    .unwrap();
    let id = p.channel.unwrap();
    for frame in channel::split(&msg) {
        let mut ch = p.rtc.channel(id).unwrap();
        assert!(ch.write(false, frame.as_bytes()).unwrap(), "buffer full");
    }
}
