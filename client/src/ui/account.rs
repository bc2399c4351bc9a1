//! Log in and sign up.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use protocol::account::{LoginRequest, SignupRequest, User};

use super::Session;
use crate::api;

/// Posts credentials to `path`; on success the session knows the account and
/// the browser goes to the rooms list, else `error` says why.
fn authenticate(
    path: &'static str,
    body: impl serde::Serialize + 'static,
    session: Session,
    navigate: impl Fn(&str, leptos_router::NavigateOptions) + 'static,
    error: RwSignal<Option<String>>,
) {
    leptos::task::spawn_local(async move {
        match api::call::<User>("POST", path, Some(&body)).await {
            Ok(user) => {
                session.user.set(Some(user));
                navigate("/", Default::default());
            }
            Err(e) => error.set(Some(e.message)),
        }
    });
}

#[component]
pub fn Login() -> impl IntoView {
    let session = Session::get();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = LoginRequest {
            email: email.get(),
            password: password.get(),
        };
        authenticate("/api/auth/login", body, session, navigate.clone(), error);
    };
    view! {
        <form class="card" on:submit=submit>
            <h1>"Log in"</h1>
            <label for="login-email">"Email"</label>
            <input id="login-email" type="email" autocomplete="username" required
                prop:value=email on:input=move |ev| email.set(event_target_value(&ev))/>
            <label for="login-password">"Password"</label>
            <input id="login-password" type="password" autocomplete="current-password" required
                prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
            <button id="login-submit" type="submit">"Log in"</button>
            <p class="error" role="alert">{move || error.get()}</p>
            <p>"No account? " <A href="/signup">"Sign up"</A></p>
        </form>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let session = Session::get();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = SignupRequest {
            email: email.get(),
            password: password.get(),
            name: name.get(),
        };
        authenticate("/api/auth/signup", body, session, navigate.clone(), error);
    };
    view! {
        <form class="card" on:submit=submit>
            <h1>"Sign up"</h1>
            <label for="signup-email">"Email"</label>
            <input id="signup-email" type="email" autocomplete="email" required
                prop:value=email on:input=move |ev| email.set(event_target_value(&ev))/>
            <label for="signup-name">"Display name"</label>
            <input id="signup-name" autocomplete="name" required maxlength="64"
                prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            <label for="signup-password">"Password (at least 10 characters)"</label>
            <input id="signup-password" type="password" autocomplete="new-password" required minlength="10"
                prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
            <button id="signup-submit" type="submit">"Create account"</button>
            <p class="error" role="alert">{move || error.get()}</p>
            <p>"Have an account? " <A href="/login">"Log in"</A></p>
        </form>
    }
}
