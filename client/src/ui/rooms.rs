//! The home page: one's rooms, creating a room, invite links.

use leptos::prelude::*;
use leptos_router::components::A;
use protocol::access::RoomRole;
use protocol::account::{CreateInvite, CreateRoom, Invite, Room, RoomList};

use super::Session;
use crate::api;

/// How long invite links made from the rooms list last: a week.
const INVITE_SECONDS: u64 = 7 * 24 * 3600;

#[component]
pub fn Home() -> impl IntoView {
    let session = Session::get();
    view! {
        <Show
            when=move || session.user.with(Option::is_some)
            fallback=move || view! {
                <section class="card">
                    <h1>"Meet in your browser"</h1>
                    <Show when=move || session.known.get() fallback=|| view! { <p>"Loading…"</p> }>
                        <p><A href="/login">"Log in"</A> " or " <A href="/signup">"create an account"</A> " to start."</p>
                    </Show>
                </section>
            }
        >
            <Rooms/>
        </Show>
    }
}

#[component]
fn Rooms() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let rooms = LocalResource::new(move || {
        refresh.track();
        async move { api::get::<RoomList>("/api/rooms").await }
    });
    let name = RwSignal::new(String::new());
    let allow_guests = RwSignal::new(false);
    let lobby = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = CreateRoom {
            name: name.get(),
            allow_guests: Some(allow_guests.get()),
            lobby: Some(lobby.get()),
            locked: None,
            max_participants: None,
        };
        leptos::task::spawn_local(async move {
            match api::call::<Room>("POST", "/api/rooms", Some(&body)).await {
                Ok(_) => {
                    name.set(String::new());
                    error.set(None);
                    refresh.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card">
            <h1>"Your rooms"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || rooms.get().map(|answer| match answer {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(list) if list.rooms.is_empty() => view! { <p id="no-rooms">"No rooms yet: create one below."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul id="rooms" class="rooms">
                            {list.rooms.into_iter().map(|room| view! { <RoomItem room=room/> }).collect_view()}
                        </ul>
                    }.into_any(),
                })}
            </Suspense>
        </section>
        <form class="card" on:submit=create>
            <h2>"Create a room"</h2>
            <label for="create-room-name">"Name"</label>
            <input id="create-room-name" required maxlength="100"
                prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            <label class="check">
                <input id="create-room-guests" type="checkbox" prop:checked=allow_guests
                    on:change=move |ev| allow_guests.set(event_target_checked(&ev))/>
                "Guests with an invite may join without an account"
            </label>
            <label class="check">
                <input id="create-room-lobby" type="checkbox" prop:checked=lobby
                    on:change=move |ev| lobby.set(event_target_checked(&ev))/>
                "Waiting room (hosts admit each newcomer)"
            </label>
            <button id="create-room-submit" type="submit">"Create room"</button>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}

#[component]
fn RoomItem(room: Room) -> impl IntoView {
    let link = RwSignal::new(None::<String>);
    let status = RwSignal::new(None::<String>);
    let is_host = room.my_role == Some(RoomRole::Host);
    let id = room.id.clone();
    let make_invite = move |_| {
        let path = format!("/api/rooms/{id}/invites");
        leptos::task::spawn_local(async move {
            let body = CreateInvite {
                role: RoomRole::Participant,
                expires_in: INVITE_SECONDS,
            };
            match api::call::<Invite>("POST", &path, Some(&body)).await {
                Ok(invite) => link.set(invite.url),
                Err(e) => status.set(Some(e.message)),
            }
        });
    };
    let copy = move |_| {
        let Some(url) = link.get() else { return };
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&url);
            status.set(Some("Copied.".into()));
        }
    };
    let role = room.my_role.map_or("", RoomRole::as_str);
    view! {
        <li class="room-item">
            <A href=format!("/r/{}", room.id) attr:class="room-link">{room.name}</A>
            <span class="role">{role}</span>
            <Show when=move || is_host>
                <button class="invite" type="button" on:click=make_invite.clone()>"Invite link"</button>
            </Show>
            <Show when=move || link.with(Option::is_some)>
                <input class="invite-url" readonly aria-label="Invite link" prop:value=move || link.get().unwrap_or_default()/>
                <button class="copy" type="button" on:click=copy>"Copy"</button>
            </Show>
            <span class="status" role="status">{move || status.get()}</span>
        </li>
    }
}
