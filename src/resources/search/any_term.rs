//! Documents that hold any of a few terms, in whichever fields, unscored: one word or character
//! looked up in every text field at once.
//!
//! A union of one term query per field would take every matching document through each
//! field's scorer and the union's window, which for a common character is most of the index
//! several times over. Here each term's postings are decoded block by block into one bitset
//! per segment, and the search then walks the bitset. (tantivy's `TermSetQuery` builds such a
//! bitset per field, and then unions the fields' scorers again.)

use tantivy::query::{BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, Term};

/// Documents holding at least one of `terms`; every match scores the same.
#[derive(Clone, Debug)]
pub struct AnyTermQuery {
    terms: Vec<Term>,
}

impl AnyTermQuery {
    pub fn new(terms: Vec<Term>) -> Self {
        Self { terms }
    }
}

impl Query for AnyTermQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in &self.terms {
            visitor(term, false);
        }
    }
}

impl Weight for AnyTermQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut matching: Option<BitSet> = None;
        for term in &self.terms {
            let inverted = reader.inverted_index(term.field())?;
            let Some(info) = inverted.get_term_info(term)? else { continue };
            let mut block = inverted.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            let bits = matching.get_or_insert_with(|| BitSet::with_max_value(reader.max_doc()));
            while !block.docs().is_empty() {
                for &doc in block.docs() {
                    bits.insert(doc);
                }
                block.advance();
            }
        }
        Ok(match matching {
            // Deleted documents are in the bitset too; the collector leaves them out.
            Some(bits) => Box::new(ConstScorer::new(BitSetDocSet::from(bits), boost)),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} holds none of the terms")));
        }
        Ok(Explanation::new("AnyTermQuery", 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::DocSetCollector;
    use tantivy::schema::{STORED, STRING, Schema};
    use tantivy::{Index, TantivyDocument};

    #[test]
    fn finds_documents_holding_any_term_in_any_field_across_segments() {
        let mut schema = Schema::builder();
        let (a, b) = (schema.add_text_field("a", STRING | STORED), schema.add_text_field("b", STRING | STORED));
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let doc = |x: &str, y: &str| {
            let mut doc = TantivyDocument::default();
            doc.add_text(a, x);
            doc.add_text(b, y);
            doc
        };
        writer.add_document(doc("x", "y")).unwrap(); // 0: both terms
        writer.add_document(doc("x", "n")).unwrap(); // 1: the first
        writer.add_document(doc("n", "n")).unwrap(); // 2: neither
        writer.commit().unwrap();
        writer.add_document(doc("n", "y")).unwrap(); // 3: the second, in a later segment
        writer.add_document(doc("y", "x")).unwrap(); // 4: the words, but each in the other field
        writer.commit().unwrap();
        writer.delete_term(Term::from_field_text(a, "x"));
        writer.add_document(doc("x", "n")).unwrap(); // 5: added after the delete, so kept
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let query = AnyTermQuery::new(vec![Term::from_field_text(a, "x"), Term::from_field_text(b, "y")]);
        let found = searcher.search(&query, &DocSetCollector).unwrap();
        let mut ids: Vec<String> = found
            .into_iter()
            .map(|address| {
                let doc: TantivyDocument = searcher.doc(address).unwrap();
                let text = |f| doc.get_first(f).and_then(|v| tantivy::schema::Value::as_str(&v)).unwrap_or_default().to_owned();
                format!("{}{}", text(a), text(b))
            })
            .collect();
        ids.sort();
        // Documents 0 and 1 were deleted with "x" in field a; 3 and 5 remain.
        assert_eq!(ids, vec!["ny", "xn"]);
        let none = AnyTermQuery::new(vec![Term::from_field_text(a, "absent")]);
        assert!(searcher.search(&none, &DocSetCollector).unwrap().is_empty());
    }
}
