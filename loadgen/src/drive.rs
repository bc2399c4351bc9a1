//! Sets a run up (sockets, peers, signaling with the chosen SFU) and drives
//! every peer from one thread: mio tells which sockets are readable, each
//! datagram goes to its peer with the time it was read, frames go out on
//! schedule, str0m's timeouts are served. Then it turns the counters into a
//! [`Report`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use str0m::change::SdpAnswer;
use str0m::format::Codec;

use crate::arrival;
use crate::janus::Janus;
use crate::media::{self, AUDIO};
use crate::otc::{self, Otc};
use crate::peer::{self, Peer, Publish, Tiles, Window};
use crate::stats::{self, Counters, Latency, Report};
use crate::{Settings, Target, View};

/// Tile heights that select each layer.
const LOW: u32 = 180;
const HIGH: u32 = 720;

/// Largest datagram read.
const MTU: usize = 2048;

/// Every peer, their counters and the loop's state.
struct Run {
    peers: Vec<Peer>,
    /// Packets each publisher sent inside the window, per layer and audio.
    sent: Vec<[u64; 4]>,
    counters: Counters,
    window: Window,
    poll: Poll,
}

/// Which publishers subscriber `s` shows, and how large.
fn tiles(view: View, s: usize, publishers: usize) -> Tiles {
    match view {
        View::Low => (0..publishers).map(|p| (p as u16, LOW)).collect(),
        View::Speaker => (0..publishers.min(10))
            .map(|k| {
                let p = (s + k) % publishers;
                (p as u16, if k == 0 { HIGH } else { LOW })
            })
            .collect(),
    }
}

fn layer_of(height: u32) -> usize {
    match height {
        0..=240 => 0,
        241..=480 => 1,
        _ => 2,
    }
}

fn bind() -> anyhow::Result<(mio::net::UdpSocket, SocketAddr)> {
    let socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse()?)?;
    arrival::enable(&socket)?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

/// Runs the whole benchmark run and reports.
pub fn run(settings: Settings) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rss_idle = settings.pid.and_then(stats::rss_kib);
    let epoch = Instant::now();
    let far = epoch + Duration::from_secs(3600 * 24);
    let mut run = Run {
        peers: Vec::new(),
        sent: vec![[0; 4]; settings.publishers],
        counters: Counters::default(),
        window: Window {
            epoch,
            start: far,
            end: far,
            talkers: settings.talkers as u16,
        },
        poll: Poll::new()?,
    };
    let n = settings.publishers;
    for i in 0..n + settings.subscribers {
        let (socket, addr) = bind()?;
        let rtc = peer::rtc(addr, epoch)?;
        let mut p = Peer::new(rtc, socket, addr, epoch);
        if i >= n {
            p.tiles = tiles(settings.view, i - n, n);
        }
        run.poll
            .registry()
            .register(&mut p.socket, Token(i), Interest::READABLE)?;
        run.peers.push(p);
    }
    match &settings.target {
        Target::Otc {
            control,
            secret,
            seed,
        } => {
            let node = Otc::new(control, secret, seed, "bench-room")?;
            for i in 0..run.peers.len() {
                let publisher = i < n;
                let who = otc::participant(publisher, if publisher { i } else { i - n })?;
                let p = &mut run.peers[i];
                let (sdp, pending, mids) = peer::offer(&mut p.rtc, publisher, true);
                let answer = runtime.block_on(node.join(who, sdp, mids))?;
                p.rtc
                    .sdp_api()
                    .accept_answer(pending, SdpAnswer::from_sdp_string(&answer)?)?;
                if let Some((a, v)) = mids {
                    start_publishing(p, i, a, v, &settings, epoch)?;
                }
                for k in 0..n {
                    p.publishers.insert(otc::participant(true, k)?, k as u16);
                }
            }
        }
        Target::Janus { url } => {
            let janus = runtime.block_on(Janus::connect(url))?;
            let room = 1234;
            runtime.block_on(janus.create_room(room, n.max(1)))?;
            let mut feeds = Vec::with_capacity(n);
            for i in 0..n {
                let p = &mut run.peers[i];
                let (sdp, pending, mids) = peer::offer(&mut p.rtc, true, false);
                let (feed, answer) =
                    runtime.block_on(janus.publish(room, &format!("pub-{i}"), &sdp))?;
                feeds.push(feed);
                p.rtc
                    .sdp_api()
                    .accept_answer(pending, SdpAnswer::from_sdp_string(&answer)?)?;
                if let Some((a, v)) = mids {
                    start_publishing(p, i, a, v, &settings, epoch)?;
                }
            }
            // Publishers connect before anyone subscribes to them.
            run.drive(Instant::now() + Duration::from_secs(2));
            for i in n..run.peers.len() {
                let shown: Vec<(u64, usize)> = run.peers[i]
                    .tiles
                    .iter()
                    .filter(|t| t.1 > 0)
                    .map(|&(p, h)| (feeds[usize::from(p)], layer_of(h)))
                    .collect();
                let sub = runtime.block_on(
                    janus.subscribe(room, &shown.iter().map(|s| s.0).collect::<Vec<_>>()),
                )?;
                let p = &mut run.peers[i];
                let offer = str0m::change::SdpOffer::from_sdp_string(&sub.offer_sdp)?;
                let answer = p.rtc.sdp_api().accept_offer(offer)?;
                runtime.block_on(janus.start(&sub, &answer.to_sdp_string()))?;
                runtime.block_on(janus.substreams(&sub, &shown))?;
                run.drive(Instant::now());
            }
        }
    }
    let start = Instant::now() + settings.warmup;
    run.drive(start);
    let end = start + settings.window;
    run.window.start = start;
    run.window.end = end;
    let cpu_start = settings.pid.and_then(stats::cpu_us);
    let own_start = stats::cpu_us(std::process::id());
    run.drive(end);
    let cpu_end = settings.pid.and_then(stats::cpu_us);
    let own_end = stats::cpu_us(std::process::id());
    let rss_loaded = settings.pid.and_then(stats::rss_kib);
    // Let the window's last packets arrive.
    run.drive(end + Duration::from_millis(300));
    Ok(run.report(
        &settings,
        (cpu_start, cpu_end),
        (own_start, own_end),
        (rss_idle, rss_loaded),
    ))
}

/// Makes peer `i` a publisher, its sends spread over the frame period.
fn start_publishing(
    p: &mut Peer,
    i: usize,
    audio_mid: str0m::media::Mid,
    video_mid: str0m::media::Mid,
    settings: &Settings,
    epoch: Instant,
) -> anyhow::Result<()> {
    let vp8 = peer::pt(&p.rtc, Codec::Vp8).ok_or_else(|| anyhow::anyhow!("no VP8"))?;
    let opus = peer::pt(&p.rtc, Codec::Opus).ok_or_else(|| anyhow::anyhow!("no Opus"))?;
    let n = settings.publishers.max(1) as u32;
    let offset = media::FRAME * i as u32 / n;
    let audio_offset = media::AUDIO_FRAME * i as u32 / n;
    p.publish = Some(Publish {
        index: i as u16,
        audio_mid,
        video_mid,
        vp8,
        opus,
        talking: i < settings.talkers,
        next_frame: epoch + offset,
        next_audio: epoch + audio_offset,
        frame: 0,
        seq: [1000, 20_000, 40_000, 60_000],
        keyframe_wanted: [true; 3],
    });
    Ok(())
}

impl Run {
    /// Drives every peer until `until`.
    fn drive(&mut self, until: Instant) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; MTU];
        let mut stamps = arrival::Stamps::new();
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            let mut next = until;
            for (i, p) in self.peers.iter_mut().enumerate() {
                if let Some(sent) = self.sent.get_mut(i) {
                    p.publish_due(now, &self.window, &mut self.counters, sent);
                }
                if p.deadline <= now {
                    p.handle_timeout(now);
                    p.drain(&self.window, &mut self.counters);
                }
                next = next.min(p.deadline);
                if let Some(pb) = &p.publish
                    && p.connected
                {
                    next = next.min(pb.next_frame).min(pb.next_audio);
                }
            }
            let wait = next.saturating_duration_since(Instant::now());
            if self.poll.poll(&mut events, Some(wait)).is_err() {
                continue;
            }
            for event in &events {
                let Some(p) = self.peers.get_mut(event.token().0) else {
                    continue;
                };
                loop {
                    match arrival::recv(&p.socket, &mut buf, &mut stamps) {
                        Ok(d) => {
                            p.handle_datagram(Instant::now(), d.arrived, d.from, &buf[..d.len]);
                            p.drain(&self.window, &mut self.counters);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
            }
        }
    }

    /// Packets the subscribers should have received inside the window.
    fn expected(&self, settings: &Settings) -> u64 {
        let n = settings.publishers;
        let talkers = settings.talkers.min(n);
        // Our node sends every voiced microphone; Janus those subscribed to.
        let all_audio = matches!(settings.target, Target::Otc { .. });
        let voiced = |p: usize| {
            if p < talkers {
                self.sent[p][usize::from(AUDIO)]
            } else {
                0
            }
        };
        let mut total = 0;
        for p in &self.peers[n..] {
            for &(publisher, height) in &p.tiles {
                let publisher = usize::from(publisher);
                if height > 0 {
                    total += self.sent[publisher][layer_of(height)];
                    if !all_audio {
                        total += voiced(publisher);
                    }
                }
            }
            if all_audio {
                total += (0..n).map(voiced).sum::<u64>();
            }
        }
        total
    }

    fn report(
        mut self,
        settings: &Settings,
        cpu: (Option<u64>, Option<u64>),
        own: (Option<u64>, Option<u64>),
        rss: (Option<u64>, Option<u64>),
    ) -> Report {
        let secs = settings.window.as_secs_f64();
        let expected = self.expected(settings);
        let c = &mut self.counters;
        // Loss is over what was required; the forwarded rate counts all.
        let required: u64 = c.received.iter().sum();
        let received = required + c.silent;
        let sent: u64 = c.sent_video.iter().sum::<u64>() + c.sent_audio;
        let cpu_us = match cpu {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        let participants = (settings.publishers + settings.subscribers).max(1) as f64;
        Report {
            target: match settings.target {
                Target::Otc { .. } => "opentelecon".into(),
                Target::Janus { .. } => "janus".into(),
            },
            publishers: settings.publishers,
            subscribers: settings.subscribers,
            window_s: secs,
            sent_pps: sent as f64 / secs,
            expected_pps: expected as f64 / secs,
            forwarded_pps: received as f64 / secs,
            loss: if expected == 0 {
                0.0
            } else {
                1.0 - required as f64 / expected as f64
            },
            received_pps_by_layer: c.received.map(|r| r as f64 / secs),
            latency_ms: Latency::of(&mut c.latency_us),
            read_latency_ms: Latency::of(&mut c.read_latency_us),
            cpu_us_per_packet: cpu_us.filter(|_| received > 0).map(|u| u / received as f64),
            cpu_cores: cpu_us.map(|u| u / 1e6 / secs),
            rss_idle_kib: rss.0,
            rss_loaded_kib: rss.1,
            kib_per_participant: match rss {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / participants),
                _ => None,
            },
            generator_cores: match own {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 / secs),
                _ => None,
            },
        }
    }
}
