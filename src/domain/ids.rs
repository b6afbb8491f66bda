//! Identifiers. Every id that arrives in a path is parsed here before any lookup, so a
//! malformed id never reaches the catalog or the object store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected 64 lowercase hexadecimal characters (a SHA-256 digest)")]
    NotSha256,
    #[error("expected a ULID (26 characters of Crockford base32)")]
    NotUlid,
}

/// A SHA-256 digest, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub fn from_hasher(hasher: Sha256) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(hasher.finalize().as_slice());
        Self(out)
    }

    pub fn to_hex(&self) -> String {
        // The digits are ASCII, so this never falls back.
        String::from_utf8(self.hex_digits().to_vec()).unwrap_or_default()
    }

    /// The 64 lowercase hex digits, on the stack. `hex::encode` builds its String a character
    /// at a time through an iterator, which every request paid for more than once (the token's
    /// digest, the revision id): about 2,000 instructions each.
    fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }
}

impl FromStr for Sha256Digest {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        // Uppercase hex would name the same digest twice; only one spelling is accepted.
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(IdError::NotSha256);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError::NotSha256)?;
        Ok(Self(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex_digits()).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A revision id: the SHA-256 of the revision's canonical manifest bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevisionId(pub Sha256Digest);

impl RevisionId {
    pub fn of_manifest(canonical_bytes: &[u8]) -> Self {
        Self(Sha256Digest::of(canonical_bytes))
    }
}

impl FromStr for RevisionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        s.parse().map(Self)
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A document id: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct DocumentId(pub ulid::Ulid);

impl DocumentId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new())
    }
}

impl Default for DocumentId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for DocumentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        // Checked by hand first: the ulid parser accepts lower case, and one document must
        // have one spelling so that object-store keys and catalog rows always agree.
        if s.len() != 26 || !s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
            return Err(IdError::NotUlid);
        }
        ulid::Ulid::from_string(s).map(Self).map_err(|_| IdError::NotUlid)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for DocumentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_accepts_only_lowercase_hex_of_the_right_length() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_hex().parse::<Sha256Digest>(), Ok(d));
        assert_eq!(d.to_string(), d.to_hex());
        assert!(d.to_hex().to_uppercase().parse::<Sha256Digest>().is_err());
        assert!("../../etc/passwd".parse::<Sha256Digest>().is_err());
        assert!(format!("{}0", d.to_hex()).parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn document_ids_round_trip_and_reject_other_shapes() {
        let id = DocumentId::new();
        assert_eq!(id.to_string().parse::<DocumentId>(), Ok(id));
        assert!(id.to_string().to_lowercase().parse::<DocumentId>().is_err());
        assert!("..%2f..%2fetc".parse::<DocumentId>().is_err());
        assert!("0".repeat(300).parse::<DocumentId>().is_err());
    }
}
