//! One simulated participant: a str0m [`Rtc`] in RTP mode on its own UDP
//! socket. A publisher sends one VP8 packet per frame on each of three
//! simulcast layers and Opus audio (talking or DTX); a subscriber reads the
//! trailers of what arrives. With our node a subscriber also answers the
//! node's offers on the data channel and reports its tiles.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protocol::ParticipantId;
use protocol::channel;
use protocol::media::{NodeMessage, PeerMessage, Source, TileView};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::media::{self, AUDIO, Trailer};
use crate::stats::Counters;

/// What a publisher sends and when.
#[derive(Debug)]
pub struct Publish {
    /// Its index, written into every trailer.
    pub index: u16,
    pub audio_mid: Mid,
    pub video_mid: Mid,
    /// Payload types negotiated for VP8 and Opus.
    pub vp8: Pt,
    pub opus: Pt,
    /// Talking sends audio every 20 ms, silence every 400 ms (DTX).
    pub talking: bool,
    /// Next frame and audio packet are due (spread over the period by index).
    pub next_frame: Instant,
    pub next_audio: Instant,
    /// Frames sent (picture ids, periodic keyframes).
    pub frame: u64,
    /// RTP sequence numbers per layer and audio.
    pub seq: [u64; 4],
    /// Layers whose next frame must be a keyframe (a request came).
    pub keyframe_wanted: [bool; 3],
}

/// The tiles a subscriber shows: publisher index and tile height (0 = not
/// shown). Drives our node's layer choice and Janus's substream choice.
pub type Tiles = Vec<(u16, u32)>;

/// One peer.
pub struct Peer {
    pub rtc: Rtc,
    pub socket: mio::net::UdpSocket,
    pub addr: SocketAddr,
    /// When str0m next wants a timeout.
    pub deadline: Instant,
    pub publish: Option<Publish>,
    /// Tiles on screen (subscribers).
    pub tiles: Tiles,
    /// Our node's data channel, once open.
    pub channel: Option<ChannelId>,
    inbox: channel::Reassembly,
    /// Publisher index by participant id, to name tiles in view reports.
    pub publishers: BTreeMap<ParticipantId, u16>,
    pub connected: bool,
    /// Datagrams the socket refused (send buffer full).
    pub send_errors: u64,
    /// When the datagram being handled reached the socket (the kernel's
    /// stamp): str0m reports its packet while it is handled.
    arrived: Instant,
}

/// The str0m configuration every peer uses: RTP mode (no depacketizing),
/// Opus and VP8 only, no statistics.
pub fn rtc(addr: SocketAddr, now: Instant) -> anyhow::Result<Rtc> {
    let mut rtc = Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(None)
        .build(now);
    rtc.add_local_candidate(Candidate::host(addr, Protocol::Udp)?);
    Ok(rtc)
}

/// An offer: a sendonly microphone and simulcast camera when `publish`,
/// and a data channel when `channel`. Returns the SDP, the pending offer
/// and the audio and video mids.
pub fn offer(
    rtc: &mut Rtc,
    publish: bool,
    channel: bool,
) -> (String, str0m::change::SdpPendingOffer, Option<(Mid, Mid)>) {
    let mut api = rtc.sdp_api();
    let mids = publish.then(|| {
        let a = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let mut sim = Simulcast::new();
        for r in media::RIDS {
            sim.send.push(SimulcastLayer::new(r));
        }
        let v = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(sim));
        (a, v)
    });
    if channel {
        api.add_channel("sfu".into());
    }
    #[allow(clippy::expect_used)] // a fresh Rtc with changes always offers
    let (offer, pending) = api.apply().expect("changes to offer");
    (offer.to_sdp_string(), pending, mids)
}

/// The negotiated payload type of `codec`.
pub fn pt(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    rtc.codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
}

/// The steady window: packets sent inside it are counted.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The generator's epoch; trailers carry nanoseconds since it.
    pub epoch: Instant,
    pub start: Instant,
    pub end: Instant,
    /// Publishers below this index talk; the others send silence.
    pub talkers: u16,
}

impl Window {
    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

impl Peer {
    pub fn new(rtc: Rtc, socket: mio::net::UdpSocket, addr: SocketAddr, now: Instant) -> Self {
        Peer {
            rtc,
            socket,
            addr,
            deadline: now,
            publish: None,
            tiles: Vec::new(),
            channel: None,
            inbox: channel::Reassembly::default(),
            publishers: BTreeMap::new(),
            connected: false,
            send_errors: 0,
            arrived: now,
        }
    }

    /// Feeds one datagram, read at `now`, that reached the socket at
    /// `arrived`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        arrived: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        self.arrived = arrived;
        if let Ok(r) = Receive::new(Protocol::Udp, from, self.addr, bytes) {
            let _ = self.rtc.handle_input(Input::Receive(now, r));
        }
    }

    /// Feeds str0m's timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(Input::Timeout(now));
    }

    /// Sends what str0m has to send and handles its events until it waits.
    pub fn drain(&mut self, w: &Window, c: &mut Counters) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.deadline = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    if self.socket.send_to(&t.contents, t.destination).is_err() {
                        self.send_errors += 1;
                    }
                }
                Ok(Output::Event(e)) => self.event(e, w, c),
                Err(_) => {
                    // A broken peer stays quiet; the run's counts show it.
                    self.deadline = Instant::now() + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    fn event(&mut self, e: Event, w: &Window, c: &mut Counters) {
        match e {
            Event::Connected => self.connected = true,
            Event::RtpPacket(pkt) => {
                let Some(t) = Trailer::read(&pkt.payload) else {
                    return;
                };
                let sent = w.epoch + Duration::from_nanos(t.sent);
                if !w.contains(sent) {
                    c.outside += 1;
                    return;
                }
                if t.layer == AUDIO && t.publisher >= w.talkers {
                    c.silent += 1;
                    return;
                }
                c.received[usize::from(t.layer.min(AUDIO))] += 1;
                let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
                c.latency_us
                    .push(us(self.arrived.saturating_duration_since(sent)));
                c.read_latency_us
                    .push(us(Instant::now().saturating_duration_since(sent)));
            }
            Event::KeyframeRequest(k) => {
                if let Some(p) = &mut self.publish {
                    let layer = k
                        .rid
                        .and_then(|r| media::RIDS.iter().position(|x| **x == *r))
                        .unwrap_or(0);
                    p.keyframe_wanted[layer] = true;
                }
            }
            Event::ChannelOpen(id, _) => self.channel = Some(id),
            Event::ChannelData(d) => {
                if let Ok(frame) = std::str::from_utf8(&d.data)
                    && let Ok(Some(text)) = self.inbox.handle(frame)
                    && let Ok(msg) = serde_json::from_str::<NodeMessage>(&text)
                {
                    self.node_message(msg);
                }
            }
            _ => {}
        }
    }

    /// Our node's messages: answer its offers; report the tiles whenever
    /// it lists the video tracks there are (the view decides which of
    /// them get a video slot).
    fn node_message(&mut self, msg: NodeMessage) {
        match msg {
            NodeMessage::Offer { sdp, .. } => {
                let Ok(offer) = str0m::change::SdpOffer::from_sdp_string(&sdp) else {
                    return;
                };
                let Ok(answer) = self.rtc.sdp_api().accept_offer(offer) else {
                    return;
                };
                let answer = PeerMessage::Answer {
                    sdp: answer.to_sdp_string(),
                };
                self.send_channel(&answer);
            }
            NodeMessage::Tracks { available } => {
                let tiles = available
                    .into_iter()
                    .filter(|t| t.source == Source::Camera)
                    .filter_map(|t| {
                        let index = *self.publishers.get(&t.participant)?;
                        let height = self.tiles.iter().find(|x| x.0 == index)?.1;
                        (height > 0).then(|| TileView {
                            participant: t.participant,
                            source: Source::Camera,
                            width: height * 16 / 9,
                            height,
                        })
                    })
                    .collect();
                self.send_channel(&PeerMessage::View { tiles });
            }
            NodeMessage::Assign { .. } | NodeMessage::Speakers { .. } => {}
        }
    }

    fn send_channel(&mut self, msg: &PeerMessage) {
        let Some(id) = self.channel else { return };
        let Ok(text) = serde_json::to_string(msg) else {
            return;
        };
        for frame in channel::split(&text) {
            if let Some(mut ch) = self.rtc.channel(id) {
                let _ = ch.write(false, frame.as_bytes());
            }
        }
    }

    /// Sends whatever frames and audio packets are due by `now`.
    pub fn publish_due(&mut self, now: Instant, w: &Window, c: &mut Counters, sent: &mut [u64; 4]) {
        let Some(p) = &mut self.publish else { return };
        if !self.connected {
            // Not sending yet: keep the schedule from piling up.
            while p.next_frame <= now {
                p.next_frame += media::FRAME;
            }
            while p.next_audio <= now {
                p.next_audio += media::AUDIO_FRAME;
            }
            return;
        }
        if p.next_audio > now && p.next_frame > now {
            return;
        }
        // The loop's `now` was read before it served the peers ahead of
        // this one: the send time written in each payload is read afresh.
        let now = Instant::now();
        let mut wrote = false;
        while p.next_audio <= now {
            let at = p.next_audio;
            p.next_audio += if p.talking {
                media::AUDIO_FRAME
            } else {
                media::DTX_FRAME
            };
            p.seq[3] += 1;
            let trailer = Trailer {
                publisher: p.index,
                layer: AUDIO,
                sent: w.nanos(now),
            };
            let ts = (w.nanos(at) / 1_000_000 * 48) as u32;
            // RFC 6464 level: speech at -10 dBov, silence at -127.
            let ext = ExtensionValues {
                audio_level: Some(if p.talking { -10 } else { -127 }),
                voice_activity: Some(p.talking),
                ..Default::default()
            };
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(p.audio_mid, None) {
                tx.write_rtp(
                    RtpWrite::new(p.opus, SeqNo::from(p.seq[3]), ts, now, media::opus(trailer))
                        .ext_vals(ext),
                );
                wrote = true;
                if w.contains(now) {
                    c.sent_audio += 1;
                    sent[3] += 1;
                }
            }
        }
        while p.next_frame <= now {
            let at = p.next_frame;
            p.next_frame += media::FRAME;
            p.frame += 1;
            let ts = (w.nanos(at) / 100_000 * 9) as u32;
            #[allow(clippy::needless_range_loop)] // layer indexes four arrays
            for layer in 0..3 {
                let keyframe = std::mem::take(&mut p.keyframe_wanted[layer])
                    || p.frame % media::KEYFRAME_EVERY == 1;
                p.seq[layer] += 1;
                let trailer = Trailer {
                    publisher: p.index,
                    layer: layer as u8,
                    sent: w.nanos(now),
                };
                let payload = media::vp8((p.frame & 0x7fff) as u16, keyframe, trailer);
                let rid = Rid::from(media::RIDS[layer]);
                if let Some(tx) = self
                    .rtc
                    .direct_api()
                    .stream_tx_by_mid(p.video_mid, Some(rid))
                {
                    tx.write_rtp(
                        RtpWrite::new(p.vp8, SeqNo::from(p.seq[layer]), ts, now, payload)
                            .marker(true)
                            .nackable(true),
                    );
                    wrote = true;
                    if w.contains(now) {
                        c.sent_video[layer] += 1;
                        sent[layer] += 1;
                    }
                }
            }
        }
        if wrote {
            self.drain(w, c);
        }
    }
}
