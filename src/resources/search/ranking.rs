//! The best matches of a search, found after the matches themselves.
//!
//! A search first collects every match without scoring it (the total and the facets need them
//! all), as one bitset per segment; then the query's ranking words, a union of BM25 term
//! scorers, pick the best of those matches with tantivy's block-max WAND, which skips every
//! block of postings whose best possible score cannot enter the page. Scored together, every
//! match of a common word had its score computed: a fifth of all search work at 100,000
//! documents (benches/README.md).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term};

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

/// The `count` best of `matched` (after skipping `offset` of them) by the summed BM25 scores
/// of `ranking` terms, best first. Matches without any ranking word score 0 and follow in
/// document order.
pub fn best_matches(searcher: &Searcher, ranking: Vec<Term>, matched: &[(SegmentOrdinal, BitSet)], offset: usize, count: usize) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    let wanted = offset.saturating_add(count);
    if wanted == 0 {
        return Ok(vec![]);
    }
    let weight = if ranking.is_empty() {
        None
    } else {
        let terms = ranking.into_iter().map(|t| (Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>)).collect();
        Some(BooleanQuery::new(terms).weight(EnableScoring::enabled_from_searcher(searcher))?)
    };
    let mut best: Vec<Ranked> = Vec::new();
    for (segment, docs) in matched {
        // A min-heap of this segment's best so far: its top is the score to beat once full.
        let mut top: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(wanted.min(docs.len()) + 1);
        if let Some(weight) = &weight {
            let reader = searcher.segment_reader(*segment);
            weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
                if docs.contains(doc) {
                    top.push(Reverse(Ranked { score, doc: DocAddress::new(*segment, doc) }));
                    if top.len() > wanted {
                        top.pop();
                    }
                }
                match top.peek() {
                    Some(Reverse(worst)) if top.len() == wanted => worst.score,
                    _ => Score::MIN,
                }
            })?;
        }
        // Not full: no block was skipped, so every match with a ranking word is in.
        if top.len() < wanted {
            let scored: HashSet<DocId> = top.iter().map(|Reverse(r)| r.doc.doc_id).collect();
            let unscored = (0..docs.max_value()).filter(|d| docs.contains(*d) && !scored.contains(d));
            for doc in unscored.take(wanted - top.len()) {
                top.push(Reverse(Ranked { score: 0.0, doc: DocAddress::new(*segment, doc) }));
            }
        }
        best.extend(top.into_iter().map(|Reverse(r)| r));
    }
    best.sort_unstable_by(|a, b| b.cmp(a));
    Ok(best.into_iter().skip(offset).take(count).map(|r| (r.score, r.doc)).collect())
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::schema::{Schema, TEXT};
    use tantivy::{Index, TantivyDocument};

    use super::*;

    /// Only matches are ranked, best first as tantivy's own top-docs collector orders them;
    /// matches without a ranking word follow in document order; offsets page through both.
    #[test]
    fn ranks_only_matches_and_pages_through_unscored_ones() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
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

        let all = best_matches(&searcher, vec![x.clone()], &matched, 0, 100).unwrap();
        assert_eq!(all.len(), 100);
        let scored: Vec<(Score, DocAddress)> = searcher.search(&TermQuery::new(x.clone(), IndexRecordOption::WithFreqs), &TopDocs::with_limit(300).order_by_score()).unwrap();
        let expected: Vec<DocAddress> = scored.iter().map(|(_, d)| *d).filter(|d| d.doc_id % 3 == 0).collect();
        let with_x = expected.len();
        let unscored = (0..300).filter(|d| d % 3 == 0 && d % 7 == 0).map(|d| DocAddress::new(0, d));
        let expected: Vec<DocAddress> = expected.into_iter().chain(unscored).collect();
        assert_eq!(all.iter().map(|(_, d)| *d).collect::<Vec<_>>(), expected);
        assert!(all[with_x..].iter().all(|(s, _)| *s == 0.0));

        let page = best_matches(&searcher, vec![x], &matched, 10, 5).unwrap();
        assert_eq!(page, all[10..15]);
        let tail = best_matches(&searcher, vec![], &matched, 3, 2).unwrap();
        assert_eq!(tail.iter().map(|(_, d)| d.doc_id).collect::<Vec<_>>(), [9, 12]);
    }
}
