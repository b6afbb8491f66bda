//! Sealing (加密存储): AES-256-GCM under a per-document data key, with where a value belongs
//! bound in as associated data, so a ciphertext copied to another field, role or document fails
//! to open instead of opening as the wrong plaintext. Pure computation; keys come from the
//! keyring resource and sealed bytes go to the stores through the services.
//!
//! Three shapes:
//! - a *value* (a sensitive field): `nonce(12) ‖ ciphertext ‖ tag(16)`;
//! - a *wrapped key* (a data key under a key-encryption key): the same shape;
//! - a *sealed blob* (a classified body or attachment), streamed in chunks so memory stays
//!   bounded: a 16-byte header `"HNJ1" ‖ chunk size (u32 BE) ‖ random prefix (8)`, then chunks
//!   of `ciphertext ‖ tag`. Chunk `i` uses the nonce `prefix ‖ u32 BE (2i + last)`, so chunks
//!   cannot be reordered, dropped or truncated at the end without a tag failing (the STREAM
//!   construction of Hoang, Reyhanitabar, Rogaway and Vizár).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use bytes::{Buf, Bytes, BytesMut};
use rand::RngCore;

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const MAGIC: &[u8; 4] = b"HNJ1";
pub const BLOB_HEADER_BYTES: usize = 16;
/// Plaintext bytes per sealed chunk: large enough that the per-chunk cost vanishes next to
/// AES-GCM itself, small enough that a reader holds little.
pub const BLOB_CHUNK_BYTES: usize = 256 * 1024;

/// Opening failed: the bytes were altered, moved, or sealed under another key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("does not open: altered, moved from elsewhere, or sealed under another key")]
    Tampered,
    #[error("is cut short or malformed")]
    Malformed,
    #[error("a key must be {KEY_BYTES} bytes")]
    BadKey,
}

/// 32 random bytes; either a document's data key (DEK) or a key-encryption key (KEK).
#[derive(Clone)]
pub struct SecretKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, SealError> {
        Ok(Self(bytes.try_into().map_err(|_| SealError::BadKey)?))
    }

    pub fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn cipher(&self) -> LessSafeKey {
        // aws-lc refuses a key only for its length, and this one is always 32 bytes.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key is an AES-256 key"))
    }
}

/// Where a sealed thing lives; the associated data of every seal. `base` is the revision the
/// value was written on top of (`root` for a document's first revision): a revision's own id is
/// the digest of a manifest that holds the ciphertext, so it cannot be inside the ciphertext.
pub enum Place<'a> {
    Field { document: &'a str, base: &'a str, field: &'a str },
    Blob { document: &'a str, base: &'a str, role: BlobRole },
    DataKey { document: &'a str, kek: &'a str },
    /// A file of the sealed search index.
    IndexFile { name: &'a str },
    /// The known value that tells a right key from a wrong one at start.
    KeyCheck { kek: &'a str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobRole {
    Body,
    Attachment,
    /// The text extracted from an attachment (OCR and the like), sealed like its source.
    Text,
}

impl BlobRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BlobRole::Body => "body",
            BlobRole::Attachment => "attachment",
            BlobRole::Text => "text",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [BlobRole::Body, BlobRole::Attachment, BlobRole::Text].into_iter().find(|r| r.as_str() == word)
    }
}

impl Place<'_> {
    /// NUL-separated, so no choice of names can make two places spell the same bytes.
    fn associated_data(&self) -> Vec<u8> {
        let parts: Vec<&str> = match self {
            Place::Field { document, base, field } => vec!["henji/field/1", document, base, field],
            Place::Blob { document, base, role } => vec!["henji/blob/1", document, base, role.as_str()],
            Place::DataKey { document, kek } => vec!["henji/dek/1", document, kek],
            Place::IndexFile { name } => vec!["henji/index-file/1", name],
            Place::KeyCheck { kek } => vec!["henji/key-check/1", kek],
        };
        parts.join("\0").into_bytes()
    }
}

/// Seals a small value with a fresh random nonce.
pub fn seal(key: &SecretKey, place: &Place<'_>, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(NONCE_BYTES + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = encrypt(&key.cipher(), &nonce, &place.associated_data(), &mut out[NONCE_BYTES..]);
    out.extend_from_slice(&tag);
    out
}

pub fn open(key: &SecretKey, place: &Place<'_>, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Malformed);
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (body, tag) = rest.split_at(rest.len() - TAG_BYTES);
    let mut plain = body.to_vec();
    decrypt(&key.cipher(), nonce, &place.associated_data(), &mut plain, tag)?;
    Ok(plain)
}

// AES-256-GCM is aws-lc's (already compiled in as the S3 client's TLS crypto), at openssl's
// speed; the format is plain AES-GCM, pinned by the known answers in the tests.
fn encrypt(cipher: &LessSafeKey, nonce: &[u8; NONCE_BYTES], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_BYTES] {
    let mut out = [0u8; TAG_BYTES];
    // AES-GCM refuses only messages beyond 64 GiB; chunks and values are far below that.
    if let Ok(tag) = cipher.seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf) {
        out.copy_from_slice(tag.as_ref());
    }
    out
}

fn decrypt(cipher: &LessSafeKey, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Result<(), SealError> {
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
    if tag.len() != TAG_BYTES {
        return Err(SealError::Malformed);
    }
    cipher.open_in_place_separate_tag(nonce, Aad::from(aad), tag, buf).map(|_| ()).map_err(|_| SealError::Tampered)
}

/// AES-256-GCM over a message that arrives in pieces, written out of place: a blob's chunk is
/// gathered from an upload's pieces (or a store's) and encrypted on its way into the chunk
/// buffer, instead of copied there and then encrypted where it lies. aws-lc's Rust API takes
/// one contiguous message per call,
/// so this is its EVP interface, the one `openssl speed -evp` measures; the output is the same
/// AES-GCM (`a_chunk_sealed_in_pieces_is_the_one_shot_seal` checks it against `LessSafeKey`).
struct GcmChunks {
    ctx: std::ptr::NonNull<aws_lc_sys::EVP_CIPHER_CTX>,
    encrypting: bool,
}

// The context is owned by this value alone and only used through `&mut self`.
unsafe impl Send for GcmChunks {}

impl GcmChunks {
    fn new(key: &SecretKey, encrypting: bool) -> Self {
        // SAFETY: a fresh context is set up with a 32-byte key for the 32-byte-key cipher;
        // the IV is given per chunk by `start`. Only allocation can fail, as in any Rust alloc.
        unsafe {
            let ctx = std::ptr::NonNull::new(aws_lc_sys::EVP_CIPHER_CTX_new()).expect("allocating an AES-GCM context");
            let init = if encrypting { aws_lc_sys::EVP_EncryptInit_ex } else { aws_lc_sys::EVP_DecryptInit_ex };
            let ok = init(ctx.as_ptr(), aws_lc_sys::EVP_aes_256_gcm(), std::ptr::null_mut(), key.0.as_ptr(), std::ptr::null());
            assert_eq!(ok, 1, "AES-256-GCM takes a 32-byte key");
            Self { ctx, encrypting }
        }
    }

    /// Begins a message under `nonce` (the cipher's default 12-byte IV) with `aad`.
    fn start(&mut self, nonce: &[u8; NONCE_BYTES], aad: &[u8]) {
        let init = if self.encrypting { aws_lc_sys::EVP_EncryptInit_ex } else { aws_lc_sys::EVP_DecryptInit_ex };
        // SAFETY: the key and cipher stay from `new`; the IV is 12 bytes, the default length.
        let ok = unsafe { init(self.ctx.as_ptr(), std::ptr::null(), std::ptr::null_mut(), std::ptr::null(), nonce.as_ptr()) };
        assert_eq!(ok, 1, "a 12-byte IV for AES-GCM");
        if !aad.is_empty() {
            self.update_raw(aad.as_ptr(), aad.len(), std::ptr::null_mut());
        }
    }

    /// Encrypts or decrypts `input` into the spare capacity of `output`, which must hold it.
    fn update(&mut self, input: &[u8], output: &mut BytesMut) {
        assert!(output.capacity() - output.len() >= input.len(), "the chunk buffer holds a chunk");
        // SAFETY: the spare capacity holds `input.len()` bytes, GCM writes exactly as many as
        // it reads, and those bytes are initialised by the time the length covers them.
        unsafe {
            let out = output.as_mut_ptr().add(output.len());
            self.update_raw(input.as_ptr(), input.len(), out);
            output.set_len(output.len() + input.len());
        }
    }

    /// `out` null feeds associated data.
    fn update_raw(&mut self, input: *const u8, len: usize, out: *mut u8) {
        let update = if self.encrypting { aws_lc_sys::EVP_EncryptUpdate } else { aws_lc_sys::EVP_DecryptUpdate };
        let mut done = 0;
        while done < len {
            // The interface counts in C ints; chunks are far smaller, but stay correct anyway.
            let step = (len - done).min(1 << 30);
            let mut written: std::os::raw::c_int = 0;
            let out = if out.is_null() { out } else { out.wrapping_add(done) };
            // SAFETY: `input` holds `len` bytes and `out`, when not null, room for as many.
            let ok = unsafe { update(self.ctx.as_ptr(), out, &mut written, input.add(done), step as std::os::raw::c_int) };
            assert!(ok == 1 && (out.is_null() || written as usize == step), "AES-GCM update");
            done += step;
        }
    }

    /// Ends an encrypted message and gives its tag.
    fn seal_tag(&mut self) -> [u8; TAG_BYTES] {
        let mut tag = [0u8; TAG_BYTES];
        let mut written: std::os::raw::c_int = 0;
        // SAFETY: GCM writes nothing at the end; the tag buffer is 16 bytes.
        unsafe {
            let ok = aws_lc_sys::EVP_EncryptFinal_ex(self.ctx.as_ptr(), tag.as_mut_ptr(), &mut written);
            assert_eq!(ok, 1, "AES-GCM final");
            let ok = aws_lc_sys::EVP_CIPHER_CTX_ctrl(self.ctx.as_ptr(), aws_lc_sys::EVP_CTRL_GCM_GET_TAG, TAG_BYTES as std::os::raw::c_int, tag.as_mut_ptr().cast());
            assert_eq!(ok, 1, "AES-GCM tag");
        }
        tag
    }

    /// Ends a decrypted message: whether `tag` authenticates it.
    fn tag_matches(&mut self, tag: &[u8; TAG_BYTES]) -> bool {
        let mut tag = *tag;
        let mut scratch = [0u8; TAG_BYTES];
        let mut written: std::os::raw::c_int = 0;
        // SAFETY: the tag is 16 bytes; GCM writes nothing at the end.
        unsafe {
            aws_lc_sys::EVP_CIPHER_CTX_ctrl(self.ctx.as_ptr(), aws_lc_sys::EVP_CTRL_GCM_SET_TAG, TAG_BYTES as std::os::raw::c_int, tag.as_mut_ptr().cast()) == 1
                && aws_lc_sys::EVP_DecryptFinal_ex(self.ctx.as_ptr(), scratch.as_mut_ptr(), &mut written) == 1
        }
    }
}

impl Drop for GcmChunks {
    fn drop(&mut self) {
        // SAFETY: made by EVP_CIPHER_CTX_new and freed only here.
        unsafe { aws_lc_sys::EVP_CIPHER_CTX_free(self.ctx.as_ptr()) }
    }
}

/// Size of a sealed blob holding `plain` bytes.
pub fn sealed_len(plain: u64) -> u64 {
    let chunks = plain.div_ceil(BLOB_CHUNK_BYTES as u64).max(1);
    BLOB_HEADER_BYTES as u64 + plain + chunks * TAG_BYTES as u64
}

/// Plaintext size of a sealed blob of `sealed` bytes (the inverse of `sealed_len`).
pub fn plain_len(sealed: u64) -> Option<u64> {
    let rest = sealed.checked_sub(BLOB_HEADER_BYTES as u64)?;
    let chunks = rest.div_ceil((BLOB_CHUNK_BYTES + TAG_BYTES) as u64).max(1);
    let plain = rest.checked_sub(chunks * TAG_BYTES as u64)?;
    (sealed_len(plain) == sealed).then_some(plain)
}

fn chunk_nonce(prefix: &[u8; 8], index: u32, last: bool) -> [u8; NONCE_BYTES] {
    let mut n = [0u8; NONCE_BYTES];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&(index.wrapping_mul(2) | u32::from(last)).to_be_bytes());
    n
}

/// Seals a stream: feed plaintext in any pieces, take sealed pieces out. A chunk's pieces are
/// held as they came (shared, not copied) until it is known whether more follows, since the
/// last chunk is sealed under its own nonce; then they are encrypted straight into the chunk
/// buffer, which is handed out as it is. Once the reader drops a piece, its buffer is used
/// again (fresh buffers would cost a page fault every 4 KiB).
pub struct BlobSealer {
    gcm: GcmChunks,
    aad: Vec<u8>,
    prefix: [u8; 8],
    index: u32,
    /// The plaintext of the chunk being gathered.
    plain: Vec<Bytes>,
    plain_len: usize,
    sealed: BytesMut,
    header_sent: bool,
}

fn chunk_buffer() -> BytesMut {
    BytesMut::with_capacity(BLOB_CHUNK_BYTES + TAG_BYTES)
}

impl BlobSealer {
    pub fn new(key: &SecretKey, place: &Place<'_>) -> Self {
        let mut prefix = [0u8; 8];
        rand::rng().fill_bytes(&mut prefix);
        Self::with_prefix(key, place, prefix)
    }

    /// A sealer that repeats an earlier sealing of the same plaintext byte for byte: the same
    /// key, place and nonce prefix (read from that sealing's header with `blob_prefix`). Used
    /// only to re-create a sealed blob another installation made, never to seal new content.
    pub fn with_prefix(key: &SecretKey, place: &Place<'_>, prefix: [u8; 8]) -> Self {
        Self { gcm: GcmChunks::new(key, true), aad: place.associated_data(), prefix, index: 0, plain: Vec::new(), plain_len: 0, sealed: chunk_buffer(), header_sent: false }
    }

    fn header(&mut self, out: &mut Vec<Bytes>) {
        if !self.header_sent {
            let mut h = Vec::with_capacity(BLOB_HEADER_BYTES);
            h.extend_from_slice(MAGIC);
            h.extend_from_slice(&(BLOB_CHUNK_BYTES as u32).to_be_bytes());
            h.extend_from_slice(&self.prefix);
            out.push(Bytes::from(h));
            self.header_sent = true;
        }
    }

    fn seal_pending(&mut self, last: bool) -> Bytes {
        self.sealed.reserve(BLOB_CHUNK_BYTES + TAG_BYTES);
        self.gcm.start(&chunk_nonce(&self.prefix, self.index, last), &self.aad);
        for piece in self.plain.drain(..) {
            self.gcm.update(&piece, &mut self.sealed);
        }
        self.plain_len = 0;
        let tag = self.gcm.seal_tag();
        self.sealed.extend_from_slice(&tag);
        self.index += 1;
        self.sealed.split().freeze()
    }

    /// Sealed pieces for every whole chunk now available (possibly none), in order.
    pub fn push(&mut self, mut data: Bytes) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.header(&mut out);
        // A chunk is sealed only once more data follows it, so the last one can be flagged.
        while !data.is_empty() {
            if self.plain_len == BLOB_CHUNK_BYTES {
                let chunk = self.seal_pending(false);
                out.push(chunk);
            }
            let take = (BLOB_CHUNK_BYTES - self.plain_len).min(data.len());
            self.plain.push(data.split_to(take));
            self.plain_len += take;
        }
        out
    }

    pub fn finish(mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.header(&mut out);
        let chunk = self.seal_pending(true);
        out.push(chunk);
        out
    }
}

/// The nonce prefix in the header of a sealed blob (its first `BLOB_HEADER_BYTES` bytes).
pub fn blob_prefix(header: &[u8]) -> Result<[u8; 8], SealError> {
    if header.len() != BLOB_HEADER_BYTES || &header[..4] != MAGIC || header[4..8] != (BLOB_CHUNK_BYTES as u32).to_be_bytes() {
        return Err(SealError::Malformed);
    }
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&header[8..16]);
    Ok(prefix)
}

/// Opens a stream sealed by `BlobSealer`: feed sealed bytes, take plaintext pieces out;
/// `finish` insists the last chunk was seen. As in sealing, a chunk's pieces are held until it
/// is known whether it is the last, then decrypted straight into the plaintext buffer, which
/// is handed out only once the chunk's tag has been checked.
pub struct BlobOpener {
    gcm: GcmChunks,
    aad: Vec<u8>,
    header: Vec<u8>,
    prefix: Option<[u8; 8]>,
    index: u32,
    /// The sealed bytes (ciphertext, then tag) of the chunk being gathered.
    sealed: Vec<Bytes>,
    sealed_len: usize,
    plain: BytesMut,
}

impl BlobOpener {
    pub fn new(key: &SecretKey, place: &Place<'_>) -> Self {
        Self { gcm: GcmChunks::new(key, false), aad: place.associated_data(), header: Vec::new(), prefix: None, index: 0, sealed: Vec::new(), sealed_len: 0, plain: chunk_buffer() }
    }

    pub fn push(&mut self, mut data: Bytes) -> Result<Vec<Bytes>, SealError> {
        let mut out = Vec::new();
        if self.prefix.is_none() {
            let take = (BLOB_HEADER_BYTES - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data.advance(take);
            if self.header.len() < BLOB_HEADER_BYTES {
                return Ok(out);
            }
            if &self.header[..4] != MAGIC || self.header[4..8] != (BLOB_CHUNK_BYTES as u32).to_be_bytes() {
                return Err(SealError::Malformed);
            }
            let mut prefix = [0u8; 8];
            prefix.copy_from_slice(&self.header[8..16]);
            self.prefix = Some(prefix);
        }
        let whole = BLOB_CHUNK_BYTES + TAG_BYTES;
        while !data.is_empty() {
            // A full chunk followed by more bytes cannot be the last one.
            if self.sealed_len == whole {
                let plain = self.open_pending(false)?;
                out.push(plain);
            }
            let take = (whole - self.sealed_len).min(data.len());
            self.sealed.push(data.split_to(take));
            self.sealed_len += take;
        }
        Ok(out)
    }

    fn open_pending(&mut self, last: bool) -> Result<Bytes, SealError> {
        let prefix = self.prefix.ok_or(SealError::Malformed)?;
        let Some(mut body_left) = self.sealed_len.checked_sub(TAG_BYTES) else { return Err(SealError::Malformed) };
        self.plain.clear();
        self.plain.reserve(BLOB_CHUNK_BYTES + TAG_BYTES);
        self.gcm.start(&chunk_nonce(&prefix, self.index, last), &self.aad);
        let mut tag = [0u8; TAG_BYTES];
        let mut tag_len = 0;
        for piece in self.sealed.drain(..) {
            let body = body_left.min(piece.len());
            self.gcm.update(&piece[..body], &mut self.plain);
            body_left -= body;
            // The tag is the last 16 bytes, which may straddle pieces.
            let rest = &piece[body..];
            tag[tag_len..tag_len + rest.len()].copy_from_slice(rest);
            tag_len += rest.len();
        }
        self.sealed_len = 0;
        if !self.gcm.tag_matches(&tag) {
            self.plain.clear();
            return Err(SealError::Tampered);
        }
        self.index += 1;
        Ok(self.plain.split().freeze())
    }

    /// The plaintext of the final chunk; fails if the stream was cut short.
    pub fn finish(mut self) -> Result<Bytes, SealError> {
        if self.prefix.is_none() || self.sealed_len < TAG_BYTES {
            return Err(SealError::Malformed);
        }
        self.open_pending(true)
    }
}

/// Opens a whole sealed blob held in memory (shared, not copied: the opener reads its chunks
/// where they lie).
pub fn open_blob(key: &SecretKey, place: &Place<'_>, sealed: Bytes) -> Result<Vec<u8>, SealError> {
    let mut opener = BlobOpener::new(key, place);
    let mut plain = opener.push(sealed)?.concat();
    plain.extend(opener.finish()?);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(document: &'a str, field: &'a str) -> Place<'a> {
        Place::Field { document, base: "root", field }
    }

    #[test]
    fn values_open_only_where_they_were_sealed() {
        let key = SecretKey::generate();
        let sealed = seal(&key, &field("D1", "姓名"), "张三".as_bytes());
        assert_eq!(open(&key, &field("D1", "姓名"), &sealed).unwrap(), "张三".as_bytes());
        assert_eq!(open(&key, &field("D2", "姓名"), &sealed), Err(SealError::Tampered));
        assert_eq!(open(&key, &field("D1", "电话"), &sealed), Err(SealError::Tampered));
        assert_eq!(open(&key, &Place::Field { document: "D1", base: "abc", field: "姓名" }, &sealed), Err(SealError::Tampered));
        assert_eq!(open(&SecretKey::generate(), &field("D1", "姓名"), &sealed), Err(SealError::Tampered));
        let mut flipped = sealed.clone();
        flipped[14] ^= 1;
        assert_eq!(open(&key, &field("D1", "姓名"), &flipped), Err(SealError::Tampered));
        assert_ne!(seal(&key, &field("D1", "姓名"), b"x"), seal(&key, &field("D1", "姓名"), b"x"), "fresh nonce per seal");
    }

    fn seal_in_pieces(key: &SecretKey, place: &Place<'_>, data: &[u8], piece: usize) -> Vec<u8> {
        let mut s = BlobSealer::new(key, place);
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            out.extend(s.push(Bytes::copy_from_slice(p)).concat());
        }
        out.extend(s.finish().concat());
        out
    }

    #[test]
    fn blobs_round_trip_at_every_size_and_size_is_predictable() {
        let key = SecretKey::generate();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Attachment };
        for len in [0, 1, BLOB_CHUNK_BYTES - 1, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + 1, 3 * BLOB_CHUNK_BYTES] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for piece in [1000, 65536, BLOB_CHUNK_BYTES + 5] {
                let sealed = seal_in_pieces(&key, &place, &data, piece);
                assert_eq!(sealed.len() as u64, sealed_len(len as u64));
                assert_eq!(plain_len(sealed.len() as u64), Some(len as u64));
                let mut opener = BlobOpener::new(&key, &place);
                let mut plain = Vec::new();
                for p in sealed.chunks(4093) {
                    plain.extend(opener.push(Bytes::copy_from_slice(p)).unwrap().concat());
                }
                plain.extend(opener.finish().unwrap());
                assert_eq!(plain, data, "len {len} piece {piece}");
            }
        }
    }

    #[test]
    fn altered_truncated_or_moved_blobs_fail() {
        let key = SecretKey::generate();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Body };
        let data = vec![42u8; 2 * BLOB_CHUNK_BYTES + 10];
        let sealed = seal_in_pieces(&key, &place, &data, 100_000);
        let mut flipped = sealed.clone();
        flipped[BLOB_HEADER_BYTES + BLOB_CHUNK_BYTES + 100] ^= 0x80;
        assert_eq!(open_blob(&key, &place, Bytes::copy_from_slice(&flipped)), Err(SealError::Tampered));
        let whole = BLOB_CHUNK_BYTES + TAG_BYTES;
        // Cut after a whole chunk: that chunk was not sealed as the last.
        assert!(open_blob(&key, &place, Bytes::copy_from_slice(&sealed[..BLOB_HEADER_BYTES + whole])).is_err());
        assert!(open_blob(&key, &place, Bytes::copy_from_slice(&sealed[..sealed.len() - 1])).is_err());
        let other = Place::Blob { document: "E", base: "root", role: BlobRole::Body };
        assert_eq!(open_blob(&key, &other, Bytes::copy_from_slice(&sealed)), Err(SealError::Tampered));
        // Two chunks swapped.
        let mut swapped = sealed[..BLOB_HEADER_BYTES].to_vec();
        swapped.extend_from_slice(&sealed[BLOB_HEADER_BYTES + whole..BLOB_HEADER_BYTES + 2 * whole]);
        swapped.extend_from_slice(&sealed[BLOB_HEADER_BYTES..BLOB_HEADER_BYTES + whole]);
        swapped.extend_from_slice(&sealed[BLOB_HEADER_BYTES + 2 * whole..]);
        assert_eq!(open_blob(&key, &place, Bytes::copy_from_slice(&swapped)), Err(SealError::Tampered));
        assert_eq!(open_blob(&key, &place, Bytes::copy_from_slice(&sealed)).unwrap(), data);
    }

    #[test]
    fn the_same_plaintext_never_seals_to_the_same_bytes() {
        let key = SecretKey::generate();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Body };
        assert_ne!(seal_in_pieces(&key, &place, b"same", 10), seal_in_pieces(&key, &place, b"same", 10));
    }

    #[test]
    fn a_sealing_repeats_byte_for_byte_only_with_its_own_prefix_key_and_place() {
        let key = SecretKey::generate();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Attachment };
        let data = vec![7u8; BLOB_CHUNK_BYTES + 3];
        let sealed = seal_in_pieces(&key, &place, &data, 5000);
        let prefix = blob_prefix(&sealed[..BLOB_HEADER_BYTES]).unwrap();
        let again = |key: &SecretKey, place: &Place<'_>| {
            let mut s = BlobSealer::with_prefix(key, place, prefix);
            let mut out = s.push(Bytes::copy_from_slice(&data)).concat();
            out.extend(s.finish().concat());
            out
        };
        assert_eq!(again(&key, &place), sealed);
        assert_ne!(again(&SecretKey::generate(), &place), sealed);
        assert_ne!(again(&key, &Place::Blob { document: "E", base: "root", role: BlobRole::Attachment }), sealed);
        assert_eq!(blob_prefix(&sealed[..BLOB_HEADER_BYTES - 1]), Err(SealError::Malformed));
        assert_eq!(blob_prefix(&sealed[BLOB_HEADER_BYTES..2 * BLOB_HEADER_BYTES]), Err(SealError::Malformed));
    }

    /// The chunk sealer (aws-lc's EVP interface, in pieces, out of place) against the value
    /// sealer (aws-lc's one-shot `LessSafeKey`, in place): the same chunk, the same bytes,
    /// however the pieces fall.
    #[test]
    fn a_chunk_sealed_in_pieces_is_the_one_shot_seal() {
        let key = SecretKey::generate();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Attachment };
        let data: Vec<u8> = (0..BLOB_CHUNK_BYTES + 1000).map(|i| (i * 31 % 253) as u8).collect();
        let prefix = [9u8; 8];
        for piece in [1, 15, 16, 17, 4096, BLOB_CHUNK_BYTES] {
            let mut s = BlobSealer::with_prefix(&key, &place, prefix);
            let mut sealed = Vec::new();
            for p in data.chunks(piece) {
                sealed.extend(s.push(Bytes::copy_from_slice(p)).concat());
            }
            sealed.extend(s.finish().concat());
            for (i, (plain, last)) in [(&data[..BLOB_CHUNK_BYTES], false), (&data[BLOB_CHUNK_BYTES..], true)].into_iter().enumerate() {
                let mut expected = plain.to_vec();
                let tag = encrypt(&key.cipher(), &chunk_nonce(&prefix, i as u32, last), &place.associated_data(), &mut expected);
                expected.extend_from_slice(&tag);
                let at = BLOB_HEADER_BYTES + i * (BLOB_CHUNK_BYTES + TAG_BYTES);
                assert_eq!(&sealed[at..at + expected.len()], &expected[..], "chunk {i}, pieces of {piece}");
            }
        }
    }

    /// Known answers computed with another AES-GCM implementation (Python `cryptography`):
    /// sealed blobs and values are plain AES-256-GCM, so data sealed by any earlier build, or
    /// by another library, opens and re-seals byte for byte.
    #[test]
    fn sealing_is_standard_aes_256_gcm() {
        let hex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
        let key = SecretKey::from_slice(&(0u8..32).collect::<Vec<_>>()).unwrap();
        let place = Place::Blob { document: "D", base: "root", role: BlobRole::Body };
        let plain = "批示：同意。Approved, see attached.".as_bytes();
        let prefix: [u8; 8] = std::array::from_fn(|i| 100 + i as u8);
        let mut sealer = BlobSealer::with_prefix(&key, &place, prefix);
        let mut sealed = sealer.push(Bytes::from_static(plain)).concat();
        sealed.extend(sealer.finish().concat());
        assert_eq!(sealed, hex("484e4a31000400006465666768696a6b45058ba8ece4cec50c4c5950be1d05b044d6830b631d1d52ea83d7aa5c7ebacabfb3d0c36dbdaaf5b32da71fc7328aafd842f49b18adbcaeb2"));
        assert_eq!(open_blob(&key, &place, Bytes::copy_from_slice(&sealed)).unwrap(), plain);
        let value = hex("c8c9cacbcccdcecfd0d1d2d3f4c4c13f3e45971b82ef5e79b0994b969ff1ff600bba");
        assert_eq!(open(&key, &field("D", "姓名"), &value).unwrap(), "张三".as_bytes());
    }
}
