//! Facet counts (kind, department, year) of a search's matches.
//!
//! Counting runs for every match, which for a common character is most of the index, so it
//! must not read three columns per match. Segments never change, so each segment's documents
//! are numbered once by their combination of the three values (`FacetCodes`), and counting a
//! match is one array read and one increment.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::Facets;

/// A segment's documents by their facet values.
struct FacetCodes {
    /// Each document's combination: an index into `combos`.
    codes: Vec<u32>,
    /// The (kind ordinal, department ordinal, year) combinations that occur in the segment.
    combos: Vec<Combo>,
}

type Combo = (Option<u64>, Option<u64>, Option<u64>);

impl FacetCodes {
    fn of(reader: &SegmentReader) -> tantivy::Result<Self> {
        let fast = reader.fast_fields();
        let ords = |name: &str| -> tantivy::Result<Option<Column<u64>>> { Ok(fast.str(name)?.map(|c| c.ords().clone())) };
        let (kind, department, year) = (ords("kind")?, ords("department")?, fast.u64("year")?);
        let first = |column: &Option<Column<u64>>, doc: DocId| column.as_ref().and_then(|c| c.first(doc));
        let mut index: HashMap<Combo, u32> = HashMap::new();
        let mut combos = Vec::new();
        let mut codes = Vec::with_capacity(reader.max_doc() as usize);
        for doc in 0..reader.max_doc() {
            let combo = (first(&kind, doc), first(&department, doc), year.first(doc));
            let code = *index.entry(combo).or_insert_with(|| {
                combos.push(combo);
                (combos.len() - 1) as u32
            });
            codes.push(code);
        }
        Ok(Self { codes, combos })
    }
}

/// The facet codes of the segments searched lately (an index's segments: a few large ones and
/// the small ones of the latest commits).
#[derive(Default)]
pub struct FacetCache {
    segments: Mutex<HashMap<SegmentId, Arc<CodesSlot>>>,
}

/// A segment's codes once built. A large segment takes milliseconds, and after a merge every
/// search in flight wants the new segment's codes at once: they wait for the one building them
/// (this slot's lock) instead of each building them again.
type CodesSlot = Mutex<Option<Arc<FacetCodes>>>;

impl FacetCache {
    fn codes(&self, reader: &SegmentReader) -> tantivy::Result<Arc<FacetCodes>> {
        let slot = self.lock().entry(reader.segment_id()).or_default().clone();
        // Built outside the map's lock, so other segments' searches go on meanwhile.
        let mut codes = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(codes) = codes.as_ref() {
            return Ok(codes.clone());
        }
        let built = Arc::new(FacetCodes::of(reader)?);
        *codes = Some(built.clone());
        Ok(built)
    }

    /// Builds the codes of `searcher`'s segments that have none yet (and forgets those it no
    /// longer has): done by whoever opens or commits the index, so that no search waits for them.
    pub fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        self.keep_only(searcher);
        for reader in searcher.segment_readers() {
            self.codes(reader)?;
        }
        Ok(())
    }

    /// Forgets segments `searcher` no longer has (merged away).
    pub fn keep_only(&self, searcher: &Searcher) {
        let current: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        self.lock().retain(|id, _| current.contains(id));
    }

    #[cfg(test)]
    pub fn cached_segments(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<CodesSlot>>> {
        // The map holds derived data only: after a panic elsewhere it is still consistent.
        self.segments.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts matches by kind, department and year.
pub struct FacetCollector<'a> {
    pub cache: &'a FacetCache,
}

pub struct SegmentFacets {
    kind: Option<StrColumn>,
    department: Option<StrColumn>,
    codes: Arc<FacetCodes>,
    /// Matches by combination.
    counts: Vec<u64>,
}

impl Collector for FacetCollector<'_> {
    type Fruit = Facets;
    type Child = SegmentFacets;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let fast = segment.fast_fields();
        let codes = self.cache.codes(segment)?;
        Ok(SegmentFacets { kind: fast.str("kind")?, department: fast.str("department")?, counts: vec![0; codes.combos.len()], codes })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Facets>) -> tantivy::Result<Facets> {
        let mut all = Facets::default();
        for fruit in fruits {
            all.add(fruit);
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(&code) = self.codes.codes.get(doc as usize) {
            self.counts[code as usize] += 1;
        }
    }

    fn harvest(self) -> Facets {
        let (mut kinds, mut departments, mut years) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for (&(kind, department, year), &n) in self.codes.combos.iter().zip(&self.counts).filter(|(_, n)| **n > 0) {
            for (counts, value) in [(&mut kinds, kind), (&mut departments, department), (&mut years, year)] {
                if let Some(value) = value {
                    *counts.entry(value).or_default() += n;
                }
            }
        }
        // Names are looked up once per value, not per combination.
        let names = |column: &Option<StrColumn>, counts: BTreeMap<u64, u64>| -> BTreeMap<String, u64> {
            let Some(column) = column else { return BTreeMap::new() };
            let mut out = BTreeMap::new();
            for (ord, n) in counts {
                let mut name = String::new();
                if column.ord_to_str(ord, &mut name).unwrap_or(false) {
                    out.insert(name, n);
                }
            }
            out
        };
        Facets {
            kind: names(&self.kind, kinds),
            department: names(&self.department, departments),
            year: years.into_iter().map(|(y, n)| (y.to_string(), n)).collect(),
        }
    }
}
