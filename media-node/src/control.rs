//! The HTTP control API, for the worker and the Room Durable Objects.

use axum::routing::get;
use axum::{Json, Router};
use protocol::api::Health;

/// The control API's routes.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Health> {
    Json(Health {
        service: "media-node".into(),
        version: crate::version(),
    })
}
