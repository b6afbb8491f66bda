//! The keyring: key-encryption keys (KEK) by id, from `HENJI_KEYS`, from `HENJI_KEY_FILE`, or
//! from the key file a first start generates under `<data-dir>/keys/`. One entry per line (or
//! comma-separated in `HENJI_KEYS`): `<id>:<base64 of 32 bytes>`; `#` starts a comment. The last
//! entry is the active key, the one new data keys are wrapped with.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::domain::sealing::SecretKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("{source_name}: entry {entry}: {problem} (expected <id>:<base64 of 32 bytes>)")]
    BadEntry { source_name: String, entry: usize, problem: &'static str },
    #[error("{0}: holds no keys")]
    Empty(String),
    #[error("{source_name}: key id {id:?} appears twice")]
    Duplicate { source_name: String, id: String },
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("keys given in HENJI_KEYS cannot be added to; put the new key last in HENJI_KEYS and run the rotation again")]
    NotAFile,
}

/// Where the keys came from, so the start can say it and rotation knows where to add one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment => f.write_str("HENJI_KEYS"),
            KeySource::File(p) => write!(f, "key file {}", p.display()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<(String, SecretKey)>,
    pub source: KeySource,
}

impl Keyring {
    pub fn parse(text: &str, source: KeySource) -> Result<Self, KeyringError> {
        let source_name = source.to_string();
        let mut keys: Vec<(String, SecretKey)> = Vec::new();
        let entries = text.split(['\n', ',']).map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty());
        for (i, entry) in entries.enumerate() {
            let bad = |problem| KeyringError::BadEntry { source_name: source_name.clone(), entry: i + 1, problem };
            let (id, b64) = entry.split_once(':').ok_or_else(|| bad("no ':'"))?;
            let id = id.trim();
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                return Err(bad("the id must be 1 to 64 letters, digits, '-', '_' or '.'"));
            }
            let raw = B64.decode(b64.trim()).map_err(|_| bad("the key is not base64"))?;
            let key = SecretKey::from_slice(&raw).map_err(|_| bad("the key is not 32 bytes"))?;
            if keys.iter().any(|(k, _)| k == id) {
                return Err(KeyringError::Duplicate { source_name, id: id.to_owned() });
            }
            keys.push((id.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty(source_name));
        }
        Ok(Self { keys, source })
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyringError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io { path: path.to_owned(), source })?;
        Self::parse(&text, KeySource::File(path.to_owned()))
    }

    /// A new key file with one fresh key, readable by its owner only.
    pub fn generate_file(path: &Path) -> Result<Self, KeyringError> {
        let io = |source| KeyringError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
            restrict(dir, 0o700).map_err(io)?;
        }
        let (id, key) = new_entry();
        let text = format!("# henji key-encryption keys: <id>:<base64>; the last one is active. Keep a copy apart from the data.\n{id}:{}\n", B64.encode(key.expose()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        sync_parent(path).map_err(io)?;
        Ok(Self { keys: vec![(id, key)], source: KeySource::File(path.to_owned()) })
    }

    /// Adds a fresh key at the end of the key file (it becomes the active one) and returns its id.
    pub fn add_to_file(&mut self) -> Result<String, KeyringError> {
        let KeySource::File(path) = &self.source else { return Err(KeyringError::NotAFile) };
        let io = |source| KeyringError::Io { path: path.clone(), source };
        let (id, key) = new_entry();
        let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(io)?;
        file.write_all(format!("{id}:{}\n", B64.encode(key.expose())).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        self.keys.push((id.clone(), key));
        Ok(id)
    }

    pub fn active(&self) -> (&str, &SecretKey) {
        // `parse` and `generate_file` never build an empty keyring.
        let (id, key) = &self.keys[self.keys.len() - 1];
        (id, key)
    }

    pub fn get(&self, id: &str) -> Option<&SecretKey> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }
}

fn new_entry() -> (String, SecretKey) {
    let key = SecretKey::generate();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    // Two rotations in one second still get distinct ids.
    let mut salt = [0u8; 3];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    (format!("kek-{stamp}-{}", hex::encode(salt)), key)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if cfg!(unix) => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_the_last_is_active() {
        let a = B64.encode([1u8; 32]);
        let b = B64.encode([2u8; 32]);
        let ring = Keyring::parse(&format!("# comment\nold:{a}\nnew:{b}\n"), KeySource::Environment).unwrap();
        assert_eq!(ring.active().0, "new");
        assert_eq!(ring.get("old").unwrap().expose(), &[1u8; 32]);
        let ring = Keyring::parse(&format!("old:{a},new:{b}"), KeySource::Environment).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["old", "new"]);
    }

    #[test]
    fn bad_entries_are_named_without_echoing_the_key() {
        let short = B64.encode([1u8; 16]);
        let err = Keyring::parse(&format!("k1:{short}"), KeySource::Environment).unwrap_err().to_string();
        assert!(err.contains("entry 1") && err.contains("32 bytes") && !err.contains(&short), "{err}");
        assert!(Keyring::parse("", KeySource::Environment).is_err());
        assert!(Keyring::parse("k1:not base64!", KeySource::Environment).is_err());
        let a = B64.encode([1u8; 32]);
        assert!(matches!(Keyring::parse(&format!("k:{a}\nk:{a}"), KeySource::Environment), Err(KeyringError::Duplicate { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn generated_files_are_owner_only_and_grow_on_rotation() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let mut ring = Keyring::generate_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let first = ring.active().0.to_owned();
        let second = ring.add_to_file().unwrap();
        let reread = Keyring::from_file(&path).unwrap();
        assert_eq!(reread.ids().collect::<Vec<_>>(), [first.as_str(), second.as_str()]);
        assert_eq!(reread.active().1.expose(), ring.active().1.expose());
        assert!(Keyring::generate_file(&path).is_err(), "never overwrites a key file");
    }
}
