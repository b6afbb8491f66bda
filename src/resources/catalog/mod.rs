//! The SQL catalog: users, departments, sessions, documents with their head pointers, the
//! revision index, blob references and the audit chain. SQLite through sqlx by default; the SQL
//! is kept portable so a PostgreSQL backend can follow.
//!
//! Writes go through a pool of one connection, so write transactions are serialised in this
//! process (SQLite allows one writer anyway, and the audit chain needs a total order); reads use
//! a separate pool and never wait for writers (WAL mode).
//!
//! Services see [`Conn`], [`WriteTx`] and [`ReadConn`], never the backend's own types, so a
//! second SQL backend changes this folder and not its callers.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::durability::{Durability, ObjectBarrier};

pub mod archive;
pub mod audit;
pub mod documents;
pub mod extraction;
pub mod fixity;
pub mod keys;
pub mod people;
pub mod routing;

mod vocabulary;

pub type CatalogResult<T> = Result<T, sqlx::Error>;

/// A connection to the catalog, in a transaction or not. The row functions of this folder
/// take it; its backend connection is theirs alone.
#[repr(transparent)]
pub struct Conn(SqliteConnection);

impl Conn {
    fn of(raw: &mut SqliteConnection) -> &mut Conn {
        // SAFETY: `Conn` is `repr(transparent)` over `SqliteConnection`, so the two references
        // have the same layout and validity; the lifetime is carried over unchanged.
        unsafe { &mut *(raw as *mut SqliteConnection as *mut Conn) }
    }

    fn of_ref(raw: &SqliteConnection) -> &Conn {
        // SAFETY: as in `of`.
        unsafe { &*(raw as *const SqliteConnection as *const Conn) }
    }
}

/// A write transaction: committed by [`WriteTx::commit`], rolled back when dropped.
pub struct WriteTx(Transaction<'static, Sqlite>);

impl WriteTx {
    pub async fn commit(self) -> CatalogResult<()> {
        self.0.commit().await
    }
}

impl Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        Conn::of_ref(&self.0)
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        Conn::of(&mut self.0)
    }
}

/// A connection of the read pool, returned to it when dropped.
pub struct ReadConn(PoolConnection<Sqlite>);

impl Deref for ReadConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        Conn::of_ref(&self.0)
    }
}

impl DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut Conn {
        Conn::of(&mut self.0)
    }
}

#[derive(Clone, Debug)]
pub struct Catalog {
    reader: SqlitePool,
    writer: SqlitePool,
    /// The object store's flush, run before every write transaction.
    objects: ObjectBarrier,
}

/// Write-ahead log pages after which the committing connection checkpoints (SQLite's default
/// is 1,000): a checkpoint stalls the one writer, so fewer, larger ones cost less in all.
const WRITER_CHECKPOINT_PAGES: &str = "4000";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/resources/catalog/migrations");

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported catalog URL {0:?}: use sqlite:///path/catalog.db")]
    BadUrl(String),
    #[error("catalog: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("catalog migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Catalog {
    /// Opens (creating if missing) and migrates the catalog. Commits are synced to stable
    /// storage unless `durability` is `Os`, and each is preceded by a flush of `objects`.
    pub async fn open(url: &str, create: bool, durability: Durability, objects: ObjectBarrier) -> Result<Self, OpenError> {
        if !url.starts_with("sqlite:") {
            return Err(OpenError::BadUrl(url.to_owned()));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| OpenError::BadUrl(url.to_owned()))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL in WAL mode syncs the log at every commit, so a commit survives power loss;
            // NORMAL survives a crash of the process (kill -9), not of the machine.
            .synchronous(if durability.syncs_commits() { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .foreign_keys(true)
            // Deleted and overwritten content (a shredded data key) is zeroed, not left in free pages.
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(10));
        // An embedded database cannot drop a connection, so the per-acquire ping is pure cost.
        let writer_options = options.clone().pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES);
        let writer = SqlitePoolOptions::new().max_connections(1).test_before_acquire(false).connect_with(writer_options).await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(8).test_before_acquire(false).connect_with(options.read_only(true)).await?;
        Ok(Self { reader, writer, objects })
    }

    /// A write transaction; writers queue here, one at a time. Every object written before
    /// it is flushed first, outside the queue, where concurrent writers share one flush: so
    /// the objects a transaction's rows name are written before it begins, never during it.
    pub async fn begin_write(&self) -> CatalogResult<WriteTx> {
        self.objects.flush().await.map_err(sqlx::Error::Io)?;
        self.writer.begin().await.map(WriteTx)
    }

    /// As `begin_write`, for a caller that flushed the objects its rows name itself (the
    /// group committer's jobs, each before it queued).
    pub async fn begin_write_flushed(&self) -> CatalogResult<WriteTx> {
        self.writer.begin().await.map(WriteTx)
    }

    /// A connection for reading; it never waits for writers.
    pub async fn read(&self) -> CatalogResult<ReadConn> {
        self.reader.acquire().await.map(ReadConn)
    }

    pub async fn ping(&self) -> CatalogResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map(|_| ())
    }

    /// Moves the write-ahead log into the database and empties it, so overwritten bytes are
    /// gone from both files.
    pub async fn scrub(&self) -> CatalogResult<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await.map(|_| ())
    }

    /// A consistent copy of the whole catalog in a new file (SQLite `VACUUM INTO`), taken while
    /// the service keeps running.
    pub async fn snapshot_into(&self, path: &std::path::Path) -> CatalogResult<()> {
        let target = path.to_str().ok_or_else(|| sqlx::Error::Protocol("the snapshot path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(&self.reader).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub async fn setting(&self, key: &str) -> CatalogResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.reader).await
    }
}

pub async fn set_setting(conn: &mut Conn, key: &str, value: &str) -> CatalogResult<()> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut conn.0)
        .await
        .map(|_| ())
}

/// Savepoints let one job of a shared transaction fail alone (group commit).
pub async fn savepoint(conn: &mut Conn) -> CatalogResult<()> {
    sqlx::query("SAVEPOINT job").execute(&mut conn.0).await.map(|_| ())
}

pub async fn release_savepoint(conn: &mut Conn) -> CatalogResult<()> {
    sqlx::query("RELEASE SAVEPOINT job").execute(&mut conn.0).await.map(|_| ())
}

/// Undoes what the job did since its savepoint, and ends the savepoint.
pub async fn rollback_savepoint(conn: &mut Conn) -> CatalogResult<()> {
    sqlx::query("ROLLBACK TO SAVEPOINT job").execute(&mut conn.0).await?;
    release_savepoint(conn).await
}

/// Whether an error is a value the catalog holds that its column's vocabulary does not know
/// (an integrity problem of the stored data, not of the request).
pub fn is_unknown_word(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::ColumnDecode { source, .. } if source.is::<vocabulary::UnknownStoredWord>())
}

/// Bound values per statement of a batch read (SQLite allows at least 999).
pub const IN_LIST_MAX: usize = 500;

/// `select` followed by ` IN (…)` with one bound value for each of `values` (at most
/// `IN_LIST_MAX`): a batch read in one statement, where one statement each would cost a round
/// trip to the database thread.
pub fn in_list(select: &str, values: &[String]) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut q = sqlx::QueryBuilder::new(format!("{select} IN ("));
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    q.push(")");
    q
}

/// Failures of the machine under the catalog, rather than of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SQLITE_FULL, or the disk refused a write.
    Full,
    /// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another program holds the lock.
    Busy,
    /// No connection came (the pool timed out or closed).
    Unreachable,
}

pub fn fault(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::Database(db) => match db.code().and_then(|c| c.parse::<i64>().ok()).map(|c| c & 0xff) {
            Some(13) => Some(Fault::Full),
            Some(5 | 6) => Some(Fault::Busy),
            _ => None,
        },
        sqlx::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => Some(Fault::Full),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Fault::Unreachable),
        _ => None,
    }
}

/// Unique-constraint violations become 409s; everything else stays an internal error.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
