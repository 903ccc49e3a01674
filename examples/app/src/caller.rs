//! The caller of a request, from its bearer token: the token must be signed with this
//! app's secret and unexpired, and the session it names must still be open. The tenant,
//! user and role are the session's (cached under the sensitive `session` prefix).

use crate::auth::{ADMIN, unix_now};
use crate::error::ApiError;
use crate::routes::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

/// Who is calling: their user, tenant and role, and their session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub tenant: String,
    pub role: String,
    pub sid: String,
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

/// A caller with the admin role (the operations routes); others get 403.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role != ADMIN {
            return Err(ApiError::forbidden("this route needs the ADMIN role"));
        }
        Ok(Admin(caller))
    }
}
