//! The HTTP control API, for the Room Durable Objects: join with an offer,
//! ICE restart, grants, remove, close a room, stats. Every route but
//! `/healthz` needs the node secret as a bearer token. Token checks and SDP
//! parsing happen here, off the forwarding task.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use protocol::api::Health;
use protocol::media::{
    GrantsUpdate, JoinRequest, MediaAnswer, NodeErrorBody, NodeStats, RestartRequest,
};
use protocol::{ParticipantId, RoomId};
use tokio::sync::{mpsc, oneshot};

use crate::engine::Job;
use crate::sfu::Command;
use crate::sfu::client::{self, Endpoint, JoinError};
use crate::token::{self, TokenError, TokenKey};

/// Largest control request body.
pub const MAX_BODY: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct Control {
    /// The node secret rooms authenticate with.
    pub secret: Arc<str>,
    /// Verifies media tokens.
    pub key: TokenKey,
    /// Builds participants' connections.
    pub endpoint: Endpoint,
    /// The forwarding task.
    pub jobs: mpsc::Sender<Job>,
}

/// Why a control call failed; mapped to a status in one place.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No or wrong node secret.
    #[error("missing or wrong node secret")]
    Unauthorized,
    /// The media token was refused.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The token is for someone else than the path names.
    #[error("media token is for another participant")]
    OtherParticipant,
    /// A bad id in the path.
    #[error("{0}")]
    BadPath(String),
    /// Refused by the core.
    #[error("{0}")]
    Join(#[from] JoinError),
    /// The forwarding task is saturated or gone.
    #[error("media node busy")]
    Busy,
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ControlError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ControlError::Token(_) | ControlError::OtherParticipant => {
                (StatusCode::UNAUTHORIZED, "bad_token")
            }
            ControlError::BadPath(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ControlError::Join(JoinError::MalformedSdp(_)) => {
                (StatusCode::BAD_REQUEST, "malformed_sdp")
            }
            ControlError::Join(JoinError::Forbidden(_)) => (StatusCode::FORBIDDEN, "forbidden"),
            ControlError::Join(JoinError::Full(_)) => (StatusCode::SERVICE_UNAVAILABLE, "full"),
            ControlError::Join(JoinError::NotFound) => (StatusCode::NOT_FOUND, "not_found"),
            ControlError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        };
        let body = NodeErrorBody {
            error: code.into(),
            message: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

/// The control API's routes.
pub fn router(control: Control) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/stats", get(stats))
        .route("/rooms/{room}", delete(close_room))
        .route("/rooms/{room}/participants", post(join))
        .route("/rooms/{room}/participants/{id}", delete(remove))
        .route("/rooms/{room}/participants/{id}/offer", post(restart))
        .route("/rooms/{room}/participants/{id}/grants", put(grants))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(control)
}

async fn healthz() -> Json<Health> {
    Json(Health {
        service: "media-node".into(),
        version: crate::version(),
    })
}

fn authorize(c: &Control, headers: &HeaderMap) -> Result<(), ControlError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ControlError::Unauthorized)?;
    if crate::secrets_equal(given.as_bytes(), c.secret.as_bytes()) {
        Ok(())
    } else {
        Err(ControlError::Unauthorized)
    }
}

fn room_id(s: &str) -> Result<RoomId, ControlError> {
    RoomId::parse(s).map_err(|_| ControlError::BadPath("bad room id".into()))
}

fn participant_id(s: &str) -> Result<ParticipantId, ControlError> {
    ParticipantId::parse(s).map_err(|_| ControlError::BadPath("bad participant id".into()))
}

async fn call<T>(
    c: &Control,
    job: impl FnOnce(oneshot::Sender<T>) -> Job,
) -> Result<T, ControlError> {
    let (tx, rx) = oneshot::channel();
    c.jobs.try_send(job(tx)).map_err(|_| ControlError::Busy)?;
    rx.await.map_err(|_| ControlError::Busy)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn join(
    State(c): State<Control>,
    Path(room): Path<String>,
    headers: HeaderMap,
    Json(req): Json<JoinRequest>,
) -> Result<Json<MediaAnswer>, ControlError> {
    authorize(&c, &headers)?;
    let room = room_id(&room)?;
    let claims = token::verify(&req.token, &c.key, &room, now_ms())?;
    let accepted = client::accept(
        &c.endpoint,
        claims,
        &req.sources,
        &req.offer,
        std::time::Instant::now(),
    )?;
    let who = accepted.claims.participant.clone();
    let answer = call(&c, |tx| Job::Join(Box::new(accepted), tx)).await??;
    tracing::info!(%room, participant = %who, "participant joined");
    Ok(Json(MediaAnswer { answer }))
}

async fn restart(
    State(c): State<Control>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(req): Json<RestartRequest>,
) -> Result<Json<MediaAnswer>, ControlError> {
    authorize(&c, &headers)?;
    let (room, id) = (room_id(&room)?, participant_id(&id)?);
    let offer = client::parse_offer(&req.offer)?;
    tracing::info!(%room, participant = %id, "ICE restart");
    let answer = call(&c, |tx| {
        Job::Command(Command::Restart(room, id, Box::new(offer)), tx)
    })
    .await??;
    Ok(Json(MediaAnswer {
        answer: answer.unwrap_or_default(),
    }))
}

async fn grants(
    State(c): State<Control>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(req): Json<GrantsUpdate>,
) -> Result<StatusCode, ControlError> {
    authorize(&c, &headers)?;
    let (room, id) = (room_id(&room)?, participant_id(&id)?);
    call(&c, |tx| Job::Command(Command::Grants(room, id, req), tx)).await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(c): State<Control>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ControlError> {
    authorize(&c, &headers)?;
    let (room, id) = (room_id(&room)?, participant_id(&id)?);
    call(&c, |tx| Job::Command(Command::Remove(room, id), tx)).await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn close_room(
    State(c): State<Control>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ControlError> {
    authorize(&c, &headers)?;
    let room = room_id(&room)?;
    call(&c, |tx| Job::Command(Command::CloseRoom(room), tx)).await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(
    State(c): State<Control>,
    headers: HeaderMap,
) -> Result<Json<NodeStats>, ControlError> {
    authorize(&c, &headers)?;
    Ok(Json(call(&c, Job::Stats).await?))
}
