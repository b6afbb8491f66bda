//! Whether two terms of one field occur a fixed distance apart (two bigrams of a substring),
//! for pairs of frequent terms.
//!
//! tantivy's phrase scorer reads every position of both terms in each document before it looks
//! for a pair, even when it only needs to know that one exists. The bigrams of a common word
//! occur many times in every document, so that reading dominates searching for one. This
//! scorer reads positions one at a time, in place
//! (`PositionBlocks`), and stops at the first pair. It walks both terms' postings document by
//! document, summing term frequencies to know where each document's positions start (tantivy
//! keeps that offset private), so it is only chosen when both terms are in many documents,
//! where a phrase query reads them all anyway.

use std::path::PathBuf;
use std::sync::Arc;

use tantivy::directory::error::OpenReadError;
use tantivy::directory::{CompositeFile, Directory};
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{EmptyScorer, EnableScoring, Explanation, PhraseQuery, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

use super::positions::PositionBlocks;

/// Documents where `first` occurs at some position p and `second` at p + `gap`.
#[derive(Clone, Debug)]
pub struct AdjacentPairQuery {
    field: Field,
    first: Term,
    second: Term,
    gap: u32,
    /// Where the segments' position files are.
    directory: Arc<dyn Directory>,
}

impl AdjacentPairQuery {
    /// `first` and `second` must be terms of `field`, `second` `gap` (> 0) positions later.
    pub fn new(field: Field, first: Term, second: Term, gap: u32, directory: Arc<dyn Directory>) -> Self {
        Self { field, first, second, gap, directory }
    }
}

impl Query for AdjacentPairQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let phrase = PhraseQuery::new_with_offset(vec![(0, self.first.clone()), (self.gap as usize, self.second.clone())]);
        Ok(Box::new(AdjacentPairWeight { query: self.clone(), phrase: phrase.weight(scoring)? }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        visitor(&self.first, true);
        visitor(&self.second, true);
    }
}

/// The pair query's weight, and tantivy's phrase weight for the same pair: the phrase reads a
/// segment's positions through the segment reader, which holds its files open, while this
/// query opens the positions file by name. A merge deletes its segments' files once done, so
/// until the next commit reloads the searcher, a segment it still shows may have no file left.
struct AdjacentPairWeight {
    query: AdjacentPairQuery,
    phrase: Box<dyn Weight>,
}

impl Weight for AdjacentPairWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let q = &self.query;
        let inverted = reader.inverted_index(q.field)?;
        let (Some(first), Some(second)) = (inverted.get_term_info(&q.first)?, inverted.get_term_info(&q.second)?) else {
            return Ok(Box::new(EmptyScorer));
        };
        // tantivy names a segment's positions file `<segment id>.pos` (`SegmentComponent`), one
        // part per field; the unit test below stops passing if a new version changes that.
        let file = match q.directory.open_read(&PathBuf::from(format!("{}.pos", reader.segment_id().uuid_string()))) {
            Ok(file) => file,
            Err(OpenReadError::FileDoesNotExist(_)) => return self.phrase.scorer(reader, boost),
            Err(e) => return Err(e.into()),
        };
        let Some(positions) = CompositeFile::open(&file)?.open_read(q.field) else {
            return Ok(Box::new(EmptyScorer));
        };
        let side = |info: &tantivy::postings::TermInfo| -> tantivy::Result<Side> {
            Ok(Side {
                postings: inverted.read_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?,
                positions: PositionBlocks::open(positions.slice(info.positions_range.clone()).read_bytes()?)?,
                offset: 0,
            })
        };
        let mut scorer = AdjacentScorer { first: side(&first)?, second: side(&second)?, gap: q.gap, doc: 0 };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} has no such pair")));
        }
        Ok(Explanation::new("AdjacentPairQuery", 1.0))
    }
}

/// One term's postings and positions, and where its current document's positions start.
struct Side {
    postings: SegmentPostings,
    positions: PositionBlocks,
    offset: u64,
}

impl Side {
    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn step(&mut self) {
        if self.postings.doc() != TERMINATED {
            self.offset += self.postings.term_freq() as u64;
            self.postings.advance();
        }
    }

    fn step_to(&mut self, target: DocId) {
        while self.postings.doc() < target {
            self.step();
        }
    }
}

struct AdjacentScorer {
    first: Side,
    second: Side,
    gap: u32,
    doc: DocId,
}

impl AdjacentScorer {
    /// Moves to the first document at or after the current ones that has a pair.
    fn settle(&mut self) -> DocId {
        loop {
            let (a, b) = (self.first.doc(), self.second.doc());
            if a == TERMINATED || b == TERMINATED {
                self.doc = TERMINATED;
                return TERMINATED;
            }
            if a < b {
                self.first.step_to(b);
            } else if b < a {
                self.second.step_to(a);
            } else if self.has_pair() {
                self.doc = a;
                return a;
            } else {
                self.first.step();
                self.second.step();
            }
        }
    }

    /// Walks both terms' positions in the current document together, as far as the first pair.
    fn has_pair(&mut self) -> bool {
        let (first, second, gap) = (&mut self.first, &mut self.second, self.gap);
        let (left, right) = (first.postings.term_freq() as u64, second.postings.term_freq() as u64);
        if left == 0 || right == 0 {
            return false;
        }
        // Positions are stored as deltas within the document, the first from 0.
        let (mut i, mut j) = (0, 0);
        let mut p = first.positions.get(first.offset);
        let mut q = second.positions.get(second.offset);
        loop {
            let want = p.wrapping_add(gap);
            if want == q {
                return true;
            }
            if want < q {
                i += 1;
                if i == left {
                    return false;
                }
                p = p.wrapping_add(first.positions.get(first.offset + i));
            } else {
                j += 1;
                if j == right {
                    return false;
                }
                q = q.wrapping_add(second.positions.get(second.offset + j));
            }
        }
    }
}

impl DocSet for AdjacentScorer {
    fn advance(&mut self) -> DocId {
        self.first.step();
        self.second.step();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        // Stepping, not seeking: each skipped document's term frequency moves the offset.
        self.first.step_to(target);
        self.second.step_to(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.first.postings.size_hint().min(self.second.postings.size_hint())
    }
}

impl Scorer for AdjacentScorer {
    fn score(&mut self) -> Score {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::DocSetCollector;
    use tantivy::query::{BooleanQuery, Occur, PhraseQuery, TermQuery};

    use super::*;
    use crate::resources::search::test_words::{Repeatable, add, words_index};

    /// On documents of a few letters (every pair frequent, often many times in a document) and
    /// over several segments, the pair query finds exactly what tantivy's phrase query finds,
    /// alone and inside an intersection with a rare term (which seeks it).
    #[test]
    fn finds_exactly_what_a_phrase_query_finds() {
        let (index, text, mut writer) = words_index();
        let mut random = Repeatable::new(0x5eed);
        for _ in 0..3 {
            for _ in 0..400 {
                let len = 1 + random.below(300);
                let words: Vec<&str> = (0..len).map(|_| if random.below(200) == 0 { "f" } else { ["a", "b", "c", "d"][random.below(4) as usize] }).collect();
                add(&writer, text, &words.join(" "));
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 1, "several segments");
        let directory: Arc<dyn Directory> = Arc::new(index.directory().clone());
        let term = |w: &str| Term::from_field_text(text, w);
        let rare = || -> Box<dyn Query> { Box::new(TermQuery::new(term("f"), IndexRecordOption::Basic)) };
        let mut compared = 0;
        for x in ["a", "b", "c", "d", "f"] {
            for y in ["a", "b", "c", "d", "f"] {
                for gap in 1..=3u32 {
                    let phrase = PhraseQuery::new_with_offset(vec![(0, term(x)), (gap as usize, term(y))]);
                    let pair = AdjacentPairQuery::new(text, term(x), term(y), gap, directory.clone());
                    let expected = searcher.search(&phrase, &DocSetCollector).unwrap();
                    assert_eq!(searcher.search(&pair, &DocSetCollector).unwrap(), expected, "{x} {y} gap {gap}");
                    let with_rare = |q: Box<dyn Query>| BooleanQuery::new(vec![(Occur::Must, q), (Occur::Must, rare())]);
                    let expected = searcher.search(&with_rare(Box::new(phrase)), &DocSetCollector).unwrap();
                    assert_eq!(searcher.search(&with_rare(Box::new(pair)), &DocSetCollector).unwrap(), expected, "{x} {y} gap {gap}, with f");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 75);
    }

    /// A segment whose positions file was deleted under the searcher (a merge finished before
    /// the next reload) is searched through its reader, as a phrase, not failed.
    #[test]
    fn a_segment_whose_positions_file_is_gone_is_searched_as_a_phrase() {
        let (index, text, mut writer) = words_index();
        for words in ["a b c", "b a c", "c a b a"] {
            add(&writer, text, words);
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let directory: Arc<dyn Directory> = Arc::new(index.directory().clone());
        let segment = searcher.segment_readers()[0].segment_id().uuid_string();
        directory.delete(&PathBuf::from(format!("{segment}.pos"))).unwrap();
        let term = |w: &str| Term::from_field_text(text, w);
        let pair = AdjacentPairQuery::new(text, term("a"), term("b"), 1, directory);
        let found: std::collections::BTreeSet<u32> = searcher.search(&pair, &DocSetCollector).unwrap().into_iter().map(|d| d.doc_id).collect();
        assert_eq!(found, [0, 2].into());
    }
}
