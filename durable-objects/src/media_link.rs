//! The room's link to its media node (wasm32 only): placing the room on a
//! healthy node, minting media tokens, and calling the node's control API.
//! The node is remembered in the object's `meta` table; a node that stopped
//! heartbeating is replaced at the next join. Media never passes here, only
//! SDP and commands.

use protocol::media::{
    GrantsUpdate, JoinRequest, MediaAnswer, MediaClaims, NodeErrorBody, TrackSource,
};
use protocol::room::ErrorCode;
use protocol::{ParticipantId, RoomId};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, SqlStorage};

use crate::placement::{self, Candidate};
use crate::room::MediaRefusal;

#[derive(Deserialize)]
struct NodeRow {
    id: String,
    region: String,
    control_url: String,
    participants: f64,
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> MediaRefusal {
    MediaRefusal {
        code,
        message: message.into(),
    }
}

fn unavailable(what: impl std::fmt::Display) -> MediaRefusal {
    worker::console_error!("room: media unavailable: {what}");
    refusal(
        ErrorCode::Unavailable,
        "video is unavailable right now; try again shortly",
    )
}

/// The control URL of the room's node, if it has one.
pub fn current(sql: &SqlStorage) -> Option<String> {
    crate::shell::meta(sql, "media_node_url")
}

/// The healthy nodes now.
async fn healthy(env: &Env, now_ms: i64) -> worker::Result<Vec<Candidate>> {
    let heartbeat = placement::heartbeat_ms(
        env.var("MEDIA_NODE_HEARTBEAT_MS")
            .ok()
            .map(|v| v.to_string())
            .as_deref(),
    );
    let since = placement::healthy_since(now_ms, placement::stale_after_ms(heartbeat));
    let rows: Vec<NodeRow> = env
        .d1("DB")?
        .prepare(
            "SELECT id, region, control_url, participants FROM media_nodes
             WHERE state = 'up' AND last_seen_ms >= ?1",
        )
        .bind(&[JsValue::from_f64(since as f64)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            id: r.id,
            region: r.region,
            control_url: r.control_url,
            participants: r.participants as u32,
        })
        .collect())
}

/// The room's node: the one it has while that stays healthy, else the best
/// healthy node now (remembered).
async fn place(
    env: &Env,
    sql: &SqlStorage,
    near: Option<&str>,
    now_ms: i64,
) -> Result<String, MediaRefusal> {
    let nodes = healthy(env, now_ms).await.map_err(unavailable)?;
    if let Some(url) = current(sql)
        && nodes.iter().any(|n| n.control_url == url)
    {
        return Ok(url);
    }
    let chosen =
        placement::choose(&nodes, near).ok_or_else(|| unavailable("no healthy media node"))?;
    let url = chosen.control_url.clone();
    sql.exec(
        "REPLACE INTO meta (key, value) VALUES ('media_node_url', ?)",
        vec![url.as_str().into()],
    )
    .map_err(unavailable)?;
    Ok(url)
}

fn secret(env: &Env, name: &str) -> Result<String, MediaRefusal> {
    env.secret(name)
        .map(|s| s.to_string())
        .map_err(|_| unavailable(format!("{name} is not set")))
}

/// Calls the node; `Ok(body)` on success, the node's error otherwise.
async fn call(
    env: &Env,
    method: Method,
    url: &str,
    body: Option<String>,
) -> Result<String, (u16, Option<NodeErrorBody>)> {
    let secret = secret(env, "MEDIA_NODE_SECRET").map_err(|_| (500, None))?;
    let headers = Headers::new();
    let _ = headers.set("Authorization", &format!("Bearer {secret}"));
    let _ = headers.set("Content-Type", "application/json");
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(JsValue::from_str(&b)));
    }
    let request = Request::new_with_init(url, &init).map_err(|_| (500, None))?;
    let mut response = match Fetch::Request(request).send().await {
        Ok(r) => r,
        Err(e) => {
            worker::console_error!("room: media node unreachable at {url}: {e}");
            return Err((502, None));
        }
    };
    let status = response.status_code();
    let text = response.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err((status, serde_json::from_str(&text).ok()))
    }
}

fn refused(status: u16, body: Option<NodeErrorBody>) -> MediaRefusal {
    let message = body.map(|b| b.message).unwrap_or_default();
    match status {
        400 => refusal(ErrorCode::BadOffer, message),
        401 | 403 => refusal(ErrorCode::Forbidden, message),
        _ => unavailable(format!("node answered {status}: {message}")),
    }
}

/// Places the room if needed and joins a participant with their offer.
#[allow(clippy::too_many_arguments)]
pub async fn join(
    env: &Env,
    sql: &SqlStorage,
    room: &RoomId,
    claims: MediaClaims,
    sdp: String,
    sources: Vec<TrackSource>,
    near: Option<&str>,
    now_ms: i64,
) -> Result<String, MediaRefusal> {
    let url = place(env, sql, near, now_ms).await?;
    let seed = secret(env, "MEDIA_TOKEN_SEED")?;
    let token = crate::media_token::mint(&seed, claims, now_ms).map_err(unavailable)?;
    let body = serde_json::to_string(&JoinRequest {
        token,
        offer: sdp,
        sources,
    })
    .map_err(unavailable)?;
    let text = call(
        env,
        Method::Post,
        &format!("{url}/rooms/{room}/participants"),
        Some(body),
    )
    .await
    .map_err(|(s, b)| refused(s, b))?;
    let answer: MediaAnswer = serde_json::from_str(&text).map_err(unavailable)?;
    Ok(answer.answer)
}

/// An ICE restart on the room's node.
pub async fn restart(
    env: &Env,
    sql: &SqlStorage,
    room: &RoomId,
    who: &ParticipantId,
    sdp: String,
) -> Result<String, MediaRefusal> {
    let url = current(sql).ok_or_else(|| refusal(ErrorCode::NotFound, "not connected to video"))?;
    let body = serde_json::json!({ "offer": sdp }).to_string();
    let text = call(
        env,
        Method::Post,
        &format!("{url}/rooms/{room}/participants/{who}/offer"),
        Some(body),
    )
    .await
    .map_err(|(s, b)| match s {
        404 => refusal(ErrorCode::NotFound, "not connected to video; join again"),
        _ => refused(s, b),
    })?;
    let answer: MediaAnswer = serde_json::from_str(&text).map_err(unavailable)?;
    Ok(answer.answer)
}

/// Tells the node a participant's grants. Failures are logged: the node
/// also refuses tokens the room would not mint.
pub async fn grants(
    env: &Env,
    sql: &SqlStorage,
    room: &RoomId,
    who: &ParticipantId,
    grants: &GrantsUpdate,
) {
    let Some(url) = current(sql) else { return };
    let body = serde_json::to_string(grants).unwrap_or_default();
    if let Err((s, _)) = call(
        env,
        Method::Put,
        &format!("{url}/rooms/{room}/participants/{who}/grants"),
        Some(body),
    )
    .await
        && s != 404
    {
        worker::console_error!("room: grant update for {who} failed ({s})");
    }
}

/// Disconnects a participant's media.
pub async fn remove(env: &Env, sql: &SqlStorage, room: &RoomId, who: &ParticipantId) {
    let Some(url) = current(sql) else { return };
    if let Err((s, _)) = call(
        env,
        Method::Delete,
        &format!("{url}/rooms/{room}/participants/{who}"),
        None,
    )
    .await
        && s != 404
    {
        worker::console_error!("room: media removal of {who} failed ({s})");
    }
}

/// Disconnects everyone's media.
pub async fn close(env: &Env, sql: &SqlStorage, room: &RoomId) {
    let Some(url) = current(sql) else { return };
    if let Err((s, _)) = call(env, Method::Delete, &format!("{url}/rooms/{room}"), None).await {
        worker::console_error!("room: closing media failed ({s})");
    }
}
