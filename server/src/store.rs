//! Persistence: accounts, sign-in tokens, scheduled meetings and the audit log, in SQLite.
//!
//! The database lives in the server's data directory ([`DATABASE_FILE`]); it is created on
//! first open and migrated with the migrations embedded from `server/migrations/`. It runs in
//! WAL mode with `synchronous = FULL` and foreign keys on, so a crash loses no committed write.
//!
//! Nothing secret is stored in clear: account and meeting passwords are argon2id PHC strings
//! (hashed off the async runtime), bearer tokens are kept only as their SHA-256, and the audit
//! log records who did what, never a password, token or key. Nothing here logs a secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng as PasswordRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use conclave_protocol::identity::MAX_NAME_BYTES;
use rand::RngCore as _;
use sqlx::Row as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

// Tokens, meetings, the audit trail, schedules and bans are further `impl Store` blocks in
// store/.
mod tokens;
pub use tokens::{
    IssuedSession, IssuedToken, RefreshOutcome, SessionKey, TokenSession, token_hash,
};

mod meetings;
pub use meetings::{MeetingRecord, is_meeting_number};

mod audit;
pub use audit::{AuditEntry, AuditEvent, AuditFilter};

mod schedule;

mod bans;
pub use bans::BanKey;
pub use schedule::{SchedulePatch, ScheduleRecord};

/// Name of the SQLite database file inside the data directory.
pub const DATABASE_FILE: &str = "conclave.db";
/// Digits in a meeting number.
pub const MEETING_NUMBER_DIGITS: usize = 11;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest accepted password (account or meeting), in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest meeting title, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// Largest meeting options document, in bytes.
pub const MAX_OPTIONS_BYTES: usize = 64 * 1024;
/// Largest device signature key accepted with a token, in bytes.
pub const MAX_DEVICE_KEY_BYTES: usize = 1024;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory or database file could not be created or read.
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The embedded migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Unknown username or wrong password (deliberately indistinguishable).
    #[error("wrong username or password")]
    BadCredentials,
    /// The account exists and the password was right, but the account is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// Another account already has this username (compared case-insensitively).
    #[error("the username {0:?} is already taken")]
    DuplicateUsername(String),
    /// No account has this username or id.
    #[error("no such user: {0}")]
    UnknownUser(String),
    /// No meeting has this number.
    #[error("no such meeting: {0}")]
    UnknownMeeting(String),
    /// The scheduled meeting was cancelled; it can no longer change.
    #[error("meeting {0} was cancelled")]
    Cancelled(String),
    /// A conditional update found the meeting at another SEQUENCE.
    #[error("the meeting was changed meanwhile (now at sequence {current})")]
    Conflict { current: u32 },
    /// An argument was empty, too long or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// Argon2 failed (bad parameters or a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// Every random meeting number tried was taken.
    #[error("could not find a free meeting number")]
    NoFreeMeetingNumber,
    /// The password could not be read (terminal or standard input).
    #[error("cannot read the password: {0}")]
    PasswordInput(#[source] std::io::Error),
    /// Every password-hashing slot stayed taken for the whole wait: the server is busy.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// A blocking task (password hashing) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// How a [`Store`] is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Argon2id cost parameters for new password hashes (existing hashes keep their own).
    pub argon2_params: Params,
    /// Connections in the SQLite pool.
    pub max_connections: u32,
    /// Password hashes (Argon2, 19 MiB each by default) computed at the same time, for
    /// sign-in, meeting passwords and new accounts alike.
    pub hash_slots: usize,
    /// How long a password check waits for a free slot before it is refused as busy.
    pub hash_wait: Duration,
}

/// Most concurrent password hashes by default.
pub const MAX_DEFAULT_HASH_SLOTS: usize = 4;
/// Default wait for a password-hashing slot.
pub const DEFAULT_HASH_WAIT: Duration = Duration::from_secs(2);

/// One hashing slot per core, at least 1 and at most [`MAX_DEFAULT_HASH_SLOTS`].
pub fn default_hash_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_DEFAULT_HASH_SLOTS)
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            argon2_params: Params::default(),
            max_connections: 8,
            hash_slots: default_hash_slots(),
            hash_wait: DEFAULT_HASH_WAIT,
        }
    }
}

impl StoreOptions {
    /// Minimal Argon2 cost so tests stay fast. Never use this for a real server.
    pub fn insecure_fast_hashing_for_tests() -> Self {
        let params = Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None);
        Self {
            argon2_params: params.unwrap_or_default(),
            ..Self::default()
        }
    }
}

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable random id (32 hex digits); what certificates and rooms refer to.
    pub id: String,
    /// Sign-in name, unique case-insensitively.
    pub username: String,
    /// The name the organization vouches for in member certificates.
    pub display_name: String,
    /// A disabled account cannot sign in and its tokens are refused.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// The server's database. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Argon2id cost of new hashes.
    argon2_params: Params,
    /// A hash of a random password, verified against when the account or meeting is unknown
    /// so that "unknown" and "wrong password" take the same time.
    dummy_hash: Arc<str>,
    /// Bounds concurrent Argon2 runs (memory: 19 MiB each by default).
    hash_slots: Arc<tokio::sync::Semaphore>,
    /// One long-lived thread per slot runs every Argon2 in a memory block it allocated once
    /// and reuses ([`HashMemory`]): short-lived blocking-pool threads left one freed block per
    /// thread in glibc's per-thread arenas (353 MiB peak under 400 sign-ins), and even
    /// long-lived threads allocating afresh for each hash peaked at 258 MiB, since glibc kept
    /// the freed blocks.
    hashers: Hashers,
    hash_wait: Duration,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

const USER_COLUMNS: &str = "id, username, display_name, disabled, created_at";
impl Store {
    /// A transaction that holds SQLite's write lock from its first statement
    /// (`BEGIN IMMEDIATE`). A deferred transaction that reads and then writes fails at once
    /// with `SQLITE_BUSY` when another connection (the audit trail's writer, say) committed
    /// in between; an immediate one waits its turn (`busy_timeout`) instead.
    async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Opens (creating if missing) the database in `data_dir` with production hashing costs.
    pub async fn open(data_dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(data_dir, StoreOptions::default()).await
    }

    /// Opens (creating if missing) the database in `data_dir` and applies pending migrations.
    pub async fn open_with(
        data_dir: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let data_dir = data_dir.as_ref();
        crate::private_files::create_private_dir(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        create_private_file(&path)?;
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await?;
        restrict_database_files(&path)?;
        MIGRATOR.run(&pool).await?;
        let argon2_params = options.argon2_params;
        let hashers = Hashers::start(options.hash_slots.max(1), argon2_params.block_count())?;
        let mut filler = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut filler);
        let dummy_hash = hashers
            .run({
                let params = argon2_params.clone();
                move |memory| hash_new(memory, &params, &hex::encode(filler))
            })
            .await??;
        tracing::info!(path = %path.display(), "database open");
        Ok(Store {
            pool,
            argon2_params,
            dummy_hash: dummy_hash.into(),
            hash_slots: Arc::new(tokio::sync::Semaphore::new(options.hash_slots.max(1))),
            hash_wait: options.hash_wait,
            hashers,
            path,
        })
    }

    /// Path of the SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pool, checkpointing the WAL; later calls on any clone fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (for the guess throttle's table).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The password-hashing slots: every Argon2 run holds one.
    pub fn hash_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.hash_slots
    }

    /// Hashes a new secret (account or meeting creation): waits for a slot as long as it
    /// takes, since only signed-in users and administrators get here.
    async fn hash_secret(&self, secret: &str) -> Result<String, StoreError> {
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let params = self.argon2_params.clone();
        let secret = secret.to_owned();
        self.hashers
            .run(move |memory| hash_new(memory, &params, &secret))
            .await?
    }

    /// Checks a secret against a stored hash; waits at most `hash_wait` for a slot, then
    /// fails with [`StoreError::Busy`].
    async fn verify_secret(&self, secret: &str, phc: String) -> Result<bool, StoreError> {
        let _slot = match tokio::time::timeout(self.hash_wait, self.hash_slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(e)) => return Err(StoreError::Task(e.to_string())),
            Err(_) => return Err(StoreError::Busy),
        };
        let secret = secret.to_owned();
        self.hashers
            .run(move |memory| match verify_with(memory, &secret, &phc) {
                Ok(matches) => matches,
                Err(error) => {
                    tracing::error!(%error, "cannot check a password against its stored hash");
                    false
                }
            })
            .await
    }

    // ----- accounts -------------------------------------------------------------------------

    /// Creates an account. The username must be unique (case-insensitively).
    pub async fn add_user(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<UserRecord, StoreError> {
        check_username(username)?;
        check_display_name(display_name)?;
        check_password(password)?;
        if self.user_by_username(username).await?.is_some() {
            return Err(StoreError::DuplicateUsername(username.to_owned()));
        }
        let password_hash = self.hash_secret(password).await?;
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let record = UserRecord {
            id: hex::encode(id),
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            disabled: false,
            created_at: unix_now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, disabled, created_at) \
             VALUES (?, ?, ?, ?, 0, ?)",
        )
        .bind(&record.id)
        .bind(&record.username)
        .bind(&record.display_name)
        .bind(&password_hash)
        .bind(record.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {
                tracing::info!(user_id = %record.id, username = %record.username, "user added");
                Ok(record)
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::DuplicateUsername(username.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All accounts, ordered by username.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| user_from_row(row).map_err(StoreError::from))
            .collect()
    }

    /// The account with this username, if any.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// The account with this id, if any.
    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// Disables or re-enables an account. Disabling also revokes all of its tokens, so
    /// enabling it again does not revive old sessions.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<UserRecord, StoreError> {
        let mut tx = self.write_transaction().await?;
        let updated = sqlx::query("UPDATE users SET disabled = ? WHERE username = ?")
            .bind(disabled)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::UnknownUser(username.to_owned()));
        }
        if disabled {
            tokens::revoke_all_of(&mut tx, username).await?;
        }
        tx.commit().await?;
        tracing::info!(%username, disabled, "user status changed");
        self.user_by_username(username)
            .await?
            .ok_or_else(|| StoreError::UnknownUser(username.to_owned()))
    }

    /// Replaces an account's password and revokes its tokens (an administrator's reset; the
    /// desktop app uses it when its embedded server's host password left the keychain).
    pub async fn set_user_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(), StoreError> {
        check_password(password)?;
        let password_hash = self.hash_secret(password).await?;
        let mut tx = self.write_transaction().await?;
        let updated = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(&password_hash)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::UnknownUser(username.to_owned()));
        }
        tokens::revoke_all_of(&mut tx, username).await?;
        tx.commit().await?;
        tracing::info!(%username, "password reset");
        Ok(())
    }

    /// Checks a sign-in. Unknown usernames and wrong passwords give the same error after the
    /// same amount of work; [`StoreError::Disabled`] is only reported to the right password.
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<UserRecord, StoreError> {
        if password.len() > MAX_PASSWORD_BYTES || username.chars().count() > MAX_USERNAME_CHARS {
            return Err(StoreError::BadCredentials);
        }
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        let (user, phc) = match &row {
            Some(row) => (Some(user_from_row(row)?), row.try_get("password_hash")?),
            None => (None, self.dummy_hash.to_string()),
        };
        let matches = self.verify_secret(password, phc).await?;
        match user {
            Some(user) if matches && user.disabled => Err(StoreError::Disabled),
            Some(user) if matches => Ok(user),
            _ => {
                tracing::info!("sign-in refused: bad credentials");
                Err(StoreError::BadCredentials)
            }
        }
    }
}

/// Hashes `secret` with a fresh salt into an argon2id PHC string, exactly what
/// `Argon2::hash_password` would produce, but in the hashing thread's reusable `memory`.
fn hash_new(memory: &mut HashMemory, params: &Params, secret: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut PasswordRng);
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(hash_error)?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let blocks = memory.blocks(params.block_count())?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        Ok(hasher.hash_password_into_with_memory(secret.as_bytes(), salt_bytes, out, blocks)?)
    })
    .map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `secret` matches the stored PHC string `phc` (any Argon2 variant, version and
/// parameters, as `Argon2::verify_password` accepts), computed in the hashing thread's reusable
/// `memory`; the outputs are compared in constant time (`password_hash::Output`'s equality).
fn verify_with(memory: &mut HashMemory, secret: &str, phc: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(phc).map_err(hash_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(StoreError::PasswordHash(
            "stored hash has no salt or no output".into(),
        ));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(hash_error)?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).map_err(hash_error)?,
        None => Version::default(),
    };
    // Reads m, t, p (and keyid, data) and takes the output length from the stored output.
    let params = Params::try_from(&parsed).map_err(hash_error)?;
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(hash_error)?;
    let hasher = Argon2::new(algorithm, version, params.clone());
    let blocks = memory.blocks(params.block_count())?;
    let computed = Output::init_with(expected.len(), |out| {
        Ok(hasher.hash_password_into_with_memory(secret.as_bytes(), salt_bytes, out, blocks)?)
    })
    .map_err(hash_error)?;
    Ok(computed == expected)
}

fn hash_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::PasswordHash(error.to_string())
}

/// The Argon2 working memory of one hashing thread, allocated at its first hash and reused by
/// every later one: Argon2 overwrites every block it reads before reading it, so nothing of one
/// hash reaches the next. A stored hash that needs more than the configured cost gets a block
/// of its own for that one run, so an old, costlier hash cannot pin more memory per thread.
struct HashMemory {
    blocks: Vec<Block>,
    keep: usize,
}

impl HashMemory {
    fn new(keep: usize) -> Self {
        Self {
            blocks: Vec::new(),
            keep,
        }
    }

    /// `count` blocks, from the kept memory when it is big enough.
    fn blocks(&mut self, count: usize) -> Result<Blocks<'_>, StoreError> {
        if count > self.keep {
            return Ok(Blocks::Once(allocate_blocks(count)?));
        }
        if self.blocks.len() < count {
            self.blocks = allocate_blocks(self.keep)?;
        }
        Ok(Blocks::Kept(&mut self.blocks[..count]))
    }
}

/// Memory for one Argon2 run: borrowed from the thread's kept block or allocated for it.
enum Blocks<'a> {
    Kept(&'a mut [Block]),
    Once(Vec<Block>),
}

impl AsMut<[Block]> for Blocks<'_> {
    fn as_mut(&mut self) -> &mut [Block] {
        match self {
            Blocks::Kept(blocks) => blocks,
            Blocks::Once(blocks) => blocks,
        }
    }
}

/// `count` zeroed blocks; a failed allocation is an error, not an abort.
fn allocate_blocks(count: usize) -> Result<Vec<Block>, StoreError> {
    let mut blocks = Vec::new();
    blocks.try_reserve_exact(count).map_err(|_| {
        StoreError::PasswordHash(format!(
            "cannot allocate {} MiB for Argon2",
            count * Block::SIZE / (1024 * 1024)
        ))
    })?;
    blocks.resize(count, Block::default());
    Ok(blocks)
}

type HashJob = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// The password-hashing threads (one per hashing slot), each with its own [`HashMemory`];
/// they end when the last [`Store`] clone is dropped.
#[derive(Clone)]
struct Hashers {
    jobs: std::sync::mpsc::Sender<HashJob>,
}

impl Hashers {
    /// Starts `threads` threads, each keeping up to `keep_blocks` Argon2 blocks between runs.
    fn start(threads: usize, keep_blocks: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<HashJob>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("conclave-hash-{n}"))
                .spawn(move || {
                    let mut memory = HashMemory::new(keep_blocks);
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| StoreError::Task(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a hashing thread, with that thread's memory. A panic in it is reported
    /// as [`StoreError::Task`].
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move |memory| {
            let run = std::panic::AssertUnwindSafe(move || work(memory));
            if let Ok(value) = std::panic::catch_unwind(run) {
                let _ = reply.send(value);
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Task("the hashing threads stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Task("password hashing failed".into()))
    }
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn check_username(username: &str) -> Result<(), StoreError> {
    let count = username.chars().count();
    if count == 0 || count > MAX_USERNAME_CHARS {
        return Err(invalid(
            "username",
            format!("must be 1 to {MAX_USERNAME_CHARS} characters"),
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(invalid(
            "username",
            "may contain only letters, digits and . _ - @",
        ));
    }
    Ok(())
}

/// Display names end up in member certificates, which cap them at `MAX_NAME_BYTES` bytes.
fn check_display_name(name: &str) -> Result<(), StoreError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid(
            "display name",
            format!("longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    check_text("display name", name, MAX_NAME_BYTES, false)
}

fn check_text(
    field: &'static str,
    text: &str,
    max_chars: usize,
    empty_ok: bool,
) -> Result<(), StoreError> {
    if !empty_ok && text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), StoreError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(invalid(
            "password",
            format!("must be 1 to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Creates the database file empty and owner-only before SQLite opens it, so it is never
/// readable by others, not even between its creation and [`restrict_database_files`].
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Makes the database and its WAL and shared-memory files readable by the owner only
/// (they hold password hashes and token hashes).
fn restrict_database_files(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => {}
            Err(source) => return Err(StoreError::Io { path: file, source }),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hash_memory_tests;
