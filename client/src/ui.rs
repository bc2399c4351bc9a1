//! Leptos components and the room WebSocket. Thin: state changes go through
//! [`crate::chat::ChatLog`].

use leptos::prelude::*;
use protocol::RoomId;
use protocol::room::{ClientMessage, ServerMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::chat::ChatLog;

/// Entry point called by the wasm-bindgen glue once the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The state of the room connection, as shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Connecting,
    Connected,
    Closed,
}

impl Link {
    fn label(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Closed => "disconnected",
        }
    }
}

/// An open room socket and the callbacks it needs kept alive.
struct RoomSocket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for RoomSocket {
    fn drop(&mut self) {
        self.ws.set_onclose(None);
        self.ws.set_onmessage(None);
        let _ = self.ws.close();
    }
}

fn room_url(room: &RoomId) -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!(
        "{scheme}://{}/rooms/{room}/ws",
        location.host().ok()?
    ))
}

fn open_socket(room: &RoomId, log: RwSignal<ChatLog>, link: RwSignal<Link>) -> Option<RoomSocket> {
    let ws = WebSocket::new(&room_url(room)?).ok()?;
    link.set(Link::Connecting);
    let on_open = Closure::<dyn FnMut()>::new(move || link.set(Link::Connected));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else {
            return;
        };
        match ServerMessage::decode(&text) {
            Ok(msg) => log.update(|l| l.apply(msg)),
            Err(e) => leptos::logging::warn!("ignoring unreadable server message: {e}"),
        }
    });
    let on_close =
        Closure::<dyn FnMut(CloseEvent)>::new(move |_ev: CloseEvent| link.set(Link::Closed));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Some(RoomSocket {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    })
}

fn room_from_hash() -> Option<RoomId> {
    let hash = web_sys::window()?.location().hash().ok()?;
    RoomId::parse(hash.trim_start_matches('#')).ok()
}

async fn fetch_version() -> Option<String> {
    let window = web_sys::window()?;
    let resp = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str("/healthz"))
        .await
        .ok()?;
    let resp: web_sys::Response = resp.dyn_into().ok()?;
    let text = wasm_bindgen_futures::JsFuture::from(resp.text().ok()?)
        .await
        .ok()?;
    let health: protocol::api::Health = serde_json::from_str(&text.as_string()?).ok()?;
    Some(health.version)
}

#[component]
fn App() -> impl IntoView {
    let room = RwSignal::new(room_from_hash());
    let version = LocalResource::new(fetch_version);
    view! {
        <header>
            <h1 id="app-title">"openTelecon"</h1>
            <span class="version" id="version">
                {move || version.get().flatten().map(|v| format!("v{v}")).unwrap_or_default()}
            </span>
        </header>
        <main id="app" data-ready="true">
            {move || match room.get() {
                None => view! { <Lobby room=room/> }.into_any(),
                Some(id) => view! { <Room id=id/> }.into_any(),
            }}
        </main>
    }
}

/// Pick a room by name.
#[component]
fn Lobby(room: RwSignal<Option<RoomId>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let join = move || match crate::room_id_from_input(&name.get()) {
        Ok(id) => {
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_hash(id.as_str());
            }
            room.set(Some(id));
        }
        Err(e) => error.set(Some(format!("Room name: {e}"))),
    };
    view! {
        <form class="lobby" on:submit=move |ev| { ev.prevent_default(); join(); }>
            <label for="room-input">"Room"</label>
            <input id="room-input" placeholder="team-standup" prop:value=name
                on:input=move |ev| name.set(event_target_value(&ev))/>
            <button id="join" type="submit">"Join"</button>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}

/// A joined room: its chat.
#[component]
fn Room(id: RoomId) -> impl IntoView {
    let log = RwSignal::new(ChatLog::default());
    let link = RwSignal::new(Link::Connecting);
    let draft = RwSignal::new(String::new());
    let socket = StoredValue::new_local(open_socket(&id, log, link));
    if socket.with_value(Option::is_none) {
        link.set(Link::Closed);
    }
    on_cleanup(move || socket.set_value(None));
    let send = move || {
        let text = draft.get();
        let frame = ClientMessage::Say { text }.encode();
        let sent = socket.with_value(|s| s.as_ref().map(|s| s.ws.send_with_str(&frame).is_ok()));
        if sent == Some(true) {
            draft.set(String::new());
        }
    };
    view! {
        <section class="room">
            <h2>"Room " <span id="room-name">{id.to_string()}</span></h2>
            <p id="status" class="status">{move || link.get().label()}</p>
            <ol id="messages" class="messages">
                <For each=move || log.get().messages key=|m| m.seq let:m>
                    <li class="message" data-seq=m.seq>{m.text}</li>
                </For>
            </ol>
            <p class="error" role="alert">{move || log.get().last_error}</p>
            <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
                <input id="message-input" placeholder="Message" autocomplete="off" prop:value=draft
                    on:input=move |ev| draft.set(event_target_value(&ev))/>
                <button id="send" type="submit">"Send"</button>
            </form>
        </section>
    }
}
