//! JSON bodies of the worker's HTTP API that are not specific to one feature.

use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Which service answered (`worker`, `media-node`).
    pub service: String,
    /// Build version: crate version plus the git commit it was built from.
    pub version: String,
}

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The body of an [`ErrorResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`not_found`, `unauthorized`, ...).
    pub code: String,
    /// Human-readable explanation, safe to show.
    pub message: String,
}
