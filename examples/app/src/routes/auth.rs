//! Logging in and out: `POST /api/auth/login` checks a password and opens a session,
//! `POST /api/auth/logout` ends the caller's; `GET /api/me` is the caller's profile.

use crate::credentials::{new_session_id, verify_password};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::model::{LoginInput, LoginReply};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Checks an email and password and opens a session: `{token, token_type, expires_at,
/// user}`, or 401 (the same answer, after the same argon2 work, for an unknown email and a
/// wrong password).
pub(super) async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(input) = body?;
    let account = state.repo.account(&input.email).await?;
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let password = input.password;
    let matches = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            verify_password(&password, unknown_account_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(account) = account.filter(|_| matches) else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    let sid = new_session_id();
    let claims = state
        .tokens
        .claims(account.id, &account.tenant_id, &account.role, &sid);
    state
        .repo
        .open_session(&sid, &account, claims.exp as i64)
        .await?;
    Ok(Json(LoginReply {
        token: state.tokens.sign(&claims),
        token_type: "Bearer".to_owned(),
        expires_at: claims.exp,
        user: account.profile(),
    })
    .into_response())
}

/// A hash to check passwords of unknown emails against, so that they take as long as
/// known ones. [`start`](crate::start) computes it before the first login.
pub(crate) fn unknown_account_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| crate::credentials::hash_password(&new_session_id()))
}

/// Ends the caller's session: 204; its token is refused from then on.
pub(super) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state.repo.end_session(&caller.sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own profile.
pub(super) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let found = state.repo.profile(&caller.tenant, caller.user_id).await?;
    Ok(Json(found.ok_or_else(ApiError::not_found)?).into_response())
}
