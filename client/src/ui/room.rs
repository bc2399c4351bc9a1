//! A room: participants, the lobby and host controls, chat with direct
//! messages, over the room WebSocket. State changes go through
//! [`crate::chat::RoomView`]; this file only renders it and sends messages.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use protocol::access::RoomRole;
use protocol::room::{ClientMessage, Participant, ServerMessage, Track};
use protocol::{ParticipantId, RoomId};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use super::layout::{LayoutBar, Layouts, PanelFrame};
use crate::chat::{RoomView, Standing, is_final};
use crate::whiteboard::Whiteboards;
use protocol::layout::Panel;

/// An open room socket and the callbacks it needs kept alive.
pub(super) struct RoomSocket {
    ws: WebSocket,
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

pub(super) type SocketSlot = StoredValue<Option<RoomSocket>, LocalStorage>;

fn room_url(room: &RoomId, after: Option<u64>) -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let after = after.map(|s| format!("?after={s}")).unwrap_or_default();
    Some(format!(
        "{scheme}://{}/rooms/{room}/ws{after}",
        location.host().ok()?
    ))
}

/// Longest wait between reconnection attempts.
const MAX_RETRY_SECONDS: u64 = 5;

/// Opens the room socket; on an unexpected close, reconnects (waiting 1, 2,
/// 4, then 5 seconds between attempts) and asks for what it missed.
fn connect(
    room: RoomId,
    view: RwSignal<RoomView>,
    slot: SocketSlot,
    retries: RwSignal<u32>,
    inbox: super::call::CallInbox,
    boards: RwSignal<Whiteboards>,
) {
    let after = view.with_untracked(RoomView::last_rev);
    let Some(ws) = room_url(&room, after).and_then(|url| WebSocket::new(&url).ok()) else {
        view.update(|v| v.standing = Standing::Out("could not open a connection".into()));
        return;
    };
    view.update(|v| v.standing = Standing::Connecting);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        retries.set(0);
        let Some(text) = ev.data().as_string() else {
            return;
        };
        match ServerMessage::decode(&text) {
            Ok(msg) if inbox.offer(&msg) => {}
            // Board changes stream fast; they touch only the board's model.
            Ok(msg) if boards.try_update(|b| b.handle(&msg)).unwrap_or(false) => {}
            Ok(msg) => view.update(|v| v.apply(msg)),
            Err(e) => leptos::logging::warn!("ignoring unreadable server message: {e}"),
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
        let code = ev.code();
        if is_final(code) {
            view.update(|v| {
                if !matches!(v.standing, Standing::Out(_)) {
                    v.standing = Standing::Out(format!("disconnected ({code})"));
                }
            });
            return;
        }
        view.update(|v| v.standing = Standing::Connecting);
        let room = room.clone();
        let attempt = retries.get_untracked();
        retries.set(attempt.saturating_add(1));
        let wait = (1u64 << attempt.min(3)).min(MAX_RETRY_SECONDS);
        set_timeout(
            move || connect(room, view, slot, retries, inbox, boards),
            Duration::from_secs(wait),
        );
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    slot.set_value(Some(RoomSocket {
        ws,
        _on_message: on_message,
        _on_close: on_close,
    }));
}

/// Sends one message on the room socket.
pub(super) fn send(slot: SocketSlot, msg: ClientMessage) -> bool {
    let frame = msg.encode();
    slot.with_value(|s| {
        s.as_ref()
            .is_some_and(|s| s.ws.send_with_str(&frame).is_ok())
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
        Some(id) => view! { <Admission id=id/> }.into_any(),
        None => view! { <p class="error" role="alert">"No such room."</p> }.into_any(),
    }
}

/// Asks the API whether this account (or guest) may see the room before
/// opening its socket, so a stranger gets a clear answer instead of retries.
#[component]
fn Admission(id: RoomId) -> impl IntoView {
    let path = format!("/api/rooms/{id}");
    let room = LocalResource::new(move || {
        let path = path.clone();
        async move { crate::api::get::<protocol::account::Room>(&path).await }
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || room.get().map(|answer| match answer {
                Ok(room) => view! { <Room id=room.id name=room.name/> }.into_any(),
                Err(f) if f.status == 401 => view! {
                    <p id="room-refused" class="card">
                        <leptos_router::components::A href="/login">"Log in"</leptos_router::components::A>
                        " to join this room, or use your invite link."
                    </p>
                }.into_any(),
                Err(f) => view! { <p id="room-refused" class="error" role="alert">{f.message}</p> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Room(id: RoomId, name: String) -> impl IntoView {
    let view = RwSignal::new(RoomView::default());
    let slot: SocketSlot = StoredValue::new_local(None);
    let retries = RwSignal::new(0u32);
    let inbox = super::call::CallInbox::new();
    provide_context(super::call::DeviceChoice::new());
    let in_call = RwSignal::new(false);
    provide_context(super::call::InCall(in_call));
    let layouts = Layouts::new(view);
    provide_context(layouts);
    super::layout::follow_pushes(layouts);
    let in_room = move || view.with(|v| v.standing == Standing::In);
    let boards = RwSignal::new(Whiteboards::default());
    connect(id.clone(), view, slot, retries, inbox, boards);

    on_cleanup(move || slot.set_value(None));
    let status = move || match view.with(|v| v.standing.clone()) {
        Standing::Connecting => "connecting".to_owned(),
        Standing::Waiting => "waiting in the lobby".to_owned(),
        Standing::In => "connected".to_owned(),
        Standing::Out(why) => why,
    };
    view! {
        <section class="room" aria-label="Room">
            <h2 id="room-name" data-room=id.to_string()>{name}</h2>
            <p id="status" class="status" role="status">{status}</p>
            <Show when=move || view.with(|v| v.standing == Standing::Waiting)>
                <p id="lobby-wait" class="card">"Waiting for a host to let you in…"</p>
            </Show>
            // The preview is the pre-join screen: it closes (and frees the
            // camera) while in the call, whose own tile shows oneself.
            <Show when=move || !in_call.get()>
                <super::devices::Devices/>
            </Show>
            <Show when=in_room>
                <LayoutBar socket=slot/>
            </Show>
            <div id="layout" class=move || format!("layout preset-{}", layouts.current().preset.as_str())>
                <PanelFrame panel=Panel::Video title="Video">
                    // The call outlives a reconnect of the room socket: media
                    // flows to the node, not through the room.
                    <Show when=move || view.with(|v| v.me.is_some() && matches!(v.standing, Standing::In | Standing::Connecting))>
                        <super::call::CallPanel state=view inbox=inbox socket=slot/>
                    </Show>
                </PanelFrame>
                <PanelFrame panel=Panel::People title="Participants">
                    <Show when=in_room><People state=view socket=slot/></Show>
                </PanelFrame>
                <PanelFrame panel=Panel::Chat title="Chat">
                    <Show when=in_room><Chat state=view socket=slot/></Show>
                </PanelFrame>
                <PanelFrame panel=Panel::Board title="Whiteboard">
                    <Show when=in_room>
                        <super::whiteboard::WhiteboardPanel state=view boards=boards socket=slot/>
                    </Show>
                </PanelFrame>
            </div>
        </section>
    }
}

fn role_label(role: RoomRole) -> &'static str {
    role.as_str()
}

/// The participants panel with the host menu, and for hosts the lobby.
#[component]
fn People(state: RwSignal<RoomView>, socket: SocketSlot) -> impl IntoView {
    let (view, slot) = (state, socket);
    let is_host = move || view.with(RoomView::is_host);
    let my_hand = move || view.with(|v| v.me.as_ref().is_some_and(|m| m.hand_raised));
    let toggle_hand = move |_| {
        let msg = if my_hand() {
            ClientMessage::LowerHand { who: None }
        } else {
            ClientMessage::RaiseHand
        };
        send(slot, msg);
    };
    let locked = move || view.with(|v| v.room.as_ref().is_some_and(|r| r.locked));
    view! {
        <aside class="people" aria-label="Participants">
            <h3>"Participants (" <span id="participant-count">{move || view.with(|v| v.participants.len())}</span> ")"</h3>
            <button id="raise-hand" type="button" on:click=toggle_hand>
                {move || if my_hand() { "Lower hand" } else { "Raise hand" }}
            </button>
            <ul id="participants">
                <For
                    each=move || view.with(|v| v.participants.values().cloned().collect::<Vec<_>>())
                    key=|p| (p.id.clone(), p.role, p.hand_raised, p.mic_muted, p.camera_muted, p.name.clone())
                    let:p
                >
                    <ParticipantRow p=p state=view socket=slot/>
                </For>
            </ul>
            <Show when=is_host>
                <div class="host-tools">
                    <label class="check">
                        <input id="lock-room" type="checkbox" prop:checked=locked
                            on:change=move |ev| { send(slot, ClientMessage::Lock { locked: event_target_checked(&ev) }); }/>
                        "Lock the room"
                    </label>
                    <button id="end-meeting" type="button" on:click=move |_| { send(slot, ClientMessage::End); }>
                        "End meeting for all"
                    </button>
                    <h4>"Lobby"</h4>
                    <ul id="lobby">
                        {move || view.with(|v| v.waiting.clone()).into_iter().map(|w| {
                            let (a, d) = (w.id.clone(), w.id.clone());
                            view! {
                                <li class="waiting">
                                    <span class="name">{w.name}</span>
                                    <button class="admit" type="button" on:click=move |_| { send(slot, ClientMessage::Admit { who: a.clone() }); }>"Admit"</button>
                                    <button class="deny" type="button" on:click=move |_| { send(slot, ClientMessage::Deny { who: d.clone() }); }>"Deny"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    <h4>"Removed"</h4>
                    <ul id="removed">
                        {move || view.with(|v| v.removed.clone()).into_iter().map(|r| {
                            let who = r.id.clone();
                            view! {
                                <li>
                                    <span class="name">{r.name}</span>
                                    <button class="allow" type="button" on:click=move |_| { send(slot, ClientMessage::Allow { who: who.clone() }); }>"Allow back"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
            </Show>
        </aside>
    }
}

#[component]
fn ParticipantRow(p: Participant, state: RwSignal<RoomView>, socket: SocketSlot) -> impl IntoView {
    let (view, slot) = (state, socket);
    let me = view.with_untracked(|v| v.me.as_ref().map(|m| m.id.clone()));
    let is_me = me.as_ref() == Some(&p.id);
    // Reactive: a participant promoted to host gets the menus at once.
    let host_menu = move || view.with(RoomView::is_host) && !is_me;
    let id = p.id.clone();
    let act = move |msg: ClientMessage| {
        send(slot, msg);
    };
    let (i1, i2, i3, i4, i5) = (id.clone(), id.clone(), id.clone(), id.clone(), id.clone());
    let i6 = id.clone();
    let watch = if p.role == RoomRole::Attendee {
        RoomRole::Participant
    } else {
        RoomRole::Attendee
    };
    let promote = if p.role == RoomRole::Host {
        RoomRole::Participant
    } else {
        RoomRole::Host
    };
    view! {
        <li class="participant" data-id=id.to_string()>
            <span class="name">{p.name.clone()}</span>
            <span class="role">{role_label(p.role)}</span>
            {p.guest.then(|| view! { <span class="badge">"guest"</span> })}
            {p.hand_raised.then(|| view! { <span class="hand" title="Hand raised" aria-label="hand raised">"✋"</span> })}
            {p.mic_muted.then(|| view! { <span class="muted" aria-label="microphone muted">"🎙̸"</span> })}
            {p.camera_muted.then(|| view! { <span class="muted" aria-label="camera muted">"📷̸"</span> })}
            {move || host_menu().then(|| {
                let (i1, i2, i3, i4, i5) = (i1.clone(), i2.clone(), i3.clone(), i4.clone(), i5.clone());
                let i6 = i6.clone();
                view! {
                <details class="host-menu">
                    <summary>"Host actions"</summary>
                    <button type="button" class="mute-mic" on:click=move |_| act(ClientMessage::Mute { who: i1.clone(), track: Track::Microphone })>"Mute microphone"</button>
                    <button type="button" class="mute-camera" on:click=move |_| act(ClientMessage::Mute { who: i2.clone(), track: Track::Camera })>"Turn off camera"</button>
                    <button type="button" class="lower-hand" on:click=move |_| act(ClientMessage::LowerHand { who: Some(i3.clone()) })>"Lower hand"</button>
                    <button type="button" class="set-role" on:click=move |_| act(ClientMessage::SetRole { who: i4.clone(), role: promote })>
                        {if promote == RoomRole::Host { "Make host" } else { "Make participant" }}
                    </button>
                    <button type="button" class="set-attendee" on:click=move |_| act(ClientMessage::SetRole { who: i6.clone(), role: watch })>
                        {if watch == RoomRole::Attendee { "Make attendee (watch only)" } else { "Let them speak and show video" }}
                    </button>
                    <button type="button" class="remove" on:click=move |_| act(ClientMessage::Remove { who: i5.clone() })>"Remove from room"</button>
                </details>
            }})}
        </li>
    }
}

/// The chat panel: a conversation picker with unread counts, the messages,
/// the composer.
#[component]
fn Chat(state: RwSignal<RoomView>, socket: SocketSlot) -> impl IntoView {
    let (view, slot) = (state, socket);
    let draft = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let to = view.with_untracked(|v| v.open.clone());
        let limit = protocol::room::MAX_TEXT_CHARS;
        if draft.with_untracked(|d| d.chars().count() > limit) {
            view.update(|v| {
                v.last_error = Some(format!("Messages are at most {limit} characters."))
            });
            return;
        }
        if send(
            slot,
            ClientMessage::Say {
                text: draft.get_untracked(),
                to,
            },
        ) {
            draft.set(String::new());
        }
    };
    let choose = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let conversation = ParticipantId::parse(&value).ok();
        view.update(|v| v.open_conversation(conversation));
    };
    let options = move || {
        view.with(|v| {
            let mut items = vec![(
                String::new(),
                "Everyone".to_owned(),
                v.unread.get(&None).copied().unwrap_or(0),
            )];
            for (id, name) in v.partners() {
                let unread = v.unread.get(&Some(id.clone())).copied().unwrap_or(0);
                items.push((id.to_string(), name, unread));
            }
            (
                items,
                v.open.as_ref().map(ToString::to_string).unwrap_or_default(),
            )
        })
    };
    let older = move |_| {
        if let Some(first) = view.with_untracked(|v| v.messages.keys().next().copied()) {
            send(slot, ClientMessage::History { before: first });
        }
    };
    view! {
        <section class="chat" aria-label="Chat">
            <label for="conversation">"Chat with"</label>
            <select id="conversation" on:change=choose prop:value=move || options().1>
                {move || options().0.into_iter().map(|(value, name, unread)| {
                    let label = if unread > 0 { format!("{name} ({unread})") } else { name };
                    view! { <option value=value>{label}</option> }
                }).collect_view()}
            </select>
            <span id="unread-total" class="unread" aria-label="unread messages">
                {move || view.with(|v| { let n: usize = v.unread.values().sum(); if n > 0 { n.to_string() } else { String::new() } })}
            </span>
            <Show when=move || view.with(|v| v.more_history || v.messages.len() >= protocol::room::HISTORY_PAGE)>
                <button id="older" type="button" on:click=older>"Older messages"</button>
            </Show>
            <ol id="messages" class="messages">
                <For each=move || view.with(RoomView::open_messages) key=|m| (m.seq, m.edited_ms, m.deleted) let:m>
                    <MessageRow m=m state=view socket=slot/>
                </For>
            </ol>
            <p class="error" role="alert">{move || view.with(|v| v.last_error.clone())}</p>
            <form class="composer" on:submit=submit>
                <input id="message-input" placeholder="Message" autocomplete="off" aria-label="Message"
                    prop:value=draft on:input=move |ev| draft.set(event_target_value(&ev))/>
                <button id="send" type="submit">"Send"</button>
            </form>
        </section>
    }
}

/// One chat message, with edit and delete for its author and delete for hosts.
#[component]
fn MessageRow(
    m: protocol::room::ChatMessage,
    state: RwSignal<RoomView>,
    socket: SocketSlot,
) -> impl IntoView {
    let mine = state.with_untracked(|v| v.me.as_ref().is_some_and(|me| me.id == m.from));
    let deleted = m.deleted;
    let can_delete = move || !deleted && (mine || state.with(RoomView::is_host));
    let can_edit = !m.deleted && mine;
    let seq = m.seq;
    let current = m.text.clone();
    let edit = move |_| {
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Ok(Some(text)) = window.prompt_with_message_and_default("Edit message", &current) {
            send(socket, ClientMessage::Edit { seq, text });
        }
    };
    view! {
        <li class="message" data-seq=seq>
            <span class="from">{m.from_name.clone()}</span>
            <span class="text">{if m.deleted { "(deleted)".to_owned() } else { m.text.clone() }}</span>
            {m.edited_ms.filter(|_| !m.deleted).map(|_| view! { <span class="edited">" (edited)"</span> })}
            <span class="actions">
                {can_edit.then(|| view! { <button type="button" class="edit" on:click=edit>"Edit"</button> })}
                {move || can_delete().then(|| view! {
                    <button type="button" class="delete" on:click=move |_| { send(socket, ClientMessage::Delete { seq }); }>"Delete"</button>
                })}
            </span>
        </li>
    }
}
