//! The call: one `RTCPeerConnection` to the room's media node.
//!
//! The browser offers once, through the room socket, with a data channel
//! `sfu` and one send-only section per source (microphone; camera with
//! three simulcast layers `l`, `m`, `h`; screen). Publishing and muting swap
//! tracks with `replaceTrack` and never renegotiate. The node adds and
//! removes sections by offering on the data channel; this side answers.
//! Audio comes in a section per microphone; video in **slots**, sections the
//! node reuses for whichever tracks this page shows (it lists the tracks
//! there are, and says which slot carries which: see
//! `protocol::media::NodeMessage`). After a network drop the call restarts
//! ICE through the room.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::codec::VideoCodec;
use protocol::ParticipantId;
use protocol::channel;
use protocol::media::{NodeMessage, PeerMessage, Source, TileView, TrackName, TrackSource};
use protocol::room::ClientMessage;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcPeerConnection, RtcRtpEncodingParameters, RtcRtpSender, RtcRtpTransceiverDirection,
    RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

/// What the call tells the page.
pub enum CallEvent {
    /// The others' video tracks there are now: a tile each, showing its
    /// placeholder until a [`CallEvent::Track`] brings its frames.
    Available(Vec<TrackName>),
    /// A remote track's frames arrive in `stream` (a new track, or a video
    /// track given a slot).
    Track {
        /// Whose.
        participant: ParticipantId,
        /// What.
        source: Source,
        /// A stream holding just it.
        stream: MediaStream,
        /// A video slot's frames are this track's from this RTP time on
        /// ([`crate::slot::reached`]); earlier ones are the slot's
        /// previous track's.
        from_rtp_time: Option<u32>,
    },
    /// A video track left its slot: its tile shows its placeholder.
    Unbound {
        /// Whose.
        participant: ParticipantId,
        /// What.
        source: Source,
    },
    /// A remote audio track ended.
    Ended {
        /// Whose.
        participant: ParticipantId,
        /// What.
        source: Source,
    },
    /// Who is speaking, loudest first.
    Speakers(Vec<ParticipantId>),
    /// Connected, reconnecting or failed.
    State(String),
}

/// The live call.
pub struct Call {
    pc: RtcPeerConnection,
    channel: RtcDataChannel,
    senders: HashMap<Source, RtcRtpSender>,
    sections: Rc<RefCell<Sections>>,
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

/// What each of the node's sections carries, as its messages said.
#[derive(Default)]
struct Sections {
    /// By media id: each audio section's track (for good), and each video
    /// slot's track while assigned.
    names: HashMap<String, TrackName>,
    /// The media ids of the video slots.
    slots: HashSet<String>,
    /// The receiving track of each section, once the browser made it.
    receivers: HashMap<String, MediaStreamTrack>,
    /// Each assigned slot's first RTP time of its track.
    from_rtp_time: HashMap<String, u32>,
}

impl Sections {
    /// The page's stream for section `mid`, once both its name and its
    /// receiving track are known.
    fn track_event(&self, mid: &str) -> Option<CallEvent> {
        let name = self.names.get(mid)?;
        let stream = MediaStream::new().ok()?;
        stream.add_track(self.receivers.get(mid)?);
        Some(CallEvent::Track {
            participant: name.participant.clone(),
            source: name.source,
            stream,
            from_rtp_time: self.from_rtp_time.get(mid).copied(),
        })
    }

    /// `mid -> participant/source`, for stats (and tests, through
    /// `window.__openTelecon.names`).
    fn keys(&self) -> HashMap<String, String> {
        self.names
            .iter()
            .map(|(mid, n)| {
                (
                    mid.clone(),
                    format!("{}/{}", n.participant, n.source.as_str()),
                )
            })
            .collect()
    }

    /// Publishes [`Sections::keys`] for diagnostics and tests.
    fn publish(&self) {
        let Some(w) = web_sys::window() else { return };
        let Ok(diag) = js_sys::Reflect::get(&w, &"__openTelecon".into()) else {
            return;
        };
        if diag.is_undefined() {
            return;
        }
        let names = js_sys::Object::new();
        for (mid, key) in self.keys() {
            set(&names, &mid, &key.into());
        }
        set(&diag, "names", &names);
    }
}

/// Handles one message of the node; returns what the page must hear.
fn handle_node_message(
    sections: &RefCell<Sections>,
    msg: NodeMessage,
    pc: &RtcPeerConnection,
    ch: &RtcDataChannel,
) -> Vec<CallEvent> {
    let mut events = Vec::new();
    let mut s = sections.borrow_mut();
    match msg {
        NodeMessage::Offer { sdp, tracks, slots } => {
            let audio: HashMap<String, TrackName> = tracks
                .into_iter()
                .map(|t| {
                    let name = TrackName {
                        participant: t.participant,
                        source: t.source,
                    };
                    (t.mid, name)
                })
                .collect();
            let slots: HashSet<String> = slots.into_iter().collect();
            let gone: Vec<TrackName> = s
                .names
                .iter()
                .filter(|(mid, n)| !s.slots.contains(*mid) && !audio.values().any(|a| a == *n))
                .map(|(_, n)| n.clone())
                .collect();
            // A slot no longer offered (an ICE restart rolled it back)
            // carries nothing.
            let unbound: Vec<TrackName> = s
                .names
                .iter()
                .filter(|(mid, _)| s.slots.contains(*mid) && !slots.contains(*mid))
                .map(|(_, n)| n.clone())
                .collect();
            for n in unbound {
                events.push(CallEvent::Unbound {
                    participant: n.participant,
                    source: n.source,
                });
            }
            s.names.retain(|mid, _| slots.contains(mid));
            s.names.extend(audio);
            s.slots = slots;
            for n in gone {
                events.push(CallEvent::Ended {
                    participant: n.participant,
                    source: n.source,
                });
            }
            let (pc, ch) = (pc.clone(), ch.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = describe(&pc, RtcSdpType::Offer, &sdp).await {
                    leptos::logging::warn!("node offer refused: {e}");
                    return;
                }
                match local(&pc, pc.create_answer(), RtcSdpType::Answer).await {
                    Ok(sdp) => send(&ch, &PeerMessage::Answer { sdp }),
                    Err(e) => leptos::logging::warn!("answer failed: {e}"),
                }
            });
        }
        NodeMessage::Tracks { available } => events.push(CallEvent::Available(available)),
        NodeMessage::Assign {
            mid,
            track,
            from_rtp_time,
        } => {
            if !s.slots.contains(&mid) {
                return events;
            }
            match from_rtp_time.filter(|_| track.is_some()) {
                Some(t) => s.from_rtp_time.insert(mid.clone(), t),
                None => s.from_rtp_time.remove(&mid),
            };
            // A track is in one slot at most: drop an older claim on it.
            if let Some(t) = &track {
                s.names.retain(|m, n| m == &mid || n != t);
            }
            let old = match track {
                Some(t) => s.names.insert(mid.clone(), t),
                None => s.names.remove(&mid),
            };
            if let Some(old) = old.filter(|o| s.names.get(&mid) != Some(o)) {
                events.push(CallEvent::Unbound {
                    participant: old.participant,
                    source: old.source,
                });
            }
            events.extend(s.track_event(&mid));
        }
        NodeMessage::Speakers { ids } => events.push(CallEvent::Speakers(ids)),
    }
    s.publish();
    events
}

fn js_err(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &key.into(), value);
}

/// How long a "disconnected" connection may last before an ICE restart.
const RESTART_AFTER_MS: i32 = 3000;

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn encodings(codec: VideoCodec) -> js_sys::Array {
    let list = js_sys::Array::new();
    for (rid, scale, max) in [
        ("l", 4.0, 150_000),
        ("m", 2.0, 500_000),
        ("h", 1.0, 1_500_000),
    ] {
        let e = RtcRtpEncodingParameters::new();
        e.set_rid(rid);
        e.set_scale_resolution_down_by(scale);
        e.set_max_bitrate(max);
        if let Some(mode) = codec.scalability_mode() {
            set(&e, "scalabilityMode", &mode.into());
        }
        list.push(&e);
    }
    list
}

/// Offers only the chosen video codec (with retransmission) or Opus: a
/// smaller offer, and the publisher sends exactly the codec chosen.
fn prefer_codecs(t: &web_sys::RtcRtpTransceiver, video: bool, codec: VideoCodec) {
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok();
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(sender) = get(&window, "RTCRtpSender") else {
        return;
    };
    let Some(caps) =
        get(&sender, "getCapabilities").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    else {
        return;
    };
    let kind = if video { "video" } else { "audio" };
    let Ok(caps) = caps.call1(&sender, &kind.into()) else {
        return;
    };
    let Some(codecs) = get(&caps, "codecs") else {
        return;
    };
    let text = |c: &JsValue, k: &str| get(c, k).and_then(|v| v.as_string()).unwrap_or_default();
    let chosen: js_sys::Array = js_sys::Array::from(&codecs)
        .iter()
        .filter(|c| {
            let mime = text(c, "mimeType");
            if video {
                codec.offers(&mime, &text(c, "sdpFmtpLine"))
            } else {
                mime.eq_ignore_ascii_case("audio/opus")
            }
        })
        .collect();
    if chosen.length() == 0 {
        return;
    }
    if let Some(set) =
        get(t, "setCodecPreferences").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    {
        let _ = set.call1(t, &chosen);
    }
}

/// Sends a message to the node, in parts when large.
fn send(ch: &RtcDataChannel, msg: &PeerMessage) {
    let text = serde_json::to_string(msg).unwrap_or_default();
    for frame in channel::split(&text) {
        let _ = ch.send_with_str(&frame);
    }
}

async fn describe(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<(), String> {
    let d = RtcSessionDescriptionInit::new(kind);
    d.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&d))
        .await
        .map(|_| ())
        .map_err(js_err)
}

async fn local(
    pc: &RtcPeerConnection,
    promise: js_sys::Promise,
    kind: RtcSdpType,
) -> Result<String, String> {
    let desc = JsFuture::from(promise).await.map_err(js_err)?;
    let sdp = js_sys::Reflect::get(&desc, &"sdp".into())
        .ok()
        .and_then(|s| s.as_string())
        .ok_or("no SDP")?;
    let d = RtcSessionDescriptionInit::new(kind);
    d.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&d))
        .await
        .map_err(js_err)?;
    Ok(sdp)
}

impl Call {
    /// Builds the connection, adds `sources` (with their tracks where
    /// given) and returns the call with the offer message for the room.
    pub async fn start(
        sources: Vec<(Source, Option<MediaStreamTrack>)>,
        codec: VideoCodec,
        events: Rc<dyn Fn(CallEvent)>,
        signal: Rc<dyn Fn(ClientMessage)>,
    ) -> Result<(Call, ClientMessage), String> {
        let config = RtcConfiguration::new();
        config.set_ice_servers(&js_sys::Array::new());
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(js_err)?;
        let channel = pc.create_data_channel("sfu");
        let mut senders = HashMap::new();
        let mut transceivers = Vec::new();
        for (source, track) in sources {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Sendonly);
            if source == Source::Camera {
                init.set_send_encodings(&encodings(codec));
            }
            let t = match &track {
                Some(track) => pc.add_transceiver_with_media_stream_track_and_init(track, &init),
                None => pc.add_transceiver_with_str_and_init(
                    if source.is_video() { "video" } else { "audio" },
                    &init,
                ),
            };
            prefer_codecs(&t, source.is_video(), codec);
            senders.insert(source, t.sender());
            transceivers.push((source, t));
        }
        let offer = local(&pc, pc.create_offer(), RtcSdpType::Offer).await?;
        let declared = transceivers
            .iter()
            .filter_map(|(source, t)| {
                Some(TrackSource {
                    mid: t.mid()?,
                    source: *source,
                })
            })
            .collect();
        let sections: Rc<RefCell<Sections>> = Rc::default();
        let mut callbacks = Vec::new();

        // Remote tracks: each section's receiving track, named by the
        // node's messages.
        let (map, ev) = (sections.clone(), events.clone());
        let on_track = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let Ok(e) = e.dyn_into::<RtcTrackEvent>() else {
                return;
            };
            let Some(mid) = e.transceiver().mid() else {
                return;
            };
            let event = {
                let mut s = map.borrow_mut();
                s.receivers.insert(mid.clone(), e.track());
                s.track_event(&mid)
            };
            if let Some(event) = event {
                ev(event);
            }
        });
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        callbacks.push(on_track);

        // The node's renegotiations, track list, slot assignments and
        // speaker reports.
        let (map, ev, pc2, ch2) = (
            sections.clone(),
            events.clone(),
            pc.clone(),
            channel.clone(),
        );
        let mut inbox = channel::Reassembly::default();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let Ok(e) = e.dyn_into::<MessageEvent>() else {
                return;
            };
            let Some(frame) = e.data().as_string() else {
                return;
            };
            let text = match inbox.handle(&frame) {
                Ok(Some(text)) => text,
                Ok(None) => return,
                Err(e) => {
                    leptos::logging::warn!("node message refused: {e}");
                    return;
                }
            };
            match serde_json::from_str::<NodeMessage>(&text) {
                Ok(msg) => {
                    for event in handle_node_message(&map, msg, &pc2, &ch2) {
                        ev(event);
                    }
                }
                Err(e) => leptos::logging::warn!("unreadable node message: {e}"),
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        callbacks.push(on_message);

        // Connection state, and an ICE restart through the room when the
        // network drops.
        let (ev, pc3, sig) = (events.clone(), pc.clone(), signal.clone());
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            let state = js_sys::Reflect::get(&pc3, &"connectionState".into())
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default();
            // A dropped connection is being repaired (below): say so.
            let shown = match state.as_str() {
                "disconnected" | "failed" => "reconnecting",
                other => other,
            };
            ev(CallEvent::State(shown.to_owned()));
            if state == "failed" || state == "disconnected" {
                let (pc, sig) = (pc3.clone(), sig.clone());
                let failed = state == "failed";
                wasm_bindgen_futures::spawn_local(async move {
                    // "disconnected" often heals by itself; restart only if
                    // it lasts (or at once when the connection failed).
                    if !failed {
                        sleep_ms(RESTART_AFTER_MS).await;
                        let now = js_sys::Reflect::get(&pc, &"connectionState".into())
                            .ok()
                            .and_then(|s| s.as_string())
                            .unwrap_or_default();
                        if now != "disconnected" {
                            return;
                        }
                    }
                    let options = js_sys::Object::new();
                    set(&options, "iceRestart", &JsValue::TRUE);
                    let create = js_sys::Reflect::get(&pc, &"createOffer".into())
                        .ok()
                        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
                    let Some(create) = create else { return };
                    let Ok(p) = create.call1(&pc, &options) else {
                        return;
                    };
                    let Ok(p) = p.dyn_into::<js_sys::Promise>() else {
                        return;
                    };
                    if let Ok(sdp) = local(&pc, p, RtcSdpType::Offer).await {
                        sig(ClientMessage::MediaRestart { sdp });
                    }
                });
            }
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        callbacks.push(on_state);

        // Tests and diagnostics read stats from here.
        if let Some(w) = web_sys::window() {
            let diag = js_sys::Object::new();
            set(&diag, "pc", &pc);
            set(&w, "__openTelecon", &diag);
        }
        let call = Call {
            pc,
            channel,
            senders,
            sections,
            _callbacks: callbacks,
        };
        Ok((
            call,
            ClientMessage::MediaOffer {
                sdp: offer,
                sources: declared,
            },
        ))
    }

    /// The node's (or the room's) answer to our offer.
    pub async fn handle_answer(pc: RtcPeerConnection, sdp: String) -> Result<(), String> {
        describe(&pc, RtcSdpType::Answer, &sdp).await
    }

    /// The connection, for async work that outlives a borrow.
    pub fn pc(&self) -> RtcPeerConnection {
        self.pc.clone()
    }

    /// What each section carries now, `mid -> participant/source`.
    pub fn section_keys(&self) -> HashMap<String, String> {
        self.sections.borrow().keys()
    }

    /// Counters of every inbound track, keyed by its name
    /// (`participant/source`, from `keys`, see [`Call::section_keys`]) and
    /// the media id of the section carrying it: a video slot's counters run
    /// on across the tracks it carried, so only samples of the same track
    /// in the same section compare.
    pub async fn inbound(
        pc: RtcPeerConnection,
        keys: HashMap<String, String>,
    ) -> HashMap<(String, String), (bool, crate::quality::Sample)> {
        let mut out = HashMap::new();
        let Ok(report) = JsFuture::from(pc.get_stats()).await else {
            return out;
        };
        let now = js_sys::Date::now();
        let num = |o: &JsValue, k: &str| {
            js_sys::Reflect::get(o, &k.into())
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0)
        };
        let text = |o: &JsValue, k: &str| {
            js_sys::Reflect::get(o, &k.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let values = js_sys::Reflect::get(&report, &"values".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .and_then(|f| f.call0(&report).ok());
        let Some(iter) = values.and_then(|v| js_sys::try_iter(&v).ok().flatten()) else {
            return out;
        };
        for r in iter.flatten() {
            if text(&r, "type") != "inbound-rtp" {
                continue;
            }
            let mid = text(&r, "mid");
            let Some(key) = keys.get(&mid) else {
                continue;
            };
            let sample = crate::quality::Sample {
                at_ms: now,
                packets_received: num(&r, "packetsReceived") as u64,
                packets_lost: num(&r, "packetsLost") as i64,
                frames_decoded: num(&r, "framesDecoded") as u64,
            };
            out.insert((key.clone(), mid), (text(&r, "kind") == "video", sample));
        }
        out
    }

    /// Starts or stops sending `source` (`None` stops; nothing renegotiates).
    pub fn replace(&self, source: Source, track: Option<&MediaStreamTrack>) {
        if let Some(s) = self.senders.get(&source) {
            let _ = s.replace_track(track);
        }
    }

    /// Tells the node the tiles on screen, so it picks layers to fit.
    pub fn report_view(&self, tiles: Vec<TileView>) {
        if self.channel.ready_state() != web_sys::RtcDataChannelState::Open {
            return;
        }
        send(&self.channel, &PeerMessage::View { tiles });
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        self.channel.set_onmessage(None);
        self.pc.close();
        if let Some(w) = web_sys::window() {
            let _ = js_sys::Reflect::delete_property(&w, &"__openTelecon".into());
        }
    }
}
