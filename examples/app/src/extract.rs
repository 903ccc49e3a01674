//! What handlers take from a request: the caller (from its bearer token: signed with this
//! app's secret, unexpired, and naming a session still open; tenant, user and role are the
//! session's, cached under the sensitive `session` prefix), its tenant, the operator role,
//! a row id from the path, list filters and a session body, each rejected as JSON.

use crate::credentials::{OPERATOR, unix_now};
use crate::error::ApiError;
use crate::model::{Filters, ListQuery, SessionInput};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

/// Who is calling: their user, tenant and role, and their session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub tenant: String,
    pub role: String,
    pub sid: String,
    /// The platform role (`OPERATOR`), if any: the session's.
    pub platform_role: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let claims = state.tokens.verify(token).map_err(|refused| {
            tracing::debug!(%refused, "401");
            ApiError::unauthorized("invalid or expired token")
        })?;
        let ended = || ApiError::unauthorized("session ended: log in again");
        let session = state.repo.session(&claims.sid).await?.ok_or_else(ended)?;
        // The session is the authority; a token that disagrees with it was not issued
        // for it.
        if session.expires_at <= unix_now() as i64
            || claims.sub.parse::<i64>() != Ok(session.user_id)
            || session.tenant_id != claims.tenant
        {
            return Err(ended());
        }
        Ok(Caller {
            user_id: session.user_id,
            tenant: session.tenant_id,
            role: session.role,
            sid: claims.sid,
            platform_role: session.platform_role,
        })
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || ApiError::unauthorized("missing bearer token: log in at POST /api/auth/login");
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// The caller's tenant: every read and write of a request is confined to it.
pub struct Tenant(pub String);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Tenant(
            Caller::from_request_parts(parts, state).await?.tenant,
        ))
    }
}

/// A caller with the platform's `OPERATOR` role (the operations routes, which act on
/// every tenant); others, a tenant's ADMIN included, get 403.
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.platform_role.as_deref() != Some(OPERATOR) {
            return Err(ApiError::forbidden(
                "this route needs the platform's OPERATOR role (a tenant's ADMIN administers only its tenant)",
            ));
        }
        Ok(Operator(caller))
    }
}

/// A row id from the path, rejected as a JSON 400 when it is not a number.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Id(id))
    }
}

/// The filters of a list, from its query string.
pub(crate) fn filters(
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Filters, ApiError> {
    let Query(query) = query?;
    Filters::try_from(query).map_err(ApiError::bad_request)
}

/// A session's body, checked.
pub(crate) fn input(
    body: Result<Json<SessionInput>, JsonRejection>,
) -> Result<SessionInput, ApiError> {
    let Json(input) = body?;
    match input.problem() {
        Some(problem) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, problem)),
        None => Ok(input),
    }
}
