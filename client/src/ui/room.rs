//! A room: its chat over the room WebSocket. State changes go through
//! [`crate::chat::ChatLog`].

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use protocol::RoomId;
use protocol::room::{ClientMessage, ServerMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::chat::ChatLog;

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

/// `/r/{id}`.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    move || match params
        .read()
        .get("id")
        .and_then(|id| RoomId::parse(&id).ok())
    {
        Some(id) => view! { <Room id=id/> }.into_any(),
        None => view! { <p class="error" role="alert">"No such room."</p> }.into_any(),
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
