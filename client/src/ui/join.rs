//! `/join/{token}`: what an invite leads to, and accepting it.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use protocol::account::{AcceptInvite, InvitePreview, Joined};

use super::Session;
use crate::api;

#[component]
pub fn Join() -> impl IntoView {
    let session = Session::get();
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let preview = LocalResource::new(move || {
        let token = token();
        async move { api::get::<InvitePreview>(&format!("/api/invites/{token}")).await }
    });
    let guest_name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let accept = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        let path = format!("/api/invites/{}/accept", token());
        let as_guest = session.user.with(Option::is_none);
        let body = AcceptInvite {
            guest_name: as_guest.then(|| guest_name.get()),
        };
        leptos::task::spawn_local(async move {
            match api::call::<Joined>("POST", &path, Some(&body)).await {
                Ok(joined) => navigate(&format!("/r/{}", joined.room_id), Default::default()),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || preview.get().map(|answer| match answer {
                    Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                    Ok(p) => {
                        let accept = accept.clone();
                        let signed_in = session.user.with(Option::is_some);
                        view! {
                            <h1>"Join " {p.room_name}</h1>
                            <form on:submit=accept>
                                <Show when=move || !signed_in && p.guests_allowed>
                                    <label for="guest-name">"Your name"</label>
                                    <input id="guest-name" required maxlength="64"
                                        prop:value=guest_name on:input=move |ev| guest_name.set(event_target_value(&ev))/>
                                </Show>
                                <Show
                                    when=move || signed_in || p.guests_allowed
                                    fallback=|| view! { <p><A href="/login">"Log in"</A> " to join this room."</p> }
                                >
                                    <button id="accept-invite" type="submit">"Join"</button>
                                </Show>
                            </form>
                        }.into_any()
                    }
                })}
            </Suspense>
            <p class="error" role="alert">{move || error.get()}</p>
        </section>
    }
}
