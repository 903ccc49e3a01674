//! The database: SQLite (embedded, created and seeded on first run) or PostgreSQL, through
//! sqlx's `Any` driver so that one set of queries serves both.

use crate::credentials::{DEMO_OPERATOR, DEMO_PASSWORD, OPERATOR, hash_password};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::borrow::Cow;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// The pool and its dialect.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: Kind,
}

/// How many rows the seed writes.
#[derive(Debug, Clone, Copy)]
pub struct SeedScale {
    pub tenants: u32,
    /// Rows of the big tables (fmpa, formations, notifications, tta entries).
    pub big: u32,
    /// Rows of the other tables.
    pub small: u32,
}

impl SeedScale {
    /// A realistic volume: 20 tenants, 40k rows per big table.
    pub const REALISTIC: SeedScale = SeedScale {
        tenants: 20,
        big: 40_000,
        small: 8_000,
    };
    /// Enough to exercise every route quickly (tests).
    pub const SMALL: SeedScale = SeedScale {
        tenants: 4,
        big: 400,
        small: 100,
    };
}

/// The tables and their indexes; `{id}` and `{float}` are the dialect's.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id {id}, tenant_id TEXT NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT, platform_role TEXT)",
    "CREATE INDEX IF NOT EXISTS users_tenant ON users (tenant_id, id)",
    "CREATE INDEX IF NOT EXISTS users_email ON users (email)",
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, tenant_id TEXT NOT NULL, role TEXT NOT NULL, expires_at BIGINT NOT NULL, platform_role TEXT)",
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, expires_at)",
    "CREATE TABLE IF NOT EXISTS fmpa (id {id}, tenant_id TEXT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, location TEXT NOT NULL, starts_at BIGINT NOT NULL, seats BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fmpa_tenant_status ON fmpa (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS formations (id {id}, tenant_id TEXT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, location TEXT NOT NULL, starts_at BIGINT NOT NULL, seats BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS formations_tenant_status ON formations (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS personnel_files (id {id}, tenant_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, grade TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS personnel_tenant_status ON personnel_files (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS conversations (id {id}, tenant_id TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS conversations_tenant_status ON conversations (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS notifications (id {id}, tenant_id TEXT NOT NULL, message TEXT NOT NULL, status TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS notifications_tenant_status ON notifications (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS tta_entries (id {id}, tenant_id TEXT NOT NULL, label TEXT NOT NULL, status TEXT NOT NULL, hours {float} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tta_tenant_status ON tta_entries (tenant_id, status, id)",
    "CREATE TABLE IF NOT EXISTS chat_channels (id {id}, tenant_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, members BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS chat_tenant_status ON chat_channels (tenant_id, status, id)",
];

/// The seed of one table: the columns after `tenant_id`, and their values as SQL
/// expressions of `n` (the row number) and `m` (`n` over the number of tenants, so that
/// statuses do not follow tenants).
struct Seed {
    table: &'static str,
    columns: &'static str,
    values: &'static str,
    big: bool,
}

const SEEDS: &[Seed] = &[
    Seed {
        table: "users",
        columns: "name, email, role",
        values: "'User ' || n, 'user' || n || '@example.org', CASE m % 10 WHEN 0 THEN 'ADMIN' ELSE 'MEMBER' END",
        big: false,
    },
    Seed {
        table: "fmpa",
        columns: "title, status, location, starts_at, seats",
        values: "'FMPA session ' || n, CASE m % 4 WHEN 0 THEN 'DRAFT' WHEN 1 THEN 'ARCHIVED' ELSE 'ACTIVE' END, 'Caserne ' || (n % 37), 1760000000 + n * 3600, 5 + n % 20",
        big: true,
    },
    Seed {
        table: "formations",
        columns: "title, status, location, starts_at, seats",
        values: "'Formation ' || n, CASE m % 3 WHEN 0 THEN 'CLOSED' ELSE 'OPEN' END, 'Centre ' || (n % 11), 1760000000 + n * 7200, 8 + n % 12",
        big: true,
    },
    Seed {
        table: "personnel_files",
        columns: "name, status, grade",
        values: "'Agent ' || n, CASE m % 5 WHEN 0 THEN 'INACTIVE' ELSE 'ACTIVE' END, CASE m % 4 WHEN 0 THEN 'Sergent' WHEN 1 THEN 'Caporal' WHEN 2 THEN 'Lieutenant' ELSE 'Sapeur' END",
        big: false,
    },
    Seed {
        table: "conversations",
        columns: "subject, status, updated_at",
        values: "'Conversation ' || n, CASE m % 3 WHEN 0 THEN 'CLOSED' ELSE 'OPEN' END, 1760000000 + n * 60",
        big: false,
    },
    Seed {
        table: "notifications",
        columns: "message, status, created_at",
        values: "'Notification ' || n, CASE m % 2 WHEN 0 THEN 'READ' ELSE 'UNREAD' END, 1760000000 + n * 30",
        big: true,
    },
    Seed {
        table: "tta_entries",
        columns: "label, status, hours",
        values: "'TTA ' || n, CASE m % 4 WHEN 0 THEN 'VALIDATED' ELSE 'PENDING' END, (n % 9) * 0.5 + 1",
        big: true,
    },
    Seed {
        table: "chat_channels",
        columns: "name, status, members",
        values: "'channel-' || n, CASE m % 6 WHEN 0 THEN 'ARCHIVED' ELSE 'ACTIVE' END, 2 + n % 40",
        big: false,
    },
];

/// How long a request waits for a connection of the pool.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`).
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("postgres") {
            Kind::Postgres
        } else {
            Kind::Sqlite
        };
        let connections = match kind {
            Kind::Postgres => 16,
            Kind::Sqlite => 8,
        };
        // A database that cannot give a connection within 3 s fails the request (and a
        // cached read with a fail-safe value answers with it) instead of holding it 30 s.
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Db { pool, kind })
    }

    /// The query with `?` placeholders in this dialect (`$1, $2...` for PostgreSQL).
    pub fn sql<'a>(&self, query: &'a str) -> Cow<'a, str> {
        if self.kind == Kind::Sqlite || !query.contains('?') {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len() + 8);
        let mut n = 0;
        for c in query.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// Creates the tables and, if they are empty, seeds them. Returns whether it seeded.
    pub async fn prepare(&self, scale: SeedScale) -> Result<bool, sqlx::Error> {
        let (id, float) = match self.kind {
            Kind::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
            Kind::Postgres => ("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
        };
        for statement in SCHEMA {
            let statement = statement.replace("{id}", id).replace("{float}", float);
            sqlx::query(&statement).execute(&self.pool).await?;
        }
        // A database seeded by an older version has users without passwords, and no
        // platform roles.
        for (table, column) in [
            ("users", "password_hash"),
            ("users", "platform_role"),
            ("sessions", "platform_role"),
        ] {
            self.add_column(table, column).await?;
        }
        let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fmpa")
            .fetch_one(&self.pool)
            .await?;
        if existing > 0 {
            self.set_demo_passwords().await?;
            self.set_demo_operator().await?;
            return Ok(false);
        }
        for seed in SEEDS {
            let rows = if seed.big { scale.big } else { scale.small };
            // A recursive CTE generates the rows in the database: the same SQL on both.
            let statement = format!(
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {rows}) \
                 INSERT INTO {table} (tenant_id, {columns}) SELECT 'tenant-' || (n % {tenants}), {values} \
                 FROM (SELECT n, n / {tenants} AS m FROM seq) AS rows",
                table = seed.table,
                columns = seed.columns,
                values = seed.values,
                tenants = scale.tenants,
            );
            sqlx::query(&statement).execute(&self.pool).await?;
        }
        self.set_demo_passwords().await?;
        self.set_demo_operator().await?;
        if self.kind == Kind::Postgres {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(true)
    }

    /// Adds the text column `column` to `table` if it lacks it (a database of an older
    /// version).
    async fn add_column(&self, table: &str, column: &str) -> Result<(), sqlx::Error> {
        let probe = format!("SELECT {column} FROM {table} WHERE 1 = 0");
        if sqlx::query(&probe).execute(&self.pool).await.is_err() {
            let add = format!("ALTER TABLE {table} ADD COLUMN {column} TEXT");
            sqlx::query(&add).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Makes the demo operator ([`DEMO_OPERATOR`]) the platform's operator: the role of
    /// the operations routes, distinct from a tenant's ADMIN.
    async fn set_demo_operator(&self) -> Result<(), sqlx::Error> {
        let sql = self.sql("UPDATE users SET platform_role = ? WHERE email = ?");
        sqlx::query(&sql)
            .bind(OPERATOR)
            .bind(DEMO_OPERATOR)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives every user without a password the demo password ([`DEMO_PASSWORD`]). One
    /// hash (one salt) for all of them, so that seeding thousands of users takes one
    /// argon2 run: a real app hashes each password, with its own salt, when it is set.
    async fn set_demo_passwords(&self) -> Result<(), sqlx::Error> {
        let (without,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE password_hash IS NULL")
                .fetch_one(&self.pool)
                .await?;
        if without == 0 {
            return Ok(());
        }
        let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD))
            .await
            .map_err(|joined| {
                sqlx::Error::Protocol(format!("hashing the demo password: {joined}"))
            })?;
        let sql = self.sql("UPDATE users SET password_hash = ? WHERE password_hash IS NULL");
        sqlx::query(&sql).bind(hash).execute(&self.pool).await?;
        Ok(())
    }
}
