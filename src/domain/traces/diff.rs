//! The diff of two revision texts, in units (see `units`).
//!
//! A diff over every unit of a 200,000-character text costs tens of milliseconds even when
//! only a few sentences changed, so the diff is narrowed first: sentences and paragraphs are
//! compared as wholes, and only the runs of sentences that differ are compared unit by unit.
//! Both passes take the same deadline; past it `similar` gives up on finding the smallest
//! difference and reports the rest as replaced, which is coarser but still exact.

use std::ops::Range;
use std::time::Instant;

use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};

use super::units::{segment_bounds, unit_bounds};

/// One step from the old text to the new, as byte ranges of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Equal { old: Range<usize>, new: Range<usize> },
    /// These bytes of the old text are gone.
    Delete { old: Range<usize> },
    /// These bytes of the new text are new.
    Insert { new: Range<usize> },
}

/// Equal sentences this short (a lone line break, "好。") between two changes are compared
/// with them unit by unit, so that the line break that really survived is the one kept.
const SHORT_EQUAL: usize = 16;

/// The edits that turn `old` into `new`, in order; together they cover both texts exactly.
pub fn diff(old: &str, new: &str, deadline: Option<Instant>) -> Vec<Edit> {
    let mut edits = Vec::new();
    let old_bounds = segment_bounds(old);
    let new_bounds = segment_bounds(new);
    let old_segments = pieces(old, &old_bounds);
    let new_segments = pieces(new, &new_bounds);
    let ops = capture_diff_slices_deadline(Algorithm::Myers, &old_segments, &new_segments, deadline);
    // The changed region being gathered: byte ranges of old and new.
    let mut changed: Option<(Range<usize>, Range<usize>)> = None;
    for (i, op) in ops.iter().enumerate() {
        let (o, n) = (byte_range(&old_bounds, op.old_range()), byte_range(&new_bounds, op.new_range()));
        let equal = matches!(op, DiffOp::Equal { .. });
        let bridges = equal && changed.is_some() && o.len() <= SHORT_EQUAL && ops.get(i + 1).is_some_and(|next| !matches!(next, DiffOp::Equal { .. }));
        if equal && !bridges {
            if let Some((co, cn)) = changed.take() {
                refine(old, co, new, cn, deadline, &mut edits);
            }
            push(&mut edits, o, n, true);
        } else {
            changed = Some(match changed {
                Some((co, cn)) => (co.start..o.end, cn.start..n.end),
                None => (o, n),
            });
        }
    }
    if let Some((co, cn)) = changed {
        refine(old, co, new, cn, deadline, &mut edits);
    }
    edits
}

/// A run of changed sentences, compared unit by unit.
fn refine(old: &str, old_range: Range<usize>, new: &str, new_range: Range<usize>, deadline: Option<Instant>, edits: &mut Vec<Edit>) {
    if old_range.is_empty() || new_range.is_empty() {
        return push(edits, old_range, new_range, false);
    }
    let (old_part, new_part) = (&old[old_range.clone()], &new[new_range.clone()]);
    let old_bounds: Vec<usize> = unit_bounds(old_part).into_iter().map(|b| b + old_range.start).collect();
    let new_bounds: Vec<usize> = unit_bounds(new_part).into_iter().map(|b| b + new_range.start).collect();
    let old_units = pieces(old, &old_bounds);
    let new_units = pieces(new, &new_bounds);
    for op in capture_diff_slices_deadline(Algorithm::Myers, &old_units, &new_units, deadline) {
        let (o, n) = (byte_range(&old_bounds, op.old_range()), byte_range(&new_bounds, op.new_range()));
        push(edits, o, n, matches!(op, DiffOp::Equal { .. }));
    }
}

/// Appends a change (a deletion before an insertion when both) or an equal run, merging with
/// the previous edit of the same kind.
fn push(edits: &mut Vec<Edit>, old: Range<usize>, new: Range<usize>, equal: bool) {
    if equal {
        if let Some(Edit::Equal { old: o, new: n }) = edits.last_mut()
            && o.end == old.start
        {
            o.end = old.end;
            n.end = new.end;
        } else if !old.is_empty() {
            edits.push(Edit::Equal { old, new });
        }
        return;
    }
    if !old.is_empty() {
        edits.push(Edit::Delete { old });
    }
    if !new.is_empty() {
        edits.push(Edit::Insert { new });
    }
}

fn pieces<'a>(text: &'a str, bounds: &[usize]) -> Vec<&'a str> {
    bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Piece indexes to byte offsets.
fn byte_range(bounds: &[usize], pieces: Range<usize>) -> Range<usize> {
    bounds[pieces.start]..bounds[pieces.end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, new: &str, edits: &[Edit]) -> (String, String) {
        let (mut a, mut b) = (String::new(), String::new());
        for e in edits {
            match e {
                Edit::Equal { old: o, new: n } => {
                    assert_eq!(&old[o.clone()], &new[n.clone()]);
                    a.push_str(&old[o.clone()]);
                    b.push_str(&new[n.clone()]);
                }
                Edit::Delete { old: o } => a.push_str(&old[o.clone()]),
                Edit::Insert { new: n } => b.push_str(&new[n.clone()]),
            }
        }
        (a, b)
    }

    #[test]
    fn a_changed_word_inside_a_sentence_is_found_exactly() {
        let old = "第一句不变。第二句有一个错字。第三句不变。";
        let new = "第一句不变。第二句有一个别字。第三句不变。";
        let edits = diff(old, new, None);
        assert_eq!(apply(old, new, &edits), (old.to_owned(), new.to_owned()));
        let changed: Vec<&str> = edits
            .iter()
            .filter_map(|e| match e {
                Edit::Delete { old: o } => Some(&old[o.clone()]),
                Edit::Insert { new: n } => Some(&new[n.clone()]),
                Edit::Equal { .. } => None,
            })
            .collect();
        assert_eq!(changed, vec!["错", "别"]);
    }

    #[test]
    fn empty_sides() {
        assert_eq!(diff("", "abc", None), vec![Edit::Insert { new: 0..3 }]);
        assert_eq!(diff("abc", "", None), vec![Edit::Delete { old: 0..3 }]);
        assert!(diff("", "", None).is_empty());
    }

    #[test]
    fn a_passed_deadline_still_gives_an_exact_diff() {
        let old: String = (0..3000).map(|i| char::from_u32(0x4E00 + (i * 7919) % 20000).unwrap_or('一')).collect();
        let new: String = (0..3000).map(|i| char::from_u32(0x4E00 + (i * 104729) % 20000).unwrap_or('一')).collect();
        let edits = diff(&old, &new, Some(Instant::now()));
        assert_eq!(apply(&old, &new, &edits), (old, new));
    }
}
