//! One term's positions in a segment, read in place a block at a time.
//!
//! tantivy's `PositionReader` copies every read into the caller's buffer and redoes its block
//! bookkeeping on each call, while the pair check reads only a few positions of two terms in
//! nearly every document of a frequent pair. This reader keeps the decoded block and answers
//! one position at a time from it.
//!
//! The layout is tantivy's (`PositionSerializer::close_term`): a VInt count of bitpacked
//! blocks, one bit width per block, the blocks (128 values each, `BitPacker4x`), then the
//! remaining values as VInts whose last byte has its high bit set. The unit test below stops
//! passing if a tantivy version changes it.

use std::io;

use bitpacking::{BitPacker, BitPacker4x};
use tantivy::directory::OwnedBytes;

const BLOCK: usize = BitPacker4x::BLOCK_LEN;

/// A term's positions in one segment, the block holding the last one asked for decoded.
pub struct PositionBlocks {
    bitpacker: BitPacker4x,
    /// Bit widths of the blocks not loaded yet.
    bit_widths: OwnedBytes,
    /// The bytes from the first block not loaded yet.
    data: OwnedBytes,
    block: [u32; BLOCK],
    /// Values decoded in `block` (fewer than `BLOCK` only in the last).
    len: usize,
    /// Offset (in values, from the term's first) of `block[0]`; the first value not loaded yet
    /// is at `start + len`.
    start: u64,
}

impl PositionBlocks {
    /// `bytes`: the term's part of the field's positions file (its `TermInfo::positions_range`).
    pub fn open(mut bytes: OwnedBytes) -> io::Result<Self> {
        let blocks = read_vint(&mut bytes).ok_or_else(|| corrupt("the count of position blocks"))?;
        let blocks = usize::try_from(blocks).ok().filter(|n| *n <= bytes.len()).ok_or_else(|| corrupt("the count of position blocks"))?;
        let (bit_widths, data) = bytes.split(blocks);
        Ok(Self { bitpacker: BitPacker4x::new(), bit_widths, data, block: [0; BLOCK], len: 0, start: 0 })
    }

    /// The value at `offset`: a position of the term as a delta from the one before in the
    /// same document (the first of a document from 0). Offsets must not decrease from one
    /// call to the next. An offset past the last value, or in a block the file is too short
    /// for (a corrupt index, which a rebuild replaces), reads 0 rather than panicking.
    #[inline]
    pub fn get(&mut self, offset: u64) -> u32 {
        let at = offset.wrapping_sub(self.start);
        if at < self.len as u64 {
            return self.block[at as usize];
        }
        self.load(offset);
        let at = offset.wrapping_sub(self.start);
        if at < self.len as u64 { self.block[at as usize] } else { 0 }
    }

    /// Skips whole blocks before `offset` without decoding them, then decodes the one holding it.
    #[cold]
    fn load(&mut self, offset: u64) {
        let mut next = self.start + self.len as u64;
        let skip = (offset.saturating_sub(next) / BLOCK as u64).min(self.bit_widths.len() as u64) as usize;
        if skip > 0 {
            let bytes: usize = self.bit_widths.as_slice()[..skip].iter().map(|w| *w as usize * BLOCK / 8).sum();
            self.bit_widths.advance(skip);
            self.data.advance(bytes.min(self.data.len()));
            next += (skip * BLOCK) as u64;
        }
        self.start = next;
        if let Some(&width) = self.bit_widths.as_slice().first() {
            let size = width as usize * BLOCK / 8;
            if width > 32 || self.data.len() < size {
                self.len = 0;
                return;
            }
            self.bitpacker.decompress(&self.data.as_slice()[..size], &mut self.block, width);
            self.bit_widths.advance(1);
            self.data.advance(size);
            self.len = BLOCK;
        } else {
            let mut n = 0;
            while n < BLOCK
                && let Some(v) = read_vint(&mut self.data)
            {
                self.block[n] = v as u32;
                n += 1;
            }
            self.len = n;
        }
    }
}

/// tantivy's VInt: seven bits a byte, least significant first, the last byte's high bit set.
fn read_vint(bytes: &mut OwnedBytes) -> Option<u64> {
    let (mut value, mut shift) = (0u64, 0u32);
    for (i, b) in bytes.as_slice().iter().enumerate() {
        if shift > 63 {
            return None;
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 != 0 {
            bytes.advance(i + 1);
            return Some(value);
        }
        shift += 7;
    }
    None
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} in a positions file is corrupt"))
}

#[cfg(test)]
mod tests {
    use tantivy::directory::{CompositeFile, Directory};
    use tantivy::positions::PositionReader;
    use tantivy::postings::Postings;
    use tantivy::schema::IndexRecordOption;
    use tantivy::{DocSet, Term};

    use super::*;
    use crate::resources::search::test_words::{Repeatable, add, words_index};

    /// Every value of terms with a few positions, with hundreds (whole blocks and a tail), and
    /// with thousands, read at increasing offsets with gaps (as the pair check skips
    /// documents), is what tantivy's own reader reads.
    #[test]
    fn reads_what_tantivys_reader_reads() {
        let (index, text, mut writer) = words_index();
        let mut random = Repeatable::new(0x9e37);
        for _ in 0..300 {
            let len = 1 + random.below(400);
            // "a" often, "b" now and then, "c" rarely; gaps between positions up to thousands.
            let words: Vec<String> = (0..len)
                .map(|_| match random.below(100) {
                    0 => "c".to_string(),
                    1..=10 => "b".to_string(),
                    11..=60 => "a".to_string(),
                    n => format!("w{n}"),
                })
                .collect();
            add(&writer, text, &words.join(" "));
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let segment = &searcher.segment_readers()[0];
        let directory = index.directory();
        let file = directory.open_read(std::path::Path::new(&format!("{}.pos", segment.segment_id().uuid_string()))).unwrap();
        let positions = CompositeFile::open(&file).unwrap().open_read(text).unwrap();
        let inverted = segment.inverted_index(text).unwrap();
        for word in ["a", "b", "c"] {
            let info = inverted.get_term_info(&Term::from_field_text(text, word)).unwrap().unwrap();
            let bytes = || positions.slice(info.positions_range.clone()).read_bytes().unwrap();
            let total = {
                let mut postings = inverted.read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs).unwrap();
                let mut n = 0u64;
                while postings.doc() != tantivy::TERMINATED {
                    n += postings.term_freq() as u64;
                    postings.advance();
                }
                n
            };
            let mut expected = vec![0u32; total as usize];
            PositionReader::open(bytes()).unwrap().read(0, &mut expected);
            let mut every = PositionBlocks::open(bytes()).unwrap();
            assert_eq!((0..total).map(|o| every.get(o)).collect::<Vec<_>>(), expected, "{word}: every value");
            for stride in [3u64, 127, 128, 129, 500] {
                let mut some = PositionBlocks::open(bytes()).unwrap();
                for o in (0..total).step_by(stride as usize) {
                    assert_eq!(some.get(o), expected[o as usize], "{word}: offset {o}, stride {stride}");
                }
            }
            assert!(total > 1000 || word != "a", "{word}: {total} values");
        }
    }
}
