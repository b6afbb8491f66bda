//! The command line: `henji serve`, `user add`, `department add`, `verify`, `reindex`, `keys`,
//! `export`, `import`, `backup` and `restore`. Each command parses its arguments, opens the
//! installation and calls one service as the operator at the console (`Principal::console`);
//! it prints what the service reports and decides nothing itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::domain::people::{Classification, Principal, Role};

use crate::services::Henji;
use crate::services::export::ExportRequest;
use crate::services::people::NewUser;
use crate::services::setup::{self, Durability, OpenMode, StorageConfig};

/// henji (痕迹): official documents as content-addressed revisions, with every reviewer's
/// changes kept, full-text search, encryption at rest and verifiable archive packages.
///
/// Start with `henji serve --demo` and open http://127.0.0.1:8080/api/v1/openapi.json.
#[derive(Parser, Debug)]
#[command(
    name = "henji",
    version,
    about,
    long_about = None,
    after_help = "Start here: `henji serve --demo`, then sign in as wangfang / henji-demo (POST /api/v1/sessions).\n\
                  The API is described at http://127.0.0.1:8080/api/v1/openapi.json."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service (creates the data directory, catalog and administrator on first start).
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage departments.
    #[command(subcommand)]
    Department(DepartmentCommand),
    /// Re-hash every blob, re-derive every revision id, check every parent link and the audit
    /// chain. Exits non-zero and names the first bad object.
    Verify(StorageArgs),
    /// Rebuild the search index from the catalog and the object store. With a server running,
    /// use `POST /api/v1/admin/reindex` instead.
    Reindex(StorageArgs),
    /// Key-encryption keys: which wraps how many data keys, and rotation.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write the archive packages of a department and/or year into one zip, streamed.
    Export(ExportArgs),
    /// Restore archive packages (one bag, or an export of many) made by another installation;
    /// every digest is checked before anything is written.
    Import(ImportArgs),
    /// Copy new objects and a consistent catalog snapshot to another object store (a folder or
    /// a bucket on a second S3 server); incremental. Keys are never copied: keep them apart.
    Backup(BackupArgs),
    /// Rebuild an installation from a backup into an empty data directory (the search index is
    /// rebuilt; sealed data needs the same keys as before).
    Restore(RestoreArgs),
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Where the backup goes: file:///path or s3://bucket/prefix (AWS_* variables as for --store).
    #[arg(long)]
    pub to: String,
    /// Catalog snapshots (generations) kept in the backup, newest first; older ones are removed.
    #[arg(long, default_value_t = crate::services::backup::DEFAULT_KEEP)]
    pub keep: usize,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The backup: file:///path or s3://bucket/prefix.
    #[arg(long)]
    pub from: String,
    /// Restore the newest generation taken at or before this time (RFC 3339, e.g.
    /// 2026-12-07T18:00:00Z); default: the newest.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The package zip.
    pub file: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Show each key-encryption key, how many data keys it wraps, and which is active.
    Status(StorageArgs),
    /// Re-wrap every data key under a new key-encryption key; content is not rewritten. With a
    /// key file, a new key is generated and appended to it; with HENJI_KEYS, put the new key
    /// last in HENJI_KEYS first. Afterwards the old key can be removed. Stop the server first.
    Rotate(StorageArgs),
}

/// Where the installation lives; the same flags for every command.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Where the embedded defaults live (catalog, objects, index, generated key).
    #[arg(long, env = "HENJI_DATA_DIR", default_value = "./storage")]
    pub data_dir: PathBuf,
    /// Object store: file:///path or s3://bucket/prefix (AWS_* variables give endpoint,
    /// region and credentials). Default: file://<data-dir>/objects.
    #[arg(long, env = "HENJI_STORE")]
    pub store: Option<String>,
    /// The SQL catalog. Default: sqlite://<data-dir>/catalog.db.
    #[arg(long, env = "HENJI_CATALOG")]
    pub catalog: Option<String>,
    /// A folder of extra document kinds (*.json JSON Schemas); they override built-in kinds.
    #[arg(long, env = "HENJI_SCHEMAS")]
    pub schemas: Option<PathBuf>,
    /// The search index folder (derived data; `henji reindex` rebuilds it). Default:
    /// <data-dir>/index.
    #[arg(long, env = "HENJI_INDEX")]
    pub index: Option<PathBuf>,
    /// Key-encryption keys for encryption at rest, one `<id>:<base64 of 32 bytes>` per line,
    /// the last one active. Default: <data-dir>/keys/master.key, generated on the first start.
    /// HENJI_KEYS (comma-separated entries) takes precedence; it has no flag so keys never
    /// show in a process list.
    #[arg(long, env = "HENJI_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// What a 2xx promises. `durable`: what it wrote is on stable storage and survives power
    /// loss (objects flushed in groups, catalog commits synced). `os`: handed to the operating
    /// system, which survives a crash of henji but not of the machine. `each-file` fsyncs every
    /// object as written, the slow way, kept for comparison in the benchmarks.
    #[arg(long, env = "HENJI_DURABILITY", default_value = "durable", value_parser = Durability::NAMES)]
    pub durability: String,
}

impl StorageArgs {
    fn config(&self) -> StorageConfig {
        StorageConfig {
            data_dir: self.data_dir.clone(),
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            schemas: self.schemas.clone(),
            index: self.index.clone(),
            keys: std::env::var("HENJI_KEYS").ok(),
            key_file: self.key_file.clone(),
            durability: self.durability.parse().unwrap_or_default(),
        }
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "HENJI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes (413 above it).
    #[arg(long, env = "HENJI_MAX_BODY", default_value_t = 1 << 30)]
    pub max_body: usize,
    /// Load sample departments, users and documents so a newcomer can try everything at once.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub extraction: ExtractionArgs,
    /// How often to re-hash every blob and manifest (fixity), e.g. 24h, 30m or 45s; 0 turns it
    /// off. Results: GET /api/v1/admin/fixity and the henji_fixity_bad_objects metric.
    #[arg(long, env = "HENJI_FIXITY_INTERVAL", default_value = "24h")]
    pub fixity_interval: String,
    /// Memory for the read caches (revision bodies, computed and rendered traces), in MiB.
    #[arg(long, env = "HENJI_CACHE_MIB", default_value_t = crate::services::cache::DEFAULT_CACHE_BYTES / (1 << 20))]
    pub cache_mib: usize,
    /// Indexing memory of each search index (plain and sealed), in MiB: what a rebuild may
    /// fill before it writes a segment; at least 64.
    #[arg(long, env = "HENJI_INDEX_MEMORY_MIB", default_value_t = crate::services::search::DEFAULT_INDEX_MEMORY / (1 << 20))]
    pub index_memory_mib: usize,
    /// How long a sign-in lasts (the API's bearer token, the desk's cookie), e.g. 12h or 30m.
    #[arg(long, env = "HENJI_SESSION_TTL", default_value = "12h")]
    pub session_ttl: String,
}

/// How the text of attachments is read (OCR of scans: tesseract; PDFs: poppler).
#[derive(Args, Debug, Clone)]
pub struct ExtractionArgs {
    /// tesseract's language model for scans (Debian: tesseract-ocr-chi-sim gives chi_sim;
    /// `chi_sim+eng` reads mixed pages but worse Chinese).
    #[arg(long, env = "HENJI_OCR_LANGUAGE", default_value = "chi_sim")]
    pub ocr_language: String,
    /// A folder of tesseract models (`*.traineddata`) to use instead of the system's (e.g.
    /// tessdata_best's larger chi_sim).
    #[arg(long, env = "HENJI_OCR_MODELS")]
    pub ocr_models: Option<std::path::PathBuf>,
    /// Extraction jobs (and engine processes) at once; default: one per core.
    #[arg(long, env = "HENJI_EXTRACTION_WORKERS")]
    pub extraction_workers: Option<usize>,
}

impl ExtractionArgs {
    fn settings(&self) -> crate::services::extraction::ExtractionSettings {
        let mut s = crate::services::extraction::ExtractionSettings { language: self.ocr_language.clone(), models: self.ocr_models.clone(), ..Default::default() };
        if let Some(n) = self.extraction_workers.filter(|n| *n > 0) {
            s.workers = n;
        }
        s
    }
}

/// How archive numbers and packages are made.
#[derive(Args, Debug, Clone)]
pub struct ArchiveArgs {
    /// 全宗号: the fonds code that starts every archive number.
    #[arg(long, env = "HENJI_FONDS", default_value = "X001")]
    pub fonds: String,
    /// The archive-number pattern; item numbers count within fonds, year, retention and
    /// department.
    #[arg(long, env = "HENJI_ARCHIVE_PATTERN", default_value = crate::domain::archive::DEFAULT_PATTERN)]
    pub archive_pattern: String,
    /// `Source-Organization` in the bag-info.txt of archive packages.
    #[arg(long, env = "HENJI_ORGANIZATION", default_value = "henji")]
    pub organization: String,
}

impl ArchiveArgs {
    fn apply(&self, henji: &mut Henji) -> Result<(), String> {
        crate::domain::archive::check_fonds(&self.fonds).map_err(|e| format!("--fonds: {e}"))?;
        let settings = henji.settings_mut();
        settings.fonds = self.fonds.clone();
        settings.archive_pattern = crate::domain::archive::ArchivePattern::parse(&self.archive_pattern).map_err(|e| format!("--archive-pattern: {e}"))?;
        settings.organization = self.organization.clone();
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Only records of this department (code).
    #[arg(long)]
    pub department: Option<String>,
    /// Only records of this year.
    #[arg(long)]
    pub year: Option<i64>,
    /// The zip to write (one BagIt bag per record, each in a folder named by its archive number).
    #[arg(long)]
    pub out: PathBuf,
    /// For records with sealed content: the key-encryption key (an id in this keyring, held by
    /// the receiving installation too) that wraps each document's data key in the package.
    /// By default, the key that wraps it here.
    #[arg(long, value_name = "KEK_ID")]
    pub transfer_key: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user.
    Add(UserAddArgs),
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub display_name: String,
    /// At least 8 characters.
    #[arg(long, env = "HENJI_USER_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Department code, e.g. BGS.
    #[arg(long)]
    pub department: String,
    /// clerk, staff, leader, archivist, auditor or admin; repeat for several.
    #[arg(long = "role", required = true)]
    pub roles: Vec<Role>,
    /// public, internal, confidential or secret.
    #[arg(long, default_value = "internal")]
    pub clearance: Classification,
}

#[derive(Subcommand, Debug)]
pub enum DepartmentCommand {
    /// Add a department.
    Add(DepartmentAddArgs),
}

#[derive(Args, Debug)]
pub struct DepartmentAddArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Upper-case letters and digits, e.g. BGS.
    #[arg(long)]
    pub code: String,
    /// e.g. 办公室
    #[arg(long)]
    pub name: String,
}

pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User(UserCommand::Add(args)) => user_add(args).await,
        Command::Department(DepartmentCommand::Add(args)) => department_add(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Reindex(args) => reindex(args).await,
        Command::Keys(KeysCommand::Status(args)) => keys_status(args).await,
        Command::Keys(KeysCommand::Rotate(args)) => keys_rotate(args).await,
        Command::Export(args) => export(args).await,
        Command::Import(args) => import(args).await,
        Command::Backup(args) => backup(args).await,
        Command::Restore(args) => restore(args).await,
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("henji: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn open_existing(storage: &StorageArgs) -> Result<Henji, String> {
    setup::open(&storage.config(), OpenMode::Existing).await.map(|(h, _)| h).map_err(|e| e.to_string())
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let admin_password = std::env::var("HENJI_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    let config = args.storage.config();
    let (mut henji, first) = setup::open(&config, OpenMode::Create { admin_password }).await.map_err(|e| e.to_string())?;
    args.archive.apply(&mut henji)?;
    henji.set_extraction(args.extraction.settings());
    henji.set_cache_budget(args.cache_mib.saturating_mul(1 << 20));
    henji.set_index_memory(args.index_memory_mib.saturating_mul(1 << 20));
    let fixity_interval = crate::services::fixity::parse_interval(&args.fixity_interval).map_err(|e| format!("--fixity-interval: {e}"))?;
    let session_ttl = crate::services::fixity::parse_interval(&args.session_ttl).map_err(|e| format!("--session-ttl: {e}"))?.ok_or("--session-ttl: a sign-in must last longer than 0")?;
    henji.settings_mut().session_ttl = chrono::Duration::from_std(session_ttl).map_err(|_| "--session-ttl: too long")?;
    if first.created_catalog {
        eprintln!("henji: created a new installation in {}", config.data_dir.display());
        eprintln!("henji:   catalog {}", config.catalog_url().map_err(|e| e.to_string())?);
        eprintln!("henji:   object store {}", henji.store_description());
    }
    if let Some(path) = &first.generated_key_file {
        eprintln!("henji: WARNING: no keys were given, so a key-encryption key was generated in {}", path.display());
        eprintln!("henji: WARNING:   sealed data is unreadable without it: back it up apart from the data;");
        eprintln!("henji: WARNING:   production must supply its own keys (HENJI_KEYS or HENJI_KEY_FILE)");
    }
    if config.durability == Durability::Os {
        eprintln!("henji: WARNING: --durability os: a 2xx means handed to the operating system; a crash of the machine or a");
        eprintln!("henji: WARNING:   power cut can lose the writes of its last seconds that were answered as saved");
    }
    if first.admin_created {
        match &first.generated_admin_password {
            Some(p) => eprintln!("henji: created administrator `admin` (department ADMIN) with the generated password {p}\nhenji:   it is shown only now; set HENJI_ADMIN_PASSWORD on a first start to choose it"),
            None => eprintln!("henji: created administrator `admin` (department ADMIN) with the password from HENJI_ADMIN_PASSWORD"),
        }
    }
    if args.demo {
        let loaded = henji.load_demo().await.map_err(|e| format!("loading the demo: {e}"))?;
        if loaded.already {
            eprintln!("henji: demo data already loaded");
        } else {
            eprintln!("henji: loaded demo data: {} documents; users {} with password {:?}", loaded.documents, loaded.users.join(", "), loaded.password);
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    henji.start_search().await;
    henji.start_extraction().await;
    if let Some(interval) = fixity_interval {
        henji.schedule_fixity(interval);
    }
    henji.schedule_anchoring(crate::services::ANCHOR_INTERVAL);
    crate::serve_on(listener, henji, args.max_body, shutdown_signal()).await.map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C: stop accepting, finish what is in flight, exit 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn user_add(args: UserAddArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args.storage).await?;
    let new = NewUser { username: args.username, display_name: args.display_name, password: args.password, department: args.department, roles: args.roles, clearance: args.clearance };
    let user = henji.create_user(&Principal::console(), new).await.map_err(|e| e.to_string())?;
    println!("added user {} ({}) in {} with colour {}", user.username, user.display_name, user.department, user.color);
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn department_add(args: DepartmentAddArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args.storage).await?;
    let d = henji.create_department(&Principal::console(), &args.code, &args.name).await.map_err(|e| e.to_string())?;
    println!("added department {} ({})", d.code, d.name);
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn reindex(args: StorageArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args).await?;
    let started = std::time::Instant::now();
    let count = henji.reindex(&Principal::console()).await.map_err(|e| e.to_string())?;
    println!("indexed {count} documents into {} in {:.1} s", args.config().index_dir().display(), started.elapsed().as_secs_f64());
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn keys_status(args: StorageArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args).await?;
    let status = henji.key_status(&Principal::console()).await.map_err(|e| e.to_string())?;
    println!("{:<40} {:>10}  state", "key-encryption key", "data keys");
    for s in &status {
        let state = match (s.active, s.in_keyring) {
            (true, _) => "active",
            (false, true) => "in keyring",
            (false, false) => "MISSING from keyring",
        };
        println!("{:<40} {:>10}  {state}", s.kek, s.data_keys);
    }
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn keys_rotate(args: StorageArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args).await?;
    let from_file = std::env::var("HENJI_KEYS").map(|k| k.trim().is_empty()).unwrap_or(true);
    let started = std::time::Instant::now();
    let report = henji.rotate_keys(&Principal::console(), from_file).await.map_err(|e| e.to_string())?;
    println!("re-wrapped {} data keys under {} in {:.2} s", report.rewrapped, report.new_kek, started.elapsed().as_secs_f64());
    println!("every data key is now wrapped by {}; older keys may be removed from the keyring", report.new_kek);
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn export(args: ExportArgs) -> Result<ExitCode, String> {
    let mut henji = open_existing(&args.storage).await?;
    args.archive.apply(&mut henji)?;
    let request = ExportRequest { department: args.department.clone(), year: args.year, transfer_key: args.transfer_key.clone() };
    let r = henji.export_archive(&Principal::console(), &request, &args.out).await.map_err(|e| e.to_string())?;
    let mb = r.bytes as f64 / 1e6;
    println!("wrote {} archive packages ({mb:.1} MB) to {} in {:.1} s ({:.0} MB/s)", r.packages, r.path.display(), r.seconds, mb / r.seconds.max(1e-9));
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args.storage).await?;
    let records = henji.import_packages(&Principal::console(), &args.file).await.map_err(|e| e.to_string())?;
    for r in &records {
        println!("imported {} (document {})", r.archive_no, r.document);
    }
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn backup(args: BackupArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args.storage).await?;
    let r = henji.backup(&Principal::console(), &args.to, &args.storage.data_dir, args.keep).await.map_err(|e| format!("--to: {e}"))?;
    println!(
        "backup {} to {}: copied {} objects ({:.1} MB), {} already there, removed {} disposed, catalog snapshot {:.1} MB, {} older generations removed, in {:.2} s",
        r.generation,
        r.target,
        r.copy.objects_copied,
        r.copy.bytes_copied as f64 / 1e6,
        r.copy.objects_present,
        r.disposed_removed,
        r.catalog_bytes as f64 / 1e6,
        r.generations_removed,
        r.seconds
    );
    henji.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn restore(args: RestoreArgs) -> Result<ExitCode, String> {
    let at = match &args.at {
        Some(t) => Some(chrono::DateTime::parse_from_rfc3339(t).map_err(|_| format!("--at: {t:?} is not an RFC 3339 time such as 2026-12-07T18:00:00Z"))?.with_timezone(&chrono::Utc)),
        None => None,
    };
    let r = crate::services::backup::restore(&args.storage.config(), &args.from, at).await.map_err(|e| e.to_string())?;
    println!(
        "restored {} from {}: catalog {:.1} MB, {} objects ({:.1} MB), {} documents indexed, in {:.1} s",
        r.generation,
        r.source,
        r.catalog_bytes as f64 / 1e6,
        r.copy.objects_copied,
        r.copy.bytes_copied as f64 / 1e6,
        r.documents_indexed,
        r.seconds
    );
    match r.first_bad {
        None => {
            println!("verify: ok");
            Ok(ExitCode::SUCCESS)
        }
        Some((object, problem)) => {
            println!("verify: BAD {object}: {problem}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn verify(args: StorageArgs) -> Result<ExitCode, String> {
    let henji = open_existing(&args).await?;
    let started = std::time::Instant::now();
    let report = henji.verify().await.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "checked {} blobs ({:.1} MB, {:.0} MB/s), {} manifests, {} catalog revisions, {} extracted texts, {} audit events in {:.2} s",
        report.blobs_checked,
        report.bytes_checked as f64 / 1e6,
        report.bytes_checked as f64 / 1e6 / secs.max(1e-9),
        report.manifests_checked,
        report.revisions_checked,
        report.texts_checked,
        report.audit_events,
        secs
    );
    if report.unreferenced_manifests > 0 {
        println!("note: {} manifests are not referenced by the catalog (left by an interrupted write; harmless)", report.unreferenced_manifests);
    }
    henji.close().await;
    match report.bad.first() {
        None => {
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Some(first) => {
            println!("BAD {}: {}", first.object, first.problem);
            for other in &report.bad[1..] {
                println!("bad {}: {}", other.object, other.problem);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
