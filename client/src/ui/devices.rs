//! Camera and microphone: a preview of one's own camera, device pickers, and
//! on/off toggles, before joining the call (`call.rs` joins with the devices
//! chosen here).

use crate::codec::VideoCodec;
use leptos::html::Video;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaStream, MediaStreamConstraints};

/// A device the browser offers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Device {
    id: String,
    label: String,
}

fn media_devices() -> Option<web_sys::MediaDevices> {
    web_sys::window()?.navigator().media_devices().ok()
}

/// `{deviceId: {exact: id}}`, or `true` for the default device.
fn constraint(device: &str) -> JsValue {
    if device.is_empty() {
        return JsValue::TRUE;
    }
    let exact = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&exact, &"exact".into(), &device.into());
    let c = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&c, &"deviceId".into(), &exact);
    c.into()
}

async fn open(camera: Option<String>, microphone: Option<String>) -> Result<MediaStream, String> {
    let devices = media_devices().ok_or("this browser has no camera access")?;
    let c = MediaStreamConstraints::new();
    c.set_video(&camera.as_deref().map_or(JsValue::FALSE, constraint));
    c.set_audio(&microphone.as_deref().map_or(JsValue::FALSE, constraint));
    let promise = devices
        .get_user_media_with_constraints(&c)
        .map_err(|e| format!("{e:?}"))?;
    let stream = JsFuture::from(promise).await.map_err(|e| {
        js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "denied".into())
    })?;
    stream
        .dyn_into()
        .map_err(|_| "not a media stream".to_owned())
}

async fn list() -> (Vec<Device>, Vec<Device>) {
    let Some(devices) = media_devices() else {
        return (vec![], vec![]);
    };
    let Ok(promise) = devices.enumerate_devices() else {
        return (vec![], vec![]);
    };
    let Ok(all) = JsFuture::from(promise).await else {
        return (vec![], vec![]);
    };
    let (mut cameras, mut mics) = (vec![], vec![]);
    for info in js_sys::Array::from(&all)
        .iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
    {
        let n = cameras.len() + mics.len() + 1;
        let label = if info.label().is_empty() {
            format!("Device {n}")
        } else {
            info.label()
        };
        let device = Device {
            id: info.device_id(),
            label,
        };
        match info.kind() {
            MediaDeviceKind::Videoinput => cameras.push(device),
            MediaDeviceKind::Audioinput => mics.push(device),
            _ => {}
        }
    }
    (cameras, mics)
}

fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// The preview panel.
#[component]
pub fn Devices() -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let camera_on = RwSignal::new(true);
    let mic_on = RwSignal::new(true);
    let camera = RwSignal::new(String::new());
    let microphone = RwSignal::new(String::new());
    let cameras = RwSignal::new(Vec::<Device>::new());
    let mics = RwSignal::new(Vec::<Device>::new());
    let error = RwSignal::new(None::<String>);
    let stream = StoredValue::new_local(None::<MediaStream>);
    // The call joins with the devices chosen here.
    let choice = use_context::<super::call::DeviceChoice>();
    if let Some(choice) = choice {
        Effect::new(move |_| choice.devices.set((camera.get(), microphone.get())));
    }
    let codec_options = move || {
        let current = choice.map(|c| c.codec.get()).unwrap_or_default();
        VideoCodec::ALL
            .into_iter()
            .map(|c| {
                view! { <option value=c.as_str() selected=c == current>{c.label()}</option> }
            })
            .collect_view()
    };
    // Reopen the stream whenever a choice changes.
    Effect::new(move |_| {
        let want_camera = camera_on.get().then(|| camera.get());
        let want_mic = mic_on.get().then(|| microphone.get());
        leptos::task::spawn_local(async move {
            stream.update_value(|s| {
                if let Some(s) = s.take() {
                    stop(&s);
                }
            });
            if want_camera.is_none() && want_mic.is_none() {
                if let Some(v) = video.get_untracked() {
                    v.set_src_object(None);
                }
                return;
            }
            match open(want_camera, want_mic).await {
                Ok(s) => {
                    if let Some(v) = video.get_untracked() {
                        v.set_src_object(Some(&s));
                    }
                    stream.set_value(Some(s));
                    error.set(None);
                    // Labels are only readable once access was granted.
                    let (c, m) = list().await;
                    cameras.set(c);
                    mics.set(m);
                }
                Err(e) => error.set(Some(format!("Camera or microphone unavailable: {e}"))),
            }
        });
    });
    on_cleanup(move || {
        stream.update_value(|s| {
            if let Some(s) = s.take() {
                stop(&s);
            }
        })
    });
    let options = |devices: RwSignal<Vec<Device>>| {
        move || {
            devices
                .get()
                .into_iter()
                .map(|d| view! { <option value=d.id>{d.label}</option> })
                .collect_view()
        }
    };
    view! {
        <section class="devices" aria-label="Camera and microphone">
            <video id="preview" node_ref=video autoplay=true muted=true playsinline=true></video>
            <div class="device-controls">
                <button id="toggle-camera" type="button" aria-pressed=move || camera_on.get().to_string()
                    on:click=move |_| camera_on.update(|on| *on = !*on)>
                    {move || if camera_on.get() { "Turn camera off" } else { "Turn camera on" }}
                </button>
                <button id="toggle-mic" type="button" aria-pressed=move || mic_on.get().to_string()
                    on:click=move |_| mic_on.update(|on| *on = !*on)>
                    {move || if mic_on.get() { "Mute microphone" } else { "Unmute microphone" }}
                </button>
                <label for="camera-select">"Camera"</label>
                <select id="camera-select" on:change=move |ev| camera.set(event_target_value(&ev))>
                    {options(cameras)}
                </select>
                <label for="mic-select">"Microphone"</label>
                <select id="mic-select" on:change=move |ev| microphone.set(event_target_value(&ev))>
                    {options(mics)}
                </select>
                <label for="codec-select">"Video codec"</label>
                <select id="codec-select" on:change=move |ev| {
                    if let Some(c) = choice {
                        c.set_codec(VideoCodec::parse(&event_target_value(&ev)));
                    }
                }>
                    {codec_options}
                </select>
            </div>
            <p class="error" role="alert">{move || error.get()}</p>
        </section>
    }
}
