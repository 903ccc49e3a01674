//! The repository: every read is `#[cached]`, every write `#[invalidates]`. No handler
//! touches the cache.

use crate::db::Db;
use crate::model::{
    Account, AuthSession, DashboardStats, Filters, Page, Pagination, Profile, Row, Session,
    SessionInput,
};
use crate::{prefix, ttl};
use cache_core::{Cache, cached, invalidates};
use sqlx::FromRow;
use sqlx::any::AnyRow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const SESSION_COLUMNS: &str = "id, tenant_id, title, status, location, starts_at, seats";

/// The list routes other than fmpa and formations: table, label column, number column.
pub struct RowTable {
    table: &'static str,
    select: &'static str,
}

const PERSONNEL: RowTable = RowTable {
    table: "personnel_files",
    select: "id, tenant_id, name || ' (' || grade || ')' AS label, status, CAST(0 AS DOUBLE PRECISION) AS value",
};
const CONVERSATIONS: RowTable = RowTable {
    table: "conversations",
    select: "id, tenant_id, subject AS label, status, CAST(updated_at AS DOUBLE PRECISION) AS value",
};
const NOTIFICATIONS: RowTable = RowTable {
    table: "notifications",
    select: "id, tenant_id, message AS label, status, CAST(created_at AS DOUBLE PRECISION) AS value",
};
const TTA: RowTable = RowTable {
    table: "tta_entries",
    select: "id, tenant_id, label, status, CAST(hours AS DOUBLE PRECISION) AS value",
};
const CHAT: RowTable = RowTable {
    table: "chat_channels",
    select: "id, tenant_id, name AS label, status, CAST(members AS DOUBLE PRECISION) AS value",
};

/// Data access for the API.
#[derive(Clone)]
pub struct Repo {
    db: Db,
    cache: Cache,
    /// Whether reads use the cache (the load generator turns it off for its baseline;
    /// writes invalidate either way, so turning it back on never serves stale data).
    cache_reads: Arc<AtomicBool>,
}

type DbResult<T> = Result<T, sqlx::Error>;

impl Repo {
    pub fn new(db: Db, cache: Cache) -> Repo {
        Repo {
            db,
            cache,
            cache_reads: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn set_cache_reads(&self, on: bool) {
        self.cache_reads.store(on, Ordering::SeqCst);
    }

    pub fn cache_reads(&self) -> bool {
        self.cache_reads.load(Ordering::SeqCst)
    }

    /// The cache the reads use: none while reads are uncached.
    fn reads(&self) -> Option<&Cache> {
        self.cache_reads().then_some(&self.cache)
    }

    // ----- the seven list routes ---------------------------------------------------------

    // A list depends on its status filter (None: every status) and on the tenant's lists
    // as a whole (`list`: an update whose previous status is unknown reaches them all).
    #[cached(prefix = prefix::FMPA, name = "list", l1 = "1m", fail_safe = ttl::FAIL_SAFE, refresh = 0.8, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, tag(status = filters.status, list = tenant), cache = self.reads())]
    pub async fn list_fmpa(&self, tenant: &str, filters: &Filters) -> DbResult<Page<Session>> {
        self.page(SESSION_COLUMNS, "fmpa", tenant, filters).await
    }

    #[cached(prefix = prefix::FORMATION, name = "list", l1 = "1m", fail_safe = ttl::FAIL_SAFE, refresh = 0.8, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, tag(status = filters.status, list = tenant), cache = self.reads())]
    pub async fn list_formations(
        &self,
        tenant: &str,
        filters: &Filters,
    ) -> DbResult<Page<Session>> {
        self.page(SESSION_COLUMNS, "formations", tenant, filters)
            .await
    }

    #[cached(prefix = prefix::PERSONNEL, ttl_only = true, name = "files", l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, cache = self.reads())]
    pub async fn list_personnel_files(
        &self,
        tenant: &str,
        filters: &Filters,
    ) -> DbResult<Page<Row>> {
        self.page(PERSONNEL.select, PERSONNEL.table, tenant, filters)
            .await
    }

    #[cached(prefix = prefix::CONVERSATION, ttl_only = true, name = "list", l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, cache = self.reads())]
    pub async fn list_conversations(&self, tenant: &str, filters: &Filters) -> DbResult<Page<Row>> {
        self.page(CONVERSATIONS.select, CONVERSATIONS.table, tenant, filters)
            .await
    }

    #[cached(prefix = prefix::NOTIFICATION, ttl_only = true, name = "list", l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, cache = self.reads())]
    pub async fn list_notifications(&self, tenant: &str, filters: &Filters) -> DbResult<Page<Row>> {
        self.page(NOTIFICATIONS.select, NOTIFICATIONS.table, tenant, filters)
            .await
    }

    #[cached(prefix = prefix::TTA, ttl_only = true, name = "entries", l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, cache = self.reads())]
    pub async fn list_tta_entries(&self, tenant: &str, filters: &Filters) -> DbResult<Page<Row>> {
        self.page(TTA.select, TTA.table, tenant, filters).await
    }

    #[cached(prefix = prefix::CHAT, ttl_only = true, name = "channels", l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::LIST_SHORT, key = tenant, filters, cache = self.reads())]
    pub async fn list_chat_channels(&self, tenant: &str, filters: &Filters) -> DbResult<Page<Row>> {
        self.page(CHAT.select, CHAT.table, tenant, filters).await
    }

    // ----- items, profile, dashboard -------------------------------------------------------

    // An item depends on its id only: writes to other items leave it cached.
    #[cached(prefix = prefix::FMPA, name = "item", l1 = "1m", ttl = ttl::LIST_SHORT, key = tenant, id, tag(item = id), write_through = true, cache = self.reads())]
    pub async fn get_fmpa(&self, tenant: &str, id: i64) -> DbResult<Option<Session>> {
        self.session_item("fmpa", tenant, id).await
    }

    #[cached(prefix = prefix::FORMATION, name = "item", l1 = "1m", ttl = ttl::LIST_SHORT, key = tenant, id, tag(item = id), write_through = true, cache = self.reads())]
    pub async fn get_formation(&self, tenant: &str, id: i64) -> DbResult<Option<Session>> {
        self.session_item("formations", tenant, id).await
    }

    // A profile carries an email: sealed in Redis, and its key names hashed.
    #[cached(prefix = prefix::USER, ttl_only = true, name = "profile", sensitive = true, l1 = "1m", fail_safe = ttl::FAIL_SAFE, result = true, ttl = ttl::USER_PROFILE, key = tenant, user_id, cache = self.reads())]
    pub async fn profile(&self, tenant: &str, user_id: i64) -> DbResult<Option<Profile>> {
        let sql = self.db.sql(
            "SELECT id, tenant_id, name, email, role FROM users WHERE tenant_id = ? AND id = ?",
        );
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(user_id)
            .fetch_optional(&self.db.pool)
            .await
    }

    // ----- sessions ------------------------------------------------------------------------

    /// The account behind a login email. Never cached: it carries the password hash.
    pub async fn account(&self, email: &str) -> DbResult<Option<Account>> {
        let sql = self.db.sql(
            "SELECT id, tenant_id, name, email, role, password_hash, platform_role FROM users WHERE email = ?",
        );
        sqlx::query_as(&sql)
            .bind(email)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// Opens session `sid` of `account` until `expires_at` (Unix seconds), and closes the
    /// account's sessions that have ended. A new id was never read, so nothing cached
    /// names it.
    pub async fn open_session(
        &self,
        sid: &str,
        account: &Account,
        expires_at: i64,
    ) -> DbResult<()> {
        let ended = self
            .db
            .sql("DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?");
        sqlx::query(&ended)
            .bind(account.id)
            .bind(crate::credentials::unix_now() as i64)
            .execute(&self.db.pool)
            .await?;
        let open = self.db.sql(
            "INSERT INTO sessions (id, user_id, tenant_id, role, expires_at, platform_role) VALUES (?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&open)
            .bind(sid)
            .bind(account.id)
            .bind(&account.tenant_id)
            .bind(&account.role)
            .bind(expires_at)
            .bind(&account.platform_role)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// The open session `sid`, read on every request: the seed's `session` prefix (1 h),
    /// sensitive (the id is a bearer secret: only its keyed hash is in key names).
    /// Version 2: sessions carry the platform role.
    #[cached(prefix = prefix::SESSION, name = "current", version = 2, sensitive = true, l1 = "1m", ttl = ttl::SESSION, key = sid, cache = self.reads())]
    pub async fn session(&self, sid: &str) -> DbResult<Option<AuthSession>> {
        let sql = self.db.sql(
            "SELECT user_id, tenant_id, role, expires_at, platform_role FROM sessions WHERE id = ?",
        );
        sqlx::query_as(&sql)
            .bind(sid)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// Ends session `sid` (log out): its token is refused from then on, in every instance
    /// (within the tier's bound δ where a tier holds it).
    #[invalidates(prefix::SESSION, key = sid, cache = self.cache)]
    pub async fn end_session(&self, sid: &str) -> DbResult<bool> {
        let sql = self.db.sql("DELETE FROM sessions WHERE id = ?");
        let done = sqlx::query(&sql).bind(sid).execute(&self.db.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The expensive aggregate of the dashboard: six grouped scans of the tenant's rows,
    /// run by one instance of the fleet when it is cold (a lease), the others waiting for
    /// its value.
    #[cached(prefix = prefix::STATS, name = "dashboard", l1 = "1m", lease = ttl::LEASE, ttl = ttl::STATS, key = tenant, cache = self.reads())]
    pub async fn dashboard(&self, tenant: &str) -> DbResult<DashboardStats> {
        let by_status = |table: &str| {
            format!(
                "SELECT status, COUNT(*) FROM {table} WHERE tenant_id = ? GROUP BY status ORDER BY status"
            )
        };
        let count = |table: &str, status: &str| {
            format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = ? AND status = '{status}'")
        };
        let pool = &self.db.pool;
        let fmpa_sql = self.db.sql(&by_status("fmpa")).into_owned();
        let formations_sql = self.db.sql(&by_status("formations")).into_owned();
        let unread_sql = self.db.sql(&count("notifications", "UNREAD")).into_owned();
        let personnel_sql = self
            .db
            .sql(&count("personnel_files", "ACTIVE"))
            .into_owned();
        let conversations_sql = self.db.sql(&count("conversations", "OPEN")).into_owned();
        let hours_sql = self
            .db
            .sql("SELECT CAST(COALESCE(SUM(hours), 0) AS DOUBLE PRECISION) FROM tta_entries WHERE tenant_id = ? AND status = 'PENDING'");
        let (fmpa, formations, unread, personnel, conversations, hours) = tokio::try_join!(
            sqlx::query_as::<_, (String, i64)>(&fmpa_sql)
                .bind(tenant)
                .fetch_all(pool),
            sqlx::query_as::<_, (String, i64)>(&formations_sql)
                .bind(tenant)
                .fetch_all(pool),
            sqlx::query_as::<_, (i64,)>(&unread_sql)
                .bind(tenant)
                .fetch_one(pool),
            sqlx::query_as::<_, (i64,)>(&personnel_sql)
                .bind(tenant)
                .fetch_one(pool),
            sqlx::query_as::<_, (i64,)>(&conversations_sql)
                .bind(tenant)
                .fetch_one(pool),
            sqlx::query_as::<_, (f64,)>(&hours_sql)
                .bind(tenant)
                .fetch_one(pool),
        )?;
        Ok(DashboardStats {
            fmpa_by_status: fmpa,
            formations_by_status: formations,
            unread_notifications: unread.0,
            pending_tta_hours: hours.0,
            active_personnel: personnel.0,
            open_conversations: conversations.0,
        })
    }

    // ----- writes: each invalidates what it changes --------------------------------------
    //
    // A create reaches the lists of its status (and the unfiltered ones) and its new id (a
    // read of that id before it existed may have cached "not found"); an update writes
    // its row through to the item read (the next GET of it is a hit) and invalidates
    // every list of the tenant (its previous status is not known here); a delete,
    // its item and the lists of the status it had (returned by the DELETE). Each write
    // also changes the dashboard's counts: the tenant's stats.

    #[invalidates(
        target(prefix::FMPA, key = tenant, tag(status = input.status, item = |s: &Session| s.id)),
        target(prefix::STATS, key = tenant),
        cache = self.cache
    )]
    pub async fn create_fmpa(&self, tenant: &str, input: &SessionInput) -> DbResult<Session> {
        self.insert_session("fmpa", tenant, input).await
    }

    #[invalidates(
        target(prefix::FMPA, key = tenant, tag(item = id, list = tenant)),
        target(prefix::STATS, key = tenant),
        when = |s: &Option<Session>| s.is_some(),
        write_through = self.get_fmpa(tenant, id),
        cache = self.cache
    )]
    pub async fn update_fmpa(
        &self,
        tenant: &str,
        id: i64,
        input: &SessionInput,
    ) -> DbResult<Option<Session>> {
        self.update_session("fmpa", tenant, id, input).await
    }

    /// Deletes the row; the status it had, if it existed.
    #[invalidates(
        target(prefix::FMPA, key = tenant, tag(item = id, status = |s: &Option<String>| s.clone())),
        target(prefix::STATS, key = tenant),
        when = |s: &Option<String>| s.is_some(),
        cache = self.cache
    )]
    pub async fn delete_fmpa(&self, tenant: &str, id: i64) -> DbResult<Option<String>> {
        self.delete_row("fmpa", tenant, id).await
    }

    #[invalidates(
        target(prefix::FORMATION, key = tenant, tag(status = input.status, item = |s: &Session| s.id)),
        target(prefix::STATS, key = tenant),
        cache = self.cache
    )]
    pub async fn create_formation(&self, tenant: &str, input: &SessionInput) -> DbResult<Session> {
        self.insert_session("formations", tenant, input).await
    }

    #[invalidates(
        target(prefix::FORMATION, key = tenant, tag(item = id, list = tenant)),
        target(prefix::STATS, key = tenant),
        when = |s: &Option<Session>| s.is_some(),
        write_through = self.get_formation(tenant, id),
        cache = self.cache
    )]
    pub async fn update_formation(
        &self,
        tenant: &str,
        id: i64,
        input: &SessionInput,
    ) -> DbResult<Option<Session>> {
        self.update_session("formations", tenant, id, input).await
    }

    /// Deletes the row; the status it had, if it existed.
    #[invalidates(
        target(prefix::FORMATION, key = tenant, tag(item = id, status = |s: &Option<String>| s.clone())),
        target(prefix::STATS, key = tenant),
        when = |s: &Option<String>| s.is_some(),
        cache = self.cache
    )]
    pub async fn delete_formation(&self, tenant: &str, id: i64) -> DbResult<Option<String>> {
        self.delete_row("formations", tenant, id).await
    }

    // ----- plain SQL ---------------------------------------------------------------------

    /// One page and the total, queried together (the seed's `Promise.all`).
    async fn page<T>(
        &self,
        select: &str,
        table: &str,
        tenant: &str,
        filters: &Filters,
    ) -> DbResult<Page<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let status = if filters.status.is_some() {
            " AND status = ?"
        } else {
            ""
        };
        let items_sql = self.db.sql(&format!(
            "SELECT {select} FROM {table} WHERE tenant_id = ?{status} ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .into_owned();
        let count_sql = self
            .db
            .sql(&format!(
                "SELECT COUNT(*) FROM {table} WHERE tenant_id = ?{status}"
            ))
            .into_owned();
        let mut items = sqlx::query_as::<_, T>(&items_sql).bind(tenant);
        let mut count = sqlx::query_as::<_, (i64,)>(&count_sql).bind(tenant);
        if let Some(status) = &filters.status {
            items = items.bind(status.as_str());
            count = count.bind(status.as_str());
        }
        let limit = i64::from(filters.limit);
        let offset = i64::from(filters.page - 1) * limit;
        let items = items.bind(limit).bind(offset);
        let (items, (total,)) = tokio::try_join!(
            items.fetch_all(&self.db.pool),
            count.fetch_one(&self.db.pool)
        )?;
        Ok(Page {
            items,
            pagination: Pagination {
                page: filters.page,
                limit: filters.limit,
                total,
                pages: (total + limit - 1) / limit,
            },
        })
    }

    async fn session_item(&self, table: &str, tenant: &str, id: i64) -> DbResult<Option<Session>> {
        let sql = self
            .db
            .sql(&format!(
                "SELECT {SESSION_COLUMNS} FROM {table} WHERE tenant_id = ? AND id = ?"
            ))
            .into_owned();
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
    }

    async fn insert_session(
        &self,
        table: &str,
        tenant: &str,
        input: &SessionInput,
    ) -> DbResult<Session> {
        let sql = self.db.sql(&format!(
            "INSERT INTO {table} (tenant_id, title, status, location, starts_at, seats) VALUES (?, ?, ?, ?, ?, ?) RETURNING {SESSION_COLUMNS}"
        ))
        .into_owned();
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(&input.title)
            .bind(&input.status)
            .bind(&input.location)
            .bind(input.starts_at)
            .bind(input.seats)
            .fetch_one(&self.db.pool)
            .await
    }

    async fn update_session(
        &self,
        table: &str,
        tenant: &str,
        id: i64,
        input: &SessionInput,
    ) -> DbResult<Option<Session>> {
        let sql = self.db.sql(&format!(
            "UPDATE {table} SET title = ?, status = ?, location = ?, starts_at = ?, seats = ? WHERE tenant_id = ? AND id = ? RETURNING {SESSION_COLUMNS}"
        ))
        .into_owned();
        sqlx::query_as(&sql)
            .bind(&input.title)
            .bind(&input.status)
            .bind(&input.location)
            .bind(input.starts_at)
            .bind(input.seats)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
    }

    async fn delete_row(&self, table: &str, tenant: &str, id: i64) -> DbResult<Option<String>> {
        let sql = self
            .db
            .sql(&format!(
                "DELETE FROM {table} WHERE tenant_id = ? AND id = ? RETURNING status"
            ))
            .into_owned();
        let deleted: Option<(String,)> = sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(deleted.map(|(status,)| status))
    }
}
