//! The rows, the pages and the filters the API speaks.

use serde::{Deserialize, Serialize};

/// An FMPA session, or a formation (same shape, other table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Session {
    pub id: i64,
    pub tenant_id: String,
    pub title: String,
    pub status: String,
    pub location: String,
    pub starts_at: i64,
    pub seats: i64,
}

/// The body of POST and PUT on fmpa and formations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInput {
    pub title: String,
    pub status: String,
    pub location: String,
    pub starts_at: i64,
    pub seats: i64,
}

impl SessionInput {
    /// What is wrong with this input, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.title.trim().is_empty() {
            Some("title must not be empty")
        } else if !STATUSES.contains(&self.status.as_str()) {
            Some("status must be one of ACTIVE, DRAFT, ARCHIVED, OPEN, CLOSED")
        } else if self.seats < 0 {
            Some("seats must not be negative")
        } else {
            None
        }
    }
}

const STATUSES: &[&str] = &["ACTIVE", "DRAFT", "ARCHIVED", "OPEN", "CLOSED"];

/// A row of the other list routes: an id, a title-like text and a status, plus one
/// number that each table gives its own meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub tenant_id: String,
    pub label: String,
    pub status: String,
    pub value: f64,
}

/// A user's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Profile {
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
}

/// An account, as the login route checks it: never cached (it carries the password
/// hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    /// The argon2 hash (PHC string); none: the account cannot log in.
    pub password_hash: Option<String>,
    /// The platform role (`OPERATOR`), beside the role in its tenant.
    pub platform_role: Option<String>,
}

impl Account {
    /// The account without its password hash.
    pub fn profile(&self) -> Profile {
        Profile {
            id: self.id,
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role.clone(),
        }
    }
}

/// An open session: whose it is and until when (Unix seconds). Cached under the
/// sensitive `session` prefix, keyed by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuthSession {
    pub user_id: i64,
    pub tenant_id: String,
    pub role: String,
    pub expires_at: i64,
    /// The account's platform role when it logged in (`OPERATOR`), if any.
    pub platform_role: Option<String>,
}

/// The body of `POST /api/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

/// The answer of a login: the bearer token for every other route, when it ends (Unix
/// seconds), and who logged in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginReply {
    pub token: String,
    pub token_type: String,
    pub expires_at: u64,
    pub user: Profile,
}

/// The dashboard's aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardStats {
    pub fmpa_by_status: Vec<(String, i64)>,
    pub formations_by_status: Vec<(String, i64)>,
    pub unread_notifications: i64,
    pub pending_tta_hours: f64,
    pub active_personnel: i64,
    pub open_conversations: i64,
}

/// A page of rows and where it sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub pagination: Pagination,
}

/// The seed's `createPaginationMeta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: i64,
    pub pages: i64,
}

/// The query string of the list routes, as sent.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub page: Option<u32>,
    pub limit: Option<u32>,
}

/// Validated list filters: part of the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filters {
    pub status: Option<String>,
    pub page: u32,
    pub limit: u32,
}

impl TryFrom<ListQuery> for Filters {
    type Error = &'static str;

    fn try_from(query: ListQuery) -> Result<Self, Self::Error> {
        let page = query.page.unwrap_or(1);
        let limit = query.limit.unwrap_or(20);
        if page == 0 {
            return Err("page starts at 1");
        }
        if !(1..=100).contains(&limit) {
            return Err("limit must be between 1 and 100");
        }
        if let Some(status) = &query.status
            && (status.is_empty()
                || status.len() > 32
                || !status.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        {
            return Err("status must be an upper-case word such as ACTIVE");
        }
        Ok(Filters {
            status: query.status,
            page,
            limit,
        })
    }
}
