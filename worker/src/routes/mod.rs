//! Router and handlers. Each handler parses its input, calls D1 or a Durable
//! Object, and returns data or an [`ApiError`]; [`fetch`] turns either into a
//! response, the only place that does.
//!
//! - [`ctx`]: what every handler gets (time, client address, origin, D1) and
//!   who is asking (the session's principal).
//! - [`auth`]: sign-up, login, logout, `me`, password change.
//! - [`rooms`]: rooms, members, invites, joining by invite.
//! - [`admin`]: users, settings, audit log.
//! - [`nodes`]: the media-node registry.
//! - [`layouts`]: layouts saved on one's account.

mod admin;
mod auth;
mod ctx;
mod layouts;
mod nodes;
mod rooms;

use protocol::api::Health;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Context, Env, Method, Request, Response, event};

use crate::error::ApiError;
use ctx::Ctx;

type Result<T> = std::result::Result<T, ApiError>;

/// Largest JSON body of the API.
const MAX_JSON_BYTES: usize = 16 * 1024;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    match route(req, &env).await {
        Ok(resp) => Ok(resp),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                worker::console_error!("internal error: {detail}");
            }
            Ok(Response::from_json(&e.body())?.with_status(e.status()))
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<Response> {
    Ok(Response::from_json(value)?)
}

fn created<T: Serialize>(value: &T) -> Result<Response> {
    Ok(Response::from_json(value)?.with_status(201))
}

fn no_content() -> Result<Response> {
    Ok(Response::empty()?.with_status(204))
}

async fn read_json<T: DeserializeOwned>(req: &mut Request, limit: usize) -> Result<T> {
    let declared: Option<usize> = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let body = req.bytes().await?;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

async fn route(mut req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method();
    let ctx = Ctx::new(&req, env)?;
    if segments.first() == Some(&"api") {
        let safe = matches!(method, Method::Get | Method::Head | Method::Options);
        let origin = req.headers().get("Origin")?;
        let site = req.headers().get("Sec-Fetch-Site")?;
        crate::guard::same_origin(safe, origin.as_deref(), site.as_deref(), &ctx.origin)?;
    }
    let r = &mut req;
    match (segments.as_slice(), method) {
        (["healthz"], Method::Get) => json(&Health {
            service: "worker".into(),
            version: crate::version(),
        }),
        (["rooms", id, "ws"], Method::Get) => rooms::socket(&ctx, r, id).await,

        (["api", "auth", "signup"], Method::Post) => auth::signup(&ctx, r).await,
        (["api", "auth", "login"], Method::Post) => auth::login(&ctx, r).await,
        (["api", "auth", "logout"], Method::Post) => auth::logout(&ctx, r).await,
        (["api", "auth", "password"], Method::Post) => auth::change_password(&ctx, r).await,
        (["api", "me"], Method::Get) => auth::me(&ctx, r).await,

        (["api", "layouts"], Method::Get) => layouts::list(&ctx, r).await,
        (["api", "layouts"], Method::Post) => layouts::create(&ctx, r).await,
        (["api", "layouts", id], Method::Put) => layouts::update(&ctx, r, id).await,
        (["api", "layouts", id], Method::Delete) => layouts::delete(&ctx, r, id).await,

        (["api", "rooms"], Method::Post) => rooms::create(&ctx, r).await,
        (["api", "rooms"], Method::Get) => rooms::list(&ctx, r).await,
        (["api", "rooms", id], Method::Get) => rooms::get(&ctx, r, id).await,
        (["api", "rooms", id], Method::Patch) => rooms::update(&ctx, r, id).await,
        (["api", "rooms", id, "end"], Method::Post) => rooms::end(&ctx, r, id).await,
        (["api", "rooms", id, "members"], Method::Get) => rooms::members(&ctx, r, id).await,
        (["api", "rooms", id, "members"], Method::Post) => rooms::set_role(&ctx, r, id).await,
        (["api", "rooms", id, "invites"], Method::Post) => rooms::create_invite(&ctx, r, id).await,
        (["api", "rooms", id, "invites"], Method::Get) => rooms::list_invites(&ctx, r, id).await,
        (["api", "rooms", id, "invites", invite], Method::Delete) => {
            rooms::revoke_invite(&ctx, r, id, invite).await
        }
        (["api", "invites", token], Method::Get) => rooms::preview_invite(&ctx, token).await,
        (["api", "invites", token, "accept"], Method::Post) => {
            rooms::accept_invite(&ctx, r, token).await
        }

        (["api", "admin", "users"], Method::Get) => admin::users(&ctx, r).await,
        (["api", "admin", "users", id], Method::Patch) => admin::update_user(&ctx, r, id).await,
        (["api", "admin", "settings"], Method::Get) => admin::settings(&ctx, r).await,
        (["api", "admin", "settings"], Method::Put) => admin::put_settings(&ctx, r).await,
        (["api", "admin", "audit"], Method::Get) => admin::audit(&ctx, r).await,

        (["api", "media-nodes"], Method::Get) => nodes::list_nodes(&ctx, r).await,
        (["api", "media-nodes", "register"], Method::Post) => nodes::register_node(&ctx, r).await,
        (["api", "media-nodes", id, "heartbeat"], Method::Post) => {
            nodes::heartbeat(&ctx, r, id).await
        }
        (["api", "media-nodes", id], Method::Delete) => nodes::deregister_node(&ctx, r, id).await,

        (["healthz"] | ["rooms", _, "ws"], _) => Err(ApiError::MethodNotAllowed),
        (["api", ..], _) if known_api_path(&segments) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound("route")),
    }
}

/// Whether some method is routed at this API path (for 405 rather than 404).
fn known_api_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["api", "auth", "signup" | "login" | "logout" | "password"]
            | ["api", "me"]
            | ["api", "layouts"]
            | ["api", "layouts", _]
            | ["api", "rooms"]
            | ["api", "rooms", _]
            | ["api", "rooms", _, "end" | "members" | "invites"]
            | ["api", "rooms", _, "invites", _]
            | ["api", "invites", _]
            | ["api", "invites", _, "accept"]
            | ["api", "admin", "users" | "settings" | "audit"]
            | ["api", "admin", "users", _]
            | ["api", "media-nodes", ..]
    )
}
