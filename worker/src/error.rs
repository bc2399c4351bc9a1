//! The worker's one error type, mapped to an HTTP response in exactly one place
//! ([`ApiError::status`] and [`ApiError::body`]).

use protocol::api::{ErrorBody, ErrorResponse};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: bad JSON, bad id, missing field.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such route or resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with existing state (an email already in use).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again later.
    #[error("too many attempts; try again later")]
    TooManyRequests,
    /// The body was larger than the route accepts.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A WebSocket route was called without an upgrade.
    #[error("this route expects a WebSocket upgrade")]
    UpgradeRequired,
    /// The platform (D1, a Durable Object, a binding) failed; details are
    /// logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict(_) => 409,
            ApiError::TooManyRequests => 429,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UpgradeRequired => 426,
            ApiError::Internal(_) => 500,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests => "too_many_requests",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UpgradeRequired => "upgrade_required",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body sent to the client.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        }
    }
}

impl From<protocol::access::Denied> for ApiError {
    fn from(d: protocol::access::Denied) -> Self {
        ApiError::Forbidden(d.to_string())
    }
}

#[cfg(target_arch = "wasm32")]
impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = ApiError::Internal("D1_ERROR: no such table: media_nodes".into());
        assert_eq!(e.status(), 500);
        assert_eq!(e.body().error.message, "internal error");
    }

    #[test]
    fn each_error_has_its_status() {
        assert_eq!(ApiError::BadRequest("x".into()).status(), 400);
        assert_eq!(ApiError::Unauthorized.status(), 401);
        assert_eq!(
            ApiError::NotFound("room").body().error.message,
            "room not found"
        );
        assert_eq!(ApiError::PayloadTooLarge(10).status(), 413);
    }
}
