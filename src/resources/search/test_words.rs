//! For the unit tests of what reads positions: a small in-memory index of words separated by
//! spaces, and numbers that repeat from run to run to write it with.

use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexWriter, TantivyDocument};

/// An index with one field of space-separated words and their positions, and a writer on one
/// thread, so that each commit makes one segment.
pub fn words_index() -> (Index, Field, IndexWriter) {
    let mut schema = Schema::builder();
    let indexing = TextFieldIndexing::default().set_tokenizer("whitespace").set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text = schema.add_text_field("text", TextOptions::default().set_indexing_options(indexing));
    let index = Index::create_in_ram(schema.build());
    let writer = index.writer_with_num_threads(1, 15_000_000).expect("a writer on an index in memory");
    (index, text, writer)
}

/// Adds a document whose field holds `words`.
pub fn add(writer: &IndexWriter, text: Field, words: &str) {
    let mut doc = TantivyDocument::default();
    doc.add_text(text, words);
    writer.add_document(doc).expect("adding to an index in memory");
}

/// A linear congruential generator: the same numbers from the same seed on every run.
pub struct Repeatable(u64);

impl Repeatable {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
