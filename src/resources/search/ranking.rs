//! The best matches of a search, found after the matches themselves.
//!
//! A search first collects every match without scoring it (the total and the facets need them
//! all), as one bitset per segment; then the query's ranking words, a union of BM25 term
//! scorers, pick the best of those matches with tantivy's block-max WAND, which skips every
//! block of postings whose best possible score cannot enter the page, where scoring while
//! matching would compute a score for every match of a common word.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BitSetDocSet, BooleanQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader, TERMINATED, Term};

/// Every match of a segment, as a bitset (unscored).
pub struct MatchedDocs;

pub struct SegmentMatches {
    segment: SegmentOrdinal,
    docs: BitSet,
}

impl Collector for MatchedDocs {
    type Fruit = Vec<(SegmentOrdinal, BitSet)>;
    type Child = SegmentMatches;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches { segment, docs: BitSet::with_max_value(reader.max_doc()) })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(SegmentOrdinal, BitSet)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<(SegmentOrdinal, BitSet)>;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.docs.insert(doc);
    }

    fn harvest(self) -> Self::Fruit {
        vec![(self.segment, self.docs)]
    }
}

/// A match and its score; greater is better: a higher score, or the same score and an earlier
/// document (as tantivy's `TopDocs` orders ties).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ranked {
    score: Score,
    doc: DocAddress,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.doc.cmp(&self.doc))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Matches in which the ranking words' postings are walked with block-max WAND need to be
/// more than 1/`MATCHES_DRIVE` of those postings; fewer are each scored where they are.
const MATCHES_DRIVE: u64 = 4;

/// The `count` best of `matched` (after skipping `offset` of them) by the summed BM25 scores
/// of `ranking` terms, best first. Matches without any ranking word score 0 and follow in
/// document order.
pub fn best_matches(searcher: &Searcher, ranking: Vec<Term>, matched: Vec<(SegmentOrdinal, BitSet)>, offset: usize, count: usize) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    let wanted = offset.saturating_add(count);
    if wanted == 0 {
        return Ok(vec![]);
    }
    let weight = if ranking.is_empty() {
        None
    } else {
        let terms = ranking.iter().map(|t| (Occur::Should, Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)) as Box<dyn Query>)).collect();
        Some(BooleanQuery::new(terms).weight(EnableScoring::enabled_from_searcher(searcher))?)
    };
    let mut best: Vec<Ranked> = Vec::new();
    for (segment, docs) in matched {
        let reader = searcher.segment_reader(segment);
        let mut page = Page { top: BinaryHeap::with_capacity(wanted.min(docs.len()) + 1), wanted, segment };
        match &weight {
            None => page.fill_unscored(&docs),
            Some(weight) => {
                let postings: u64 = ranking.iter().map(|t| reader.inverted_index(t.field()).and_then(|i| Ok(i.doc_freq(t)?)).map_or(0, u64::from)).sum();
                if (docs.len() as u64).saturating_mul(MATCHES_DRIVE) < postings {
                    // Few matches (a rare phrase, a narrow reach): walking the ranking words'
                    // postings would mostly pass documents that did not match.
                    let mut scorer = weight.scorer(reader, 1.0)?;
                    let mut matches = BitSetDocSet::from(docs);
                    let mut doc = matches.doc();
                    while doc != TERMINATED {
                        let score = if scorer.doc() <= doc && scorer.seek(doc) == doc { scorer.score() } else { 0.0 };
                        page.offer(doc, score);
                        doc = matches.advance();
                    }
                } else {
                    weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| if docs.contains(doc) { page.offer(doc, score) } else { page.threshold() })?;
                    page.fill_unscored(&docs);
                }
            }
        }
        best.extend(page.top.into_iter().map(|Reverse(r)| r));
    }
    best.sort_unstable_by(|a, b| b.cmp(a));
    Ok(best.into_iter().skip(offset).take(count).map(|r| (r.score, r.doc)).collect())
}

/// One segment's best matches so far, at most `wanted`.
struct Page {
    /// A min-heap: its top is the score to beat once full.
    top: BinaryHeap<Reverse<Ranked>>,
    wanted: usize,
    segment: SegmentOrdinal,
}

impl Page {
    /// Takes `doc` if it is among the best so far; returns the score a document must now beat.
    fn offer(&mut self, doc: DocId, score: Score) -> Score {
        // A page's documents are offered in increasing order, so one that only ties the worst
        // of a full page ranks below it (`Ranked`) and would be pushed to be popped at once:
        // for every match of a common word (2 % of a loaded server's samples).
        if self.top.len() == self.wanted && score <= self.threshold() {
            return self.threshold();
        }
        self.top.push(Reverse(Ranked { score, doc: DocAddress::new(self.segment, doc) }));
        if self.top.len() > self.wanted {
            self.top.pop();
        }
        self.threshold()
    }

    fn threshold(&self) -> Score {
        match self.top.peek() {
            Some(Reverse(worst)) if self.top.len() == self.wanted => worst.score,
            _ => Score::MIN,
        }
    }

    /// After block-max WAND: while not full, no block was skipped, so every match with a
    /// ranking word is in; the rest of the page is matches without one, in document order.
    fn fill_unscored(&mut self, docs: &BitSet) {
        if self.top.len() >= self.wanted {
            return;
        }
        let scored: HashSet<DocId> = self.top.iter().map(|Reverse(r)| r.doc.doc_id).collect();
        let unscored: Vec<DocId> = (0..docs.max_value()).filter(|d| docs.contains(*d) && !scored.contains(d)).take(self.wanted - self.top.len()).collect();
        for doc in unscored {
            self.offer(doc, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::schema::{Schema, TEXT};
    use tantivy::{Index, TantivyDocument};

    use super::*;

    /// An index in memory with one text field, and its writer (one thread, no merges).
    fn one_field_index() -> (Index, tantivy::schema::Field, tantivy::IndexWriter) {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        (index, text, writer)
    }

    /// Only matches are ranked, best first as tantivy's own top-docs collector orders them;
    /// matches without a ranking word follow in document order; offsets page through both.
    #[test]
    fn ranks_only_matches_and_pages_through_unscored_ones() {
        let (index, text, mut writer) = one_field_index();
        // Document n holds "x" n times (none in 0) among filler words.
        for n in 0..300usize {
            let mut doc = TantivyDocument::default();
            doc.add_text(text, format!("{} {}", "x ".repeat(n % 7), "y z ".repeat(1 + n % 5)));
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let x = Term::from_field_text(text, "x");
        // Every third document matches.
        let mut docs = BitSet::with_max_value(searcher.segment_reader(0).max_doc());
        for d in (0..300).filter(|d| d % 3 == 0) {
            docs.insert(d);
        }
        let matched = vec![(0, docs)];

        let all = best_matches(&searcher, vec![x.clone()], matched.clone(), 0, 100).unwrap();
        assert_eq!(all.len(), 100);
        let scored: Vec<(Score, DocAddress)> = searcher.search(&TermQuery::new(x.clone(), IndexRecordOption::WithFreqs), &TopDocs::with_limit(300).order_by_score()).unwrap();
        let expected: Vec<DocAddress> = scored.iter().map(|(_, d)| *d).filter(|d| d.doc_id % 3 == 0).collect();
        let with_x = expected.len();
        let unscored = (0..300).filter(|d| d % 3 == 0 && d % 7 == 0).map(|d| DocAddress::new(0, d));
        let expected: Vec<DocAddress> = expected.into_iter().chain(unscored).collect();
        assert_eq!(all.iter().map(|(_, d)| *d).collect::<Vec<_>>(), expected);
        assert!(all[with_x..].iter().all(|(s, _)| *s == 0.0));

        let page = best_matches(&searcher, vec![x.clone()], matched.clone(), 10, 5).unwrap();
        assert_eq!(page, all[10..15]);
        let tail = best_matches(&searcher, vec![], matched, 3, 2).unwrap();
        assert_eq!(tail.iter().map(|(_, d)| d.doc_id).collect::<Vec<_>>(), [9, 12]);

        // So few matches that each is scored where it is, not found by walking the postings.
        let mut few = BitSet::with_max_value(searcher.segment_reader(0).max_doc());
        for d in [0, 3, 14, 15, 100, 299] {
            few.insert(d);
        }
        let ranked = best_matches(&searcher, vec![x], vec![(0, few)], 0, 10).unwrap();
        let with_x = scored.iter().map(|(_, d)| d.doc_id).filter(|d| [3, 15, 100, 299].contains(d));
        assert_eq!(ranked.iter().map(|(_, d)| d.doc_id).collect::<Vec<_>>(), with_x.chain([0, 14]).collect::<Vec<_>>());
        assert_eq!(ranked[..4].iter().map(|(s, _)| *s).collect::<Vec<_>>(), scored.iter().filter(|(_, d)| [3, 15, 100, 299].contains(&d.doc_id)).map(|(s, _)| *s).collect::<Vec<_>>());
    }

    /// Across segments: the best of all segments in score order, ties (many: documents alike
    /// score alike) by segment and document, then unscored matches in the same order, at every
    /// offset, whichever branch ranks each segment.
    #[test]
    fn ranks_across_segments_with_ties_by_address() {
        let (index, text, mut writer) = one_field_index();
        // Four segments of 200; document n holds "x" n % 4 times and "w" n % 3 times, so each
        // score recurs in every segment.
        for _segment in 0..4 {
            for n in 0..200usize {
                let mut doc = TantivyDocument::default();
                doc.add_text(text, format!("{}{}y z", "x ".repeat(n % 4), "w ".repeat(n % 3)));
                writer.add_document(doc).unwrap();
            }
            writer.commit().unwrap();
        }
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 4);
        let ranking = vec![Term::from_field_text(text, "x"), Term::from_field_text(text, "w")];
        let query = BooleanQuery::new(ranking.iter().map(|t| (Occur::Should, Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)) as Box<dyn Query>)).collect());
        let scored: std::collections::HashMap<DocAddress, Score> = searcher.search(&query, &TopDocs::with_limit(800).order_by_score()).unwrap().into_iter().map(|(s, d)| (d, s)).collect();
        // Every segment's even documents match, and in segment 3 only a few (its walk by
        // scoring each match where it is).
        let matched: Vec<(SegmentOrdinal, BitSet)> = (0..4u32)
            .map(|segment| {
                let mut docs = BitSet::with_max_value(200);
                for d in (0..200).filter(|d| d % 2 == 0 && (segment < 3 || d % 50 == 0)) {
                    docs.insert(d);
                }
                (segment, docs)
            })
            .collect();
        let mut expected: Vec<(Score, DocAddress)> = matched.iter().flat_map(|(s, docs)| (0..200).filter(|d| docs.contains(*d)).map(|d| DocAddress::new(*s, d))).map(|d| (scored.get(&d).copied().unwrap_or(0.0), d)).collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        assert!(expected.windows(2).any(|w| w[0].0 > 0.0 && w[0].0 == w[1].0 && w[0].1.segment_ord != w[1].1.segment_ord));
        // Given in any order of segments.
        let shuffled: Vec<(SegmentOrdinal, BitSet)> = [2, 0, 3, 1].iter().map(|&i| matched[i].clone()).collect();
        for (offset, count) in [(0, 10), (0, 301), (5, 20), (150, 40), (290, 20)] {
            let page = best_matches(&searcher, ranking.clone(), shuffled.clone(), offset, count).unwrap();
            assert_eq!(page, expected.iter().skip(offset).take(count).copied().collect::<Vec<_>>(), "offset {offset}, count {count}");
        }
    }
}
