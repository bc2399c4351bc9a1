//! Router and handlers. Each handler parses its input, calls D1 or a Durable
//! Object, and returns data or an [`ApiError`]; [`respond`] turns either into
//! a response, the only place that does.

use protocol::api::Health;
use protocol::node::{Heartbeat, NodeInfo, NodeList, NodeLoad, Registration, RegistrationAccepted};
use protocol::{NodeId, Region, RoomId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Context, Env, Method, Request, Response, event};

use crate::error::ApiError;
use crate::registry;

type Result<T> = std::result::Result<T, ApiError>;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    match route(req, &env).await {
        Ok(resp) => Ok(resp),
        Err(e) => respond_error(&e),
    }
}

fn respond_error(e: &ApiError) -> worker::Result<Response> {
    if let ApiError::Internal(detail) = e {
        worker::console_error!("internal error: {detail}");
    }
    Ok(Response::from_json(&e.body())?.with_status(e.status()))
}

fn json<T: Serialize>(value: &T) -> Result<Response> {
    Ok(Response::from_json(value)?)
}

async fn route(req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method();
    match (segments.as_slice(), method) {
        (["healthz"], Method::Get) => json(&Health {
            service: "worker".into(),
            version: crate::version(),
        }),
        (["rooms", id, "ws"], Method::Get) => room_socket(req, env, id).await,
        (["api", "media-nodes"], Method::Get) => list_nodes(&req, env).await,
        (["api", "media-nodes", "register"], Method::Post) => register_node(req, env).await,
        (["api", "media-nodes", id, "heartbeat"], Method::Post) => heartbeat(req, env, id).await,
        (["api", "media-nodes", id], Method::Delete) => deregister_node(&req, env, id).await,
        (["healthz"] | ["rooms", _, "ws"] | ["api", "media-nodes", ..], _) => {
            Err(ApiError::MethodNotAllowed)
        }
        _ => Err(ApiError::NotFound("route")),
    }
}

/// `GET /rooms/{id}/ws`: hands the upgrade to the room's Durable Object.
async fn room_socket(req: Request, env: &Env, id: &str) -> Result<Response> {
    let room = RoomId::parse(id).map_err(|e| ApiError::BadRequest(format!("room id: {e}")))?;
    let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::UpgradeRequired);
    }
    let stub = env
        .durable_object("ROOM")?
        .id_from_name(room.as_str())?
        .get_stub()?;
    Ok(stub.fetch_with_request(req).await?)
}

/// Media nodes and operators prove themselves with the node secret.
fn require_node_secret(req: &Request, env: &Env) -> Result<()> {
    let expected = env
        .secret("MEDIA_NODE_SECRET")
        .map_err(|_| ApiError::Internal("MEDIA_NODE_SECRET is not configured".into()))?;
    let expected = expected.to_string();
    let given = req.headers().get("Authorization")?.unwrap_or_default();
    let token = given.strip_prefix("Bearer ").unwrap_or_default();
    if expected.is_empty() || !registry::secrets_equal(token.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

async fn read_json<T: DeserializeOwned>(mut req: Request, limit: usize) -> Result<T> {
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

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn heartbeat_ms(env: &Env) -> u64 {
    registry::heartbeat_ms(
        env.var("MEDIA_NODE_HEARTBEAT_MS")
            .ok()
            .map(|v| v.to_string())
            .as_deref(),
    )
}

fn parse_node_id(id: &str) -> Result<NodeId> {
    NodeId::parse(id).map_err(|e| ApiError::BadRequest(format!("node id: {e}")))
}

/// `POST /api/media-nodes/register`
async fn register_node(req: Request, env: &Env) -> Result<Response> {
    require_node_secret(&req, env)?;
    let reg: Registration = read_json(req, registry::MAX_BODY_BYTES).await?;
    registry::validate(&reg)?;
    let now = now_ms();
    env.d1("DB")?
        .prepare(
            "INSERT INTO media_nodes
               (id, region, media_addr, control_url, version, rooms, participants,
                registered_ms, last_seen_ms, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 'up')
             ON CONFLICT (id) DO UPDATE SET
               region = ?2, media_addr = ?3, control_url = ?4, version = ?5,
               rooms = ?6, participants = ?7, registered_ms = ?8, last_seen_ms = ?8,
               state = 'up'",
        )
        .bind(&[
            reg.id.as_str().into(),
            reg.region.as_str().into(),
            reg.media_addr.as_str().into(),
            reg.control_url.as_str().into(),
            reg.version.as_str().into(),
            reg.load.rooms.into(),
            reg.load.participants.into(),
            JsValue::from_f64(now as f64),
        ])?
        .run()
        .await?;
    json(&RegistrationAccepted {
        heartbeat_interval_ms: heartbeat_ms(env),
    })
}

/// `POST /api/media-nodes/{id}/heartbeat`
async fn heartbeat(req: Request, env: &Env, id: &str) -> Result<Response> {
    require_node_secret(&req, env)?;
    let id = parse_node_id(id)?;
    let beat: Heartbeat = read_json(req, registry::MAX_BODY_BYTES).await?;
    let result = env
        .d1("DB")?
        .prepare(
            "UPDATE media_nodes SET rooms = ?2, participants = ?3, last_seen_ms = ?4
             WHERE id = ?1 AND state = 'up'",
        )
        .bind(&[
            id.as_str().into(),
            beat.load.rooms.into(),
            beat.load.participants.into(),
            JsValue::from_f64(now_ms() as f64),
        ])?
        .run()
        .await?;
    let changed = result.meta()?.and_then(|m| m.changes).unwrap_or(0);
    if changed == 0 {
        // Unknown or said goodbye: the node must register again.
        return Err(ApiError::NotFound("media node"));
    }
    Ok(Response::empty()?.with_status(204))
}

/// `DELETE /api/media-nodes/{id}`: graceful shutdown of a node.
async fn deregister_node(req: &Request, env: &Env, id: &str) -> Result<Response> {
    require_node_secret(req, env)?;
    let id = parse_node_id(id)?;
    env.d1("DB")?
        .prepare("UPDATE media_nodes SET state = 'gone' WHERE id = ?1")
        .bind(&[id.as_str().into()])?
        .run()
        .await?;
    Ok(Response::empty()?.with_status(204))
}

#[derive(Deserialize)]
struct NodeRow {
    id: String,
    region: String,
    media_addr: String,
    control_url: String,
    version: String,
    rooms: u32,
    participants: u32,
    last_seen_ms: f64,
}

/// `GET /api/media-nodes`: healthy nodes, least loaded first.
async fn list_nodes(req: &Request, env: &Env) -> Result<Response> {
    require_node_secret(req, env)?;
    let since = registry::healthy_since(now_ms(), registry::stale_after_ms(heartbeat_ms(env)));
    let rows: Vec<NodeRow> = env
        .d1("DB")?
        .prepare(
            "SELECT id, region, media_addr, control_url, version, rooms, participants, last_seen_ms
             FROM media_nodes WHERE state = 'up' AND last_seen_ms >= ?1
             ORDER BY participants, id",
        )
        .bind(&[JsValue::from_f64(since as f64)])?
        .all()
        .await?
        .results()?;
    let mut nodes = Vec::with_capacity(rows.len());
    for r in rows {
        // Rows were validated on the way in; a row that no longer parses is
        // skipped rather than failing the whole listing.
        let (Ok(id), Ok(region)) = (NodeId::parse(&r.id), Region::parse(&r.region)) else {
            continue;
        };
        nodes.push(NodeInfo {
            id,
            region,
            media_addr: r.media_addr,
            control_url: r.control_url,
            version: r.version,
            load: NodeLoad {
                rooms: r.rooms,
                participants: r.participants,
            },
            last_seen_ms: r.last_seen_ms as i64,
        });
    }
    json(&NodeList { nodes })
}
