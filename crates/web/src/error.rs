//! The crate's error type, and the JSON error answer of the API.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdpoint_store::Error as StoreError;

/// What can stop the console from serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `[api] listen` is not a loopback address.
    #[error(
        "[api] listen = {0} is not a loopback address; the console has no TLS of its own, so it listens on \
         127.0.0.1 or ::1 only (reach it from elsewhere through an SSH tunnel or a TLS reverse proxy)"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {0} for the approvals console: {1}. Is another process using it?")]
    Bind(SocketAddr, String),
    /// The server stopped with an error.
    #[error("the approvals console stopped: {0}")]
    Serve(String),
}

/// An API refusal: a status and one sentence, answered as `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "sign in with your approver token first")
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NoSuchHold(_) => StatusCode::NOT_FOUND,
            StoreError::WrongState { .. } => StatusCode::CONFLICT,
            StoreError::UnknownApprover | StoreError::BadSignature { .. } | StoreError::Tampered(_) => {
                StatusCode::FORBIDDEN
            }
            StoreError::WrongDecision { .. } | StoreError::BadToken => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
