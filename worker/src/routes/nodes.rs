//! The media-node registry: nodes register, heartbeat and say goodbye with
//! the node secret; operators (the node secret) and admins list them.

use protocol::access::{self, Permission};
use protocol::node::{Heartbeat, NodeInfo, NodeList, NodeLoad, Registration, RegistrationAccepted};
use protocol::{NodeId, Region};
use serde::Deserialize;
use worker::{Request, Response};

use super::ctx::{Ctx, num};
use super::{Result, read_json};
use crate::error::ApiError;
use crate::registry;

/// Media nodes and operators prove themselves with the node secret.
fn require_node_secret(ctx: &Ctx<'_>, req: &Request) -> Result<()> {
    let expected = ctx
        .env
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

fn heartbeat_ms(ctx: &Ctx<'_>) -> u64 {
    registry::heartbeat_ms(ctx.var("MEDIA_NODE_HEARTBEAT_MS").as_deref())
}

fn parse_node_id(id: &str) -> Result<NodeId> {
    NodeId::parse(id).map_err(|e| ApiError::BadRequest(format!("node id: {e}")))
}

/// `POST /api/media-nodes/register`
pub async fn register_node(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    require_node_secret(ctx, req)?;
    let reg: Registration = read_json(req, registry::MAX_BODY_BYTES).await?;
    registry::validate(&reg)?;
    let now = ctx.now_ms;
    ctx.db()?
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
            num(now),
        ])?
        .run()
        .await?;
    super::json(&RegistrationAccepted {
        heartbeat_interval_ms: heartbeat_ms(ctx),
    })
}

/// `POST /api/media-nodes/{id}/heartbeat`
pub async fn heartbeat(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    require_node_secret(ctx, req)?;
    let id = parse_node_id(id)?;
    let beat: Heartbeat = read_json(req, registry::MAX_BODY_BYTES).await?;
    let result = ctx
        .db()?
        .prepare(
            "UPDATE media_nodes SET rooms = ?2, participants = ?3, last_seen_ms = ?4
             WHERE id = ?1 AND state = 'up'",
        )
        .bind(&[
            id.as_str().into(),
            beat.load.rooms.into(),
            beat.load.participants.into(),
            num(ctx.now_ms),
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
pub async fn deregister_node(ctx: &Ctx<'_>, req: &mut Request, id: &str) -> Result<Response> {
    require_node_secret(ctx, req)?;
    let id = parse_node_id(id)?;
    ctx.db()?
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
pub async fn list_nodes(ctx: &Ctx<'_>, req: &mut Request) -> Result<Response> {
    if require_node_secret(ctx, req).is_err() {
        let who = ctx.require(req).await?;
        access::check(who.global_grants(), Permission::ManageMediaNodes)?;
    }
    let since = registry::healthy_since(ctx.now_ms, registry::stale_after_ms(heartbeat_ms(ctx)));
    let rows: Vec<NodeRow> = ctx
        .db()?
        .prepare(
            "SELECT id, region, media_addr, control_url, version, rooms, participants, last_seen_ms
             FROM media_nodes WHERE state = 'up' AND last_seen_ms >= ?1
             ORDER BY participants, id",
        )
        .bind(&[num(since)])?
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
    super::json(&NodeList { nodes })
}
