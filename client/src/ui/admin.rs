//! `/admin`: accounts and the sign-up switch.

use leptos::prelude::*;
use protocol::access::GlobalRole;
use protocol::account::{Settings, User, UserList, UserUpdate};

use super::Session;
use crate::api;

#[component]
pub fn Admin() -> impl IntoView {
    let session = Session::get();
    view! {
        <Show when=move || session.is_admin() fallback=|| view! { <p class="card">"Admins only."</p> }>
            <AdminPanel/>
        </Show>
    }
}

#[component]
fn AdminPanel() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let users = LocalResource::new(move || {
        refresh.track();
        async move { api::get::<UserList>("/api/admin/users").await }
    });
    let settings = LocalResource::new(move || {
        refresh.track();
        async move { api::get::<Settings>("/api/admin/settings").await }
    });
    let error = RwSignal::new(None::<String>);
    let toggle_signup = move |ev: leptos::ev::Event| {
        let body = Settings {
            signup_open: event_target_checked(&ev),
        };
        leptos::task::spawn_local(async move {
            if let Err(e) = api::call::<Settings>("PUT", "/api/admin/settings", Some(&body)).await {
                error.set(Some(e.message));
            }
            refresh.update(|n| *n += 1);
        });
    };
    let update = move |id: String, body: UserUpdate| {
        leptos::task::spawn_local(async move {
            if let Err(e) =
                api::call::<User>("PATCH", &format!("/api/admin/users/{id}"), Some(&body)).await
            {
                error.set(Some(e.message));
            }
            refresh.update(|n| *n += 1);
        });
    };
    view! {
        <section class="card">
            <h1>"Administration"</h1>
            <label class="check">
                <input id="signup-open" type="checkbox"
                    prop:checked=move || settings.get().and_then(Result::ok).is_some_and(|s| s.signup_open)
                    on:change=toggle_signup/>
                "Anyone may sign up"
            </label>
            <p class="error" role="alert">{move || error.get()}</p>
            <table id="users">
                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    {move || users.get().and_then(Result::ok).map(|list| list.users.into_iter().map(|u| {
                        let admin = u.global_role == GlobalRole::Admin;
                        let (id1, id2) = (u.id.to_string(), u.id.to_string());
                        let disabled = u.disabled;
                        view! {
                            <tr>
                                <td>{u.name}</td>
                                <td>{u.email}</td>
                                <td>{if admin { "admin" } else { "member" }}</td>
                                <td>{if disabled { "disabled" } else { "active" }}</td>
                                <td>
                                    <button type="button" on:click=move |_| update(id1.clone(), UserUpdate {
                                        global_role: Some(if admin { GlobalRole::Member } else { GlobalRole::Admin }), ..Default::default() })>
                                        {if admin { "Demote to member" } else { "Promote to admin" }}
                                    </button>
                                    <button type="button" on:click=move |_| update(id2.clone(), UserUpdate {
                                        disabled: Some(!disabled), ..Default::default() })>
                                        {if disabled { "Enable" } else { "Disable" }}
                                    </button>
                                </td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </section>
    }
}
