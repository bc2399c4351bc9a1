//! The worker's JSON API from the browser: same-origin `fetch` with the
//! session cookie, errors read from the `{error: {code, message}}` body.

use protocol::api::ErrorResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCredentials, RequestInit, Response};

/// A failed call, ready to show to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status, 0 when the network failed.
    pub status: u16,
    /// What to show.
    pub message: String,
}

fn network(e: JsValue) -> Failure {
    Failure {
        status: 0,
        message: format!(
            "network error: {}",
            e.as_string().unwrap_or_else(|| "unreachable".into())
        ),
    }
}

async fn send(method: &str, path: &str, body: Option<String>) -> Result<(u16, String), Failure> {
    let window = web_sys::window().ok_or_else(|| network(JsValue::NULL))?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(body) = body {
        let headers = web_sys::Headers::new().map_err(network)?;
        headers
            .set("Content-Type", "application/json")
            .map_err(network)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
    }
    let resp = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(network)?;
    let resp: Response = resp.dyn_into().map_err(network)?;
    let text = JsFuture::from(resp.text().map_err(network)?)
        .await
        .map_err(network)?;
    Ok((resp.status(), text.as_string().unwrap_or_default()))
}

/// Calls `method path` with an optional JSON body; parses a JSON answer.
pub async fn call<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, Failure> {
    let body = body.map(|b| serde_json::to_string(b).unwrap_or_default());
    let (status, text) = send(method, path, body).await?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<ErrorResponse>(&text)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| format!("request failed ({status})"));
        return Err(Failure { status, message });
    }
    let text = if text.is_empty() { "null" } else { &text };
    serde_json::from_str(text).map_err(|e| Failure {
        status,
        message: format!("unreadable answer: {e}"),
    })
}

/// `GET path`.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, Failure> {
    call::<T>("GET", path, None::<&()>).await
}
