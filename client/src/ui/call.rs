//! The call panel: join, the participants' video tiles, and one's own
//! microphone, camera and screen controls. The connection itself lives in
//! [`crate::call`]; this file renders what it reports.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Duration;

use crate::codec::VideoCodec;
use leptos::html::Video;
use leptos::prelude::*;
use protocol::ParticipantId;
use protocol::media::{Source, TileView};
use protocol::room::{ClientMessage, ErrorCode, ServerMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamTrack};

use crate::call::{Call, CallEvent};
use crate::chat::RoomView;
use crate::quality::{Quality, Sample, flowing, grade};

/// Room-socket messages meant for the call (answers and media refusals),
/// and whether an offer awaits its answer (a refusal of it can carry any
/// error code, such as `forbidden`).
#[derive(Clone, Copy)]
pub struct CallInbox {
    /// The latest message for the call.
    pub message: RwSignal<Option<ServerMessage>>,
    /// An offer was sent and not yet answered or refused.
    pub pending: RwSignal<bool>,
}

impl CallInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        CallInbox {
            message: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }

    /// Whether `msg` belongs to the call; takes it if so.
    pub fn offer(&self, msg: &ServerMessage) -> bool {
        let pending_refusal =
            self.pending.get_untracked() && matches!(msg, ServerMessage::Error { .. });
        if is_for_call(msg) || pending_refusal {
            self.pending.set(false);
            self.message.set(Some(msg.clone()));
            return true;
        }
        false
    }
}

/// Whether this page is in the call (the room hides the preview then).
#[derive(Clone, Copy)]
pub struct InCall(pub RwSignal<bool>);

/// What the preview chose, used when joining.
#[derive(Clone, Copy)]
pub struct DeviceChoice {
    /// Camera and microphone device ids (empty: the default device).
    pub devices: RwSignal<(String, String)>,
    /// The codec to publish video in (remembered in this browser).
    pub codec: RwSignal<VideoCodec>,
}

impl DeviceChoice {
    const CODEC_KEY: &str = "openTelecon.videoCodec";

    /// Default devices and the codec this browser last chose.
    pub fn new() -> Self {
        let saved = web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(Self::CODEC_KEY).ok().flatten())
            .unwrap_or_default();
        DeviceChoice {
            devices: RwSignal::new((String::new(), String::new())),
            codec: RwSignal::new(VideoCodec::parse(&saved)),
        }
    }

    /// Chooses and remembers a codec.
    pub fn set_codec(&self, codec: VideoCodec) {
        self.codec.set(codec);
        if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = s.set_item(Self::CODEC_KEY, codec.as_str());
        }
    }
}

/// Whether a room message belongs to the call.
pub fn is_for_call(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::MediaAnswer { .. }
            | ServerMessage::Error {
                code: ErrorCode::BadOffer | ErrorCode::Unavailable,
                ..
            }
    )
}

#[derive(Clone)]
struct Tile {
    participant: ParticipantId,
    source: Source,
    /// The frames, while the node sends this track (a video tile without
    /// a slot shows its placeholder).
    stream: Option<MediaStream>,
    /// The RTP time from which the stream's frames are this track's (a
    /// video slot just given to it); the placeholder shows until then.
    from_rtp_time: Option<u32>,
}

fn first_track(stream: &MediaStream, video: bool) -> Option<MediaStreamTrack> {
    let list = if video {
        stream.get_video_tracks()
    } else {
        stream.get_audio_tracks()
    };
    list.get(0).dyn_into().ok()
}

async fn user_media(camera: &str, mic: &str) -> Result<MediaStream, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("this browser has no camera access")?;
    let video = js_sys::Object::new();
    let ideal = |v: u32| {
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"ideal".into(), &v.into());
        o
    };
    let _ = js_sys::Reflect::set(&video, &"width".into(), &ideal(1280));
    let _ = js_sys::Reflect::set(&video, &"height".into(), &ideal(720));
    if !camera.is_empty() {
        let _ = js_sys::Reflect::set(&video, &"deviceId".into(), &camera.into());
    }
    let audio: wasm_bindgen::JsValue = if mic.is_empty() {
        true.into()
    } else {
        let a = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&a, &"deviceId".into(), &mic.into());
        a.into()
    };
    let c = web_sys::MediaStreamConstraints::new();
    c.set_video(&video);
    c.set_audio(&audio);
    let p = devices
        .get_user_media_with_constraints(&c)
        .map_err(|e| format!("{e:?}"))?;
    JsFuture::from(p)
        .await
        .map_err(|_| "camera or microphone refused".to_owned())?
        .dyn_into()
        .map_err(|_| "not a media stream".to_owned())
}

async fn display_media() -> Option<MediaStreamTrack> {
    let devices = web_sys::window()?.navigator().media_devices().ok()?;
    let p = devices.get_display_media().ok()?;
    let stream: MediaStream = JsFuture::from(p).await.ok()?.dyn_into().ok()?;
    first_track(&stream, true)
}

/// The call panel.
#[component]
pub fn CallPanel(
    state: RwSignal<RoomView>,
    inbox: CallInbox,
    socket: super::room::SocketSlot,
) -> impl IntoView {
    let signal: Rc<dyn Fn(ClientMessage)> = Rc::new(move |m| {
        super::room::send(socket, m);
    });
    let view = state;
    let call = StoredValue::new_local(None::<Call>);
    let local = StoredValue::new_local(None::<MediaStream>);
    let joined = RwSignal::new(false);
    if let Some(InCall(in_call)) = use_context::<InCall>() {
        Effect::new(move |_| in_call.set(joined.get()));
        on_cleanup(move || in_call.set(false));
    }
    let status = RwSignal::new(String::new());
    let tiles = RwSignal::new(Vec::<Tile>::new());
    let speakers = RwSignal::new(Vec::<ParticipantId>::new());
    let mic_on = RwSignal::new(true);
    let camera_on = RwSignal::new(true);
    let sharing = RwSignal::new(false);
    let self_video = NodeRef::<Video>::new();
    // Quality per received track (`participant/source`), and the samples
    // it is graded from (by track and section: a track may move between
    // video slots).
    let quality = RwSignal::new(BTreeMap::<String, Quality>::new());
    let samples = StoredValue::new_local(HashMap::<(String, String), (bool, Sample)>::new());
    let tick = StoredValue::new(0u32);
    // Shared screens decoding frames now (`participant/screen`); the others
    // are not being shared and their tiles stay hidden.
    let live_screens = RwSignal::new(BTreeSet::<String>::new());
    let choice = use_context::<DeviceChoice>();

    // Answers and refusals arriving on the room socket.
    Effect::new(move |_| {
        let Some(msg) = inbox.message.get() else {
            return;
        };
        match msg {
            ServerMessage::MediaAnswer { sdp } => {
                let Some(pc) = call.with_value(|c| c.as_ref().map(Call::pc)) else {
                    return;
                };
                leptos::task::spawn_local(async move {
                    match Call::handle_answer(pc, sdp).await {
                        Ok(()) => status.set("connecting".into()),
                        Err(e) => status.set(format!("video failed: {e}")),
                    }
                });
            }
            ServerMessage::Error { message, .. } => {
                status.set(format!("video refused: {message}"));
                call.set_value(None);
                joined.set(false);
            }
            _ => {}
        }
    });

    // Tells the node the size of each tile: about once a second, and soon
    // after tiles come (the node gives a track a video slot only once its
    // tile is reported on screen).
    let report_view = move || {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let mut views = Vec::new();
        for t in tiles.get_untracked() {
            if t.source == Source::Microphone {
                continue;
            }
            // A screen tile stays hidden until its frames flow; it asks
            // for a nominal size meanwhile, or they never would.
            let key = format!("{}/{}", t.participant, t.source.as_str());
            let idle =
                t.source == Source::Screen && !live_screens.with_untracked(|l| l.contains(&key));
            let id = format!("tile-{}-{}", t.participant, t.source.as_str());
            // What is not on screen is not downloaded: a hidden tile, the
            // video of the audio-only view (display: none, so 0 x 0),
            // and a tile scrolled out of sight.
            let screen_h = web_sys::window()
                .and_then(|w| w.inner_height().ok())
                .and_then(|h| h.as_f64())
                .unwrap_or(f64::MAX);
            let (w, h) = if idle {
                (640.0, 360.0)
            } else {
                document
                    .query_selector(&format!("#{id} video"))
                    .ok()
                    .flatten()
                    .map(|e| e.get_bounding_client_rect())
                    .filter(|r| r.bottom() > 0.0 && r.top() < screen_h)
                    .map_or((0.0, 0.0), |r| (r.width(), r.height()))
            };
            views.push(TileView {
                participant: t.participant,
                source: t.source,
                width: (w * ratio) as u32,
                height: (h * ratio) as u32,
            });
        }
        call.with_value(|c| {
            if let Some(c) = c {
                c.report_view(views);
            }
        });
    };

    let events: Rc<dyn Fn(CallEvent)> = Rc::new(move |e: CallEvent| match e {
        CallEvent::Available(list) => {
            tiles.update(|t| {
                t.retain(|x| {
                    x.source == Source::Microphone
                        || list
                            .iter()
                            .any(|n| n.participant == x.participant && n.source == x.source)
                });
                for n in list {
                    if !t
                        .iter()
                        .any(|x| x.participant == n.participant && x.source == n.source)
                    {
                        t.push(Tile {
                            participant: n.participant,
                            source: n.source,
                            stream: None,
                            from_rtp_time: None,
                        });
                    }
                }
            });
            // Once the new tiles are laid out.
            set_timeout(report_view, Duration::from_millis(100));
        }
        CallEvent::Track {
            participant,
            source,
            stream,
            from_rtp_time,
        } => tiles.update(|t| {
            match t
                .iter_mut()
                .find(|x| x.participant == participant && x.source == source)
            {
                Some(x) => {
                    x.stream = Some(stream);
                    x.from_rtp_time = from_rtp_time;
                }
                // Video tiles come from the node's list alone (a late
                // event must not bring back a tile that left it).
                None if source == Source::Microphone => t.push(Tile {
                    participant,
                    source,
                    stream: Some(stream),
                    from_rtp_time,
                }),
                None => {}
            }
        }),
        CallEvent::Unbound {
            participant,
            source,
        } => tiles.update(|t| {
            for x in t.iter_mut() {
                if x.participant == participant && x.source == source {
                    x.stream = None;
                }
            }
        }),
        CallEvent::Ended {
            participant,
            source,
        } => tiles.update(|t| t.retain(|x| !(x.participant == participant && x.source == source))),
        CallEvent::Speakers(ids) => speakers.set(ids),
        CallEvent::State(s) => status.set(s),
    });

    let hooks = StoredValue::new_local((events, signal));
    let join = {
        move |_| {
            let (events, signal) = hooks.with_value(|(e, s)| (e.clone(), s.clone()));
            let (camera, mic) = choice
                .map(|c| c.devices.get_untracked())
                .unwrap_or_default();
            let codec = choice.map(|c| c.codec.get_untracked()).unwrap_or_default();
            joined.set(true);
            status.set("starting".into());
            leptos::task::spawn_local(async move {
                let may = |p| view.with_untracked(|v| v.may(p));
                let stream = match user_media(&camera, &mic).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        status.set(format!("no camera or microphone ({e}); joining to watch"));
                        None
                    }
                };
                let mut sources = Vec::new();
                if may(protocol::access::Permission::PublishMicrophone) {
                    sources.push((
                        Source::Microphone,
                        stream.as_ref().and_then(|s| first_track(s, false)),
                    ));
                }
                if may(protocol::access::Permission::PublishCamera) {
                    sources.push((
                        Source::Camera,
                        stream.as_ref().and_then(|s| first_track(s, true)),
                    ));
                }
                if may(protocol::access::Permission::ShareScreen) {
                    sources.push((Source::Screen, None));
                }
                if let (Some(v), Some(s)) = (self_video.get_untracked(), &stream) {
                    v.set_src_object(Some(s));
                }
                local.set_value(stream);
                match Call::start(sources, codec, events, signal.clone()).await {
                    Ok((c, offer)) => {
                        call.set_value(Some(c));
                        inbox.pending.set(true);
                        signal(offer);
                        status.set("negotiating".into());
                    }
                    Err(e) => {
                        status.set(format!("video failed: {e}"));
                        joined.set(false);
                    }
                }
            });
        }
    };

    let leave = move |_| {
        call.set_value(None);
        local.update_value(|s| {
            if let Some(s) = s.take() {
                for t in s.get_tracks().iter() {
                    if let Ok(t) = t.dyn_into::<MediaStreamTrack>() {
                        t.stop();
                    }
                }
            }
        });
        tiles.set(Vec::new());
        joined.set(false);
        status.set(String::new());
    };
    on_cleanup(move || call.set_value(None));

    let toggle = move |source: Source, on: RwSignal<bool>| {
        let now = !on.get_untracked();
        on.set(now);
        let track = local.with_value(|s| {
            s.as_ref()
                .and_then(|s| first_track(s, source == Source::Camera))
        });
        let track = track.filter(|_| now);
        call.with_value(|c| {
            if let Some(c) = c {
                c.replace(source, track.as_ref());
            }
        });
    };
    let share = move |_| {
        if sharing.get_untracked() {
            call.with_value(|c| {
                if let Some(c) = c {
                    c.replace(Source::Screen, None);
                }
            });
            sharing.set(false);
            return;
        }
        leptos::task::spawn_local(async move {
            if let Some(track) = display_media().await {
                call.with_value(|c| {
                    if let Some(c) = c {
                        c.replace(Source::Screen, Some(&track));
                    }
                });
                sharing.set(true);
            }
        });
    };

    // Once a second: the view report, and every other second the grades.
    let interval = set_interval_with_handle(
        move || {
            report_view();
            // Every other second, grade each received track.
            tick.update_value(|t| *t += 1);
            if tick.get_value().is_multiple_of(2)
                && let Some((pc, keys)) =
                    call.with_value(|c| c.as_ref().map(|c| (c.pc(), c.section_keys())))
            {
                leptos::task::spawn_local(async move {
                    let now = Call::inbound(pc, keys).await;
                    let graded: BTreeMap<String, Quality> = samples.with_value(|before| {
                        now.iter()
                            .filter_map(|(k, (video, s))| {
                                let (_, b) = before.get(k)?;
                                Some((k.0.clone(), grade(b, s, *video)))
                            })
                            .collect()
                    });
                    let live: BTreeSet<String> = samples.with_value(|before| {
                        now.iter()
                            .filter(|(k, _)| k.0.ends_with("/screen"))
                            .filter(|(k, (_, s))| {
                                before.get(*k).is_some_and(|(_, b)| flowing(b, s))
                            })
                            .map(|(k, _)| k.0.clone())
                            .collect()
                    });
                    samples.set_value(now);
                    quality.set(graded);
                    live_screens.set(live);
                });
            }
        },
        Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(h) = interval {
            h.clear();
        }
    });

    let names = move || -> BTreeMap<ParticipantId, protocol::room::Participant> {
        view.with(|v| v.participants.clone())
    };
    view! {
        <section class="call" aria-label="Video call">
            <div class="call-controls">
                <Show when=move || !joined.get() fallback=move || view! {
                    <button id="call-mic" type="button" aria-pressed=move || mic_on.get().to_string()
                        on:click=move |_| toggle(Source::Microphone, mic_on)>
                        {move || if mic_on.get() { "Mute" } else { "Unmute" }}
                    </button>
                    <button id="call-camera" type="button" aria-pressed=move || camera_on.get().to_string()
                        on:click=move |_| toggle(Source::Camera, camera_on)>
                        {move || if camera_on.get() { "Stop video" } else { "Start video" }}
                    </button>
                    <button id="call-screen" type="button" on:click=share>
                        {move || if sharing.get() { "Stop sharing" } else { "Share screen" }}
                    </button>
                    <button id="leave-call" type="button" on:click=leave>"Leave call"</button>
                }>
                    <button id="join-call" type="button" on:click=join>"Join call"</button>
                </Show>
                <span id="call-status" class="status" role="status">{move || status.get()}</span>
            </div>
            <div id="tiles" class="tiles">
                <Show when=move || joined.get()>
                    <figure class="tile self">
                        <video node_ref=self_video autoplay=true muted=true playsinline=true></video>
                        <figcaption>"You"</figcaption>
                    </figure>
                </Show>
                <For
                    each=move || tiles.get()
                    key=|t| (t.participant.clone(), t.source, t.stream.as_ref().map(MediaStream::id))
                    let:t
                >
                    {
                        let p = names().get(&t.participant).cloned();
                        let who = t.participant.clone();
                        let speaking = move || speakers.with(|s| s.first() == Some(&who));
                        let name = p.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "someone".into());
                        let pid = t.participant.clone();
                        let muted = move |source: Source| names().get(&pid).is_some_and(|p| match source {
                            Source::Microphone => p.mic_muted,
                            _ => p.camera_muted,
                        });
                        let key = format!("{}/{}", t.participant, t.source.as_str());
                        let is_screen = t.source == Source::Screen;
                        let k = key.clone();
                        let idle = Signal::derive(move || is_screen && !live_screens.with(|l| l.contains(&k)));
                        let q = Signal::derive(move || quality.with(|q| q.get(&key).copied()));
                        let layouts = use_context::<super::layout::Layouts>();
                        let (w1, w2, w3) = (t.participant.clone(), t.participant.clone(), t.participant.clone());
                        let rank = Signal::derive(move || layouts.map_or(1, |l| {
                            let top = speakers.with(|s| s.first().cloned());
                            crate::layout::tile_rank(&l.current(), &w1, top.as_ref())
                        }));
                        let hidden = Signal::derive(move || layouts.is_some_and(|l| l.current().hidden.contains(&w2)));
                        let pinned = Signal::derive(move || layouts.is_some_and(|l| l.current().pinned.contains(&w3)));
                        view! { <RemoteTile tile=t.clone() name=name speaking=Signal::derive(speaking) quality=q idle=idle
                            rank=rank hidden=hidden pinned=pinned
                            mic_muted=Signal::derive({ let m = muted.clone(); move || m(Source::Microphone) })
                            camera_muted=Signal::derive(move || muted(Source::Camera))/> }
                    }
                </For>
            </div>
        </section>
    }
}

/// The participants of the camera tiles on screen, in their shown order.
fn shown_tiles() -> Vec<ParticipantId> {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return vec![];
    };
    let Ok(list) = doc.query_selector_all("#tiles .tile[data-source='camera']") else {
        return vec![];
    };
    let mut tiles: Vec<(i32, u32, ParticipantId)> = (0..list.length())
        .filter_map(|i| {
            let e: web_sys::Element = list.item(i)?.dyn_into().ok()?;
            let who = ParticipantId::parse(&e.get_attribute("data-participant")?).ok()?;
            let order = web_sys::window()?
                .get_computed_style(&e)
                .ok()??
                .get_property_value("order")
                .ok()?
                .parse()
                .unwrap_or(0);
            Some((order, i, who))
        })
        .collect();
    tiles.sort_by_key(|(order, i, _)| (*order, *i));
    tiles.into_iter().map(|(_, _, who)| who).collect()
}

/// Shows a tile's video once it presents a frame from RTP time `from` on
/// (`requestVideoFrameCallback` reports each frame's RTP time); earlier
/// frames are the slot's previous track's. Without that API, at once.
fn reveal_from(
    video: web_sys::HtmlVideoElement,
    from: u32,
    shown: RwSignal<bool>,
    first: RwSignal<Option<u32>>,
) {
    let request = js_sys::Reflect::get(&video, &"requestVideoFrameCallback".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let Some(request) = request else {
        let _ = shown.try_set(true);
        return;
    };
    let v = video.clone();
    let on_frame = wasm_bindgen::closure::Closure::once_into_js(
        move |_now: wasm_bindgen::JsValue, meta: wasm_bindgen::JsValue| {
            let rtp = js_sys::Reflect::get(&meta, &"rtpTimestamp".into())
                .ok()
                .and_then(|t| t.as_f64());
            match rtp {
                Some(t) if crate::slot::reached(t as u32, from) => {
                    let _ = first.try_set(Some(t as u32));
                    let _ = shown.try_set(true);
                }
                // The previous track's frame: wait for the next.
                Some(_) => reveal_from(v, from, shown, first),
                None => {
                    let _ = shown.try_set(true);
                }
            }
        },
    );
    let _ = request.call1(&video, &on_frame);
}

#[component]
fn RemoteTile(
    tile: Tile,
    name: String,
    speaking: Signal<bool>,
    mic_muted: Signal<bool>,
    camera_muted: Signal<bool>,
    quality: Signal<Option<Quality>>,
    /// Nothing to show (a screen not being shared): the tile is hidden.
    idle: Signal<bool>,
    /// Its place among the tiles (pinned first).
    rank: Signal<usize>,
    /// The layout hides this participant's video.
    hidden: Signal<bool>,
    /// The layout pins this participant first.
    pinned: Signal<bool>,
) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let stream = tile.stream.clone();
    // The placeholder shows until frames of this track come: none without
    // a stream; with a slot just given, until its RTP time is reached.
    let shown = RwSignal::new(stream.is_some() && tile.from_rtp_time.is_none());
    let first_rtp_time = RwSignal::new(None::<u32>);
    let from = tile.from_rtp_time;
    Effect::new(move |_| {
        if let Some(v) = video.get() {
            v.set_src_object(stream.as_ref());
            if let (Some(from), Some(_)) = (from, &stream) {
                reveal_from(v, from, shown, first_rtp_time);
            }
        }
    });
    if tile.source == Source::Microphone {
        let audio = NodeRef::<leptos::html::Audio>::new();
        let stream = tile.stream.clone();
        Effect::new(move |_| {
            if let Some(a) = audio.get() {
                a.set_src_object(stream.as_ref());
            }
        });
        return view! { <audio class="remote-audio" node_ref=audio autoplay=true data-participant=tile.participant.to_string()></audio> }.into_any();
    }
    let id = format!("tile-{}-{}", tile.participant, tile.source.as_str());
    // Dragging a tile onto another puts it there.
    let dragging = StoredValue::new(false);
    let drag_start = move |ev: web_sys::PointerEvent| {
        let on_button = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|e| e.tag_name() == "BUTTON");
        if on_button {
            return;
        }
        if let Some(e) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let _ = e.set_pointer_capture(ev.pointer_id());
        }
        dragging.set_value(true);
    };
    let who = tile.participant.clone();
    let drag_end = move |ev: web_sys::PointerEvent| {
        if !std::mem::take(&mut *dragging.write_value()) {
            return;
        }
        let onto = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.element_from_point(ev.client_x() as f32, ev.client_y() as f32))
            .and_then(|e| e.closest(".tile[data-participant]").ok().flatten())
            .and_then(|e| e.get_attribute("data-participant"))
            .and_then(|p| ParticipantId::parse(&p).ok());
        if let (Some(onto), Some(l)) = (onto, use_context::<super::layout::Layouts>()) {
            l.edit(|x| crate::layout::drop_tile(x, &who, &onto, &shown_tiles()));
        }
    };
    view! {
        <figure id=id class="tile" class:speaking=move || speaking.get() class:idle=move || idle.get()
            class:waiting=move || !shown.get()
            data-first-rtp-time=move || first_rtp_time.get().map(|t| t.to_string())
            on:pointerdown=drag_start on:pointerup=drag_end
            class:hidden-tile=move || hidden.get() class:pinned=move || pinned.get()
            style=move || format!("order:{}", rank.get())
            data-participant=tile.participant.to_string() data-source=tile.source.as_str()>
            <video node_ref=video autoplay=true muted=true playsinline=true></video>
            <figcaption>
                <span class="name">{name}</span>
                {(tile.source == Source::Screen).then(|| view! { <span class="badge">"screen"</span> })}
                {
                    let layouts = use_context::<super::layout::Layouts>();
                    let (a, b) = (tile.participant.clone(), tile.participant.clone());
                    let (c, d) = (tile.participant.clone(), tile.participant.clone());
                    view! {
                        <button type="button" class="tile-earlier" title="Move earlier" aria-label="Move earlier"
                            on:click=move |_| if let Some(l) = layouts { l.edit(|x| crate::layout::nudge_tile(x, &c, -1, &shown_tiles())) }>"◀"</button>
                        <button type="button" class="tile-later" title="Move later" aria-label="Move later"
                            on:click=move |_| if let Some(l) = layouts { l.edit(|x| crate::layout::nudge_tile(x, &d, 1, &shown_tiles())) }>"▶"</button>
                        <button type="button" class="pin" aria-pressed=move || pinned.get().to_string()
                            title="Pin first" aria-label="Pin first" on:click=move |_| if let Some(l) = layouts { l.edit(|x| crate::layout::toggle_pinned(x, &a)) }>"pin"</button>
                        <button type="button" class="hide-tile" title="Hide this video" aria-label="Hide this video"
                            on:click=move |_| if let Some(l) = layouts { l.edit(|x| crate::layout::toggle_hidden(x, &b)) }>"hide"</button>
                    }
                }
                <Show when=move || mic_muted.get()><span class="muted" aria-label="microphone muted">"🎙̸"</span></Show>
                <Show when=move || camera_muted.get()><span class="muted" aria-label="camera muted">"📷̸"</span></Show>
                {move || quality.get().map(|q| view! {
                    <span class="quality" data-quality=q.as_str() aria-label=format!("connection {}", q.as_str())
                        title=format!("Connection: {}", q.as_str())>"▂▄▆"</span>
                })}
            </figcaption>
        </figure>
    }
    .into_any()
}
