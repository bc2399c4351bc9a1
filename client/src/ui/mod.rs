//! Leptos components: the app shell, its routes and the signed-in session.
//!
//! - [`account`]: log in, sign up.
//! - [`rooms`]: the rooms list, creating rooms, invite links.
//! - [`join`]: an invite's landing page.
//! - [`admin`]: users and the sign-up switch.
//! - [`room`]: a room: its chat over the room WebSocket.
//! - [`devices`]: camera and microphone preview, pickers and toggles.

mod account;
mod admin;
mod call;
mod devices;
mod join;
mod layout;
mod room;
mod rooms;
mod whiteboard;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;
use protocol::access::GlobalRole;
use protocol::account::User;
use wasm_bindgen::prelude::*;

use crate::api;

/// Entry point called by the wasm-bindgen glue once the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Who is signed in, shared by every page.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// The account, once known; `None` when signed out.
    pub user: RwSignal<Option<User>>,
    /// Whether `/api/me` has answered yet.
    pub known: RwSignal<bool>,
}

impl Session {
    /// The session from context (provided by [`App`]).
    pub fn get() -> Self {
        use_context::<Session>().unwrap_or_else(|| Session {
            user: RwSignal::new(None),
            known: RwSignal::new(true),
        })
    }

    /// Whether the signed-in account is an admin.
    pub fn is_admin(self) -> bool {
        self.user.with(|u| {
            u.as_ref()
                .is_some_and(|u| u.global_role == GlobalRole::Admin)
        })
    }
}

async fn fetch_version() -> Option<String> {
    api::get::<protocol::api::Health>("/healthz")
        .await
        .ok()
        .map(|h| h.version)
}

#[component]
fn App() -> impl IntoView {
    let session = Session {
        user: RwSignal::new(None),
        known: RwSignal::new(false),
    };
    provide_context(session);
    leptos::task::spawn_local(async move {
        session.user.set(api::get::<User>("/api/me").await.ok());
        session.known.set(true);
    });
    let version = LocalResource::new(fetch_version);
    view! {
        <Router>
            <header>
                <A href="/" attr:class="brand"><span id="app-title">"openTelecon"</span></A>
                <span class="version" id="version">
                    {move || version.get().flatten().map(|v| format!("v{v}")).unwrap_or_default()}
                </span>
                <Nav/>
            </header>
            <main id="app" data-ready="true">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    <Route path=path!("/") view=rooms::Home/>
                    <Route path=path!("/login") view=account::Login/>
                    <Route path=path!("/signup") view=account::Signup/>
                    <Route path=path!("/admin") view=admin::Admin/>
                    <Route path=path!("/join/:token") view=join::Join/>
                    <Route path=path!("/r/:id") view=room::RoomPage/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let session = Session::get();
    let navigate = leptos_router::hooks::use_navigate();
    let logout = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let _ = api::call::<()>("POST", "/api/auth/logout", Some(&serde_json::json!({}))).await;
            session.user.set(None);
            navigate("/login", Default::default());
        });
    };
    view! {
        <nav aria-label="Main">
            <Show
                when=move || session.user.with(Option::is_some)
                fallback=|| view! { <A href="/login">"Log in"</A> <A href="/signup">"Sign up"</A> }
            >
                <A href="/">"Rooms"</A>
                <Show when=move || session.is_admin()>
                    <A href="/admin" attr:id="nav-admin">"Admin"</A>
                </Show>
                <span id="signed-in-as">{move || session.user.get().map(|u| u.name).unwrap_or_default()}</span>
                <button id="logout" type="button" on:click=logout.clone()>"Log out"</button>
            </Show>
        </nav>
    }
}
