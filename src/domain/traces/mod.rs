//! 痕迹 (traces): who inserted and who deleted every piece of a document's text.
//!
//! The engine walks a chain of revision texts, oldest first, and keeps every piece of text it
//! has ever seen in document order: the pieces still alive spell the latest text, and the dead
//! ones stay where they were, tagged with the revision that removed them. Each step diffs one
//! text against the next (see `diff`) and marks, splits or adds pieces accordingly, so the
//! cost of a step is the diff plus the number of pieces, never the number of characters.

pub mod diff;
pub mod docx;
pub mod html;
pub mod report;
pub mod units;

#[cfg(test)]
mod proptests;

use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use diff::Edit;

/// What happened to a span between `from` and `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanOp {
    /// In both `from` and `to`.
    Equal,
    /// Inserted after `from`, still in `to`.
    Insert,
    /// In `from`, deleted later.
    Delete,
    /// Inserted and deleted again between `from` and `to`.
    Transient,
}

/// A run of text with one history. Revisions are positions in the chain given to
/// [`attribute`]: position 0 is the `from` text, so both are at least 1 when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSpan {
    pub text: String,
    pub op: SpanOp,
    pub inserted_in: Option<usize>,
    pub deleted_in: Option<usize>,
}

impl TraceSpan {
    pub fn in_to(&self) -> bool {
        matches!(self.op, SpanOp::Equal | SpanOp::Insert)
    }

    pub fn in_from(&self) -> bool {
        matches!(self.op, SpanOp::Equal | SpanOp::Delete)
    }
}

/// A piece of text: bytes of one chain text, when it came and when it went (0: never).
#[derive(Clone, Copy, Debug)]
struct Piece {
    text: usize,
    start: usize,
    end: usize,
    inserted: usize,
    deleted: usize,
}

impl Piece {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn alive(&self) -> bool {
        self.deleted == 0
    }
}

/// Attributes every change along `chain` (the `from` text first, then each later revision's
/// text up to `to`). Past `deadline` the diffs get coarser, never wrong.
pub fn attribute(chain: &[&str], deadline: Option<Instant>) -> Vec<TraceSpan> {
    let mut pieces = Vec::new();
    if let Some(first) = chain.first().filter(|t| !t.is_empty()) {
        pieces.push(Piece { text: 0, start: 0, end: first.len(), inserted: 0, deleted: 0 });
    }
    for step in 1..chain.len() {
        let edits = diff::diff(chain[step - 1], chain[step], deadline);
        pieces = apply(pieces, &edits, step);
    }
    spans(chain, &pieces)
}

/// One step: the live pieces spell the old text; afterwards they spell the new one.
fn apply(pieces: Vec<Piece>, edits: &[Edit], step: usize) -> Vec<Piece> {
    let mut out = Pieces(Vec::with_capacity(pieces.len() + 2 * edits.len()));
    let mut cursor = Cursor { rest: pieces.into_iter(), held: None };
    for edit in edits {
        match edit {
            Edit::Equal { old, .. } => cursor.take_live(old.len(), 0, &mut out),
            Edit::Delete { old } => cursor.take_live(old.len(), step, &mut out),
            Edit::Insert { new } => {
                // After any text deleted here, so a replacement reads "old, then new".
                cursor.take_dead(&mut out);
                out.push(Piece { text: step, start: new.start, end: new.end, inserted: step, deleted: 0 });
            }
        }
    }
    cursor.take_dead(&mut out);
    debug_assert!(cursor.held.is_none() && cursor.rest.len() == 0, "edits did not cover the old text");
    out.0.extend(cursor.held);
    out.0.extend(cursor.rest);
    out.0
}

struct Pieces(Vec<Piece>);

impl Pieces {
    /// Appends, joining with the previous piece when it continues it with the same history.
    fn push(&mut self, p: Piece) {
        if let Some(last) = self.0.last_mut()
            && last.text == p.text
            && last.end == p.start
            && last.inserted == p.inserted
            && last.deleted == p.deleted
        {
            last.end = p.end;
            return;
        }
        if p.len() > 0 {
            self.0.push(p);
        }
    }
}

struct Cursor {
    rest: std::vec::IntoIter<Piece>,
    /// The unconsumed part of a piece that an edit boundary cut.
    held: Option<Piece>,
}

impl Cursor {
    fn next(&mut self) -> Option<Piece> {
        self.held.take().or_else(|| self.rest.next())
    }

    /// Moves `len` bytes of live text to `out`, marking them deleted in `deleted_in` (unless
    /// 0), and the dead pieces among them as they are.
    fn take_live(&mut self, mut len: usize, deleted_in: usize, out: &mut Pieces) {
        while len > 0 {
            let Some(mut p) = self.next() else { return };
            if !p.alive() {
                out.push(p);
                continue;
            }
            if p.len() > len {
                let rest = Piece { start: p.start + len, ..p };
                p.end = p.start + len;
                self.held = Some(rest);
            }
            len -= p.len();
            p.deleted = deleted_in;
            out.push(p);
        }
    }

    /// Moves the dead pieces up to the next live one.
    fn take_dead(&mut self, out: &mut Pieces) {
        while let Some(p) = self.next() {
            if p.alive() {
                self.held = Some(p);
                return;
            }
            out.push(p);
        }
    }
}

fn spans(chain: &[&str], pieces: &[Piece]) -> Vec<TraceSpan> {
    let mut spans: Vec<TraceSpan> = Vec::new();
    for p in pieces {
        let text = &chain[p.text][p.start..p.end];
        let (inserted_in, deleted_in) = ((p.inserted > 0).then_some(p.inserted), (p.deleted > 0).then_some(p.deleted));
        if let Some(last) = spans.last_mut()
            && last.inserted_in == inserted_in
            && last.deleted_in == deleted_in
        {
            last.text.push_str(text);
            continue;
        }
        let op = match (inserted_in, deleted_in) {
            (None, None) => SpanOp::Equal,
            (Some(_), None) => SpanOp::Insert,
            (None, Some(_)) => SpanOp::Delete,
            (Some(_), Some(_)) => SpanOp::Transient,
        };
        spans.push(TraceSpan { text: text.to_owned(), op, inserted_in, deleted_in });
    }
    spans
}

/// The text a side of the trace spells.
pub fn text_of(spans: &[TraceSpan], keep: impl Fn(&TraceSpan) -> bool) -> String {
    spans.iter().filter(|s| keep(s)).map(|s| s.text.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(spans: &[TraceSpan]) -> Vec<(&str, SpanOp, Option<usize>, Option<usize>)> {
        spans.iter().map(|s| (s.text.as_str(), s.op, s.inserted_in, s.deleted_in)).collect()
    }

    #[test]
    fn each_reviewer_keeps_their_marks() {
        let chain = ["关于召开会议的通知", "关于召开年度会议的通知", "关于召开年度工作会议的通告"];
        let spans = attribute(&chain, None);
        assert_eq!(
            ops(&spans),
            vec![
                ("关于召开", SpanOp::Equal, None, None),
                ("年度", SpanOp::Insert, Some(1), None),
                ("工作", SpanOp::Insert, Some(2), None),
                ("会议的通", SpanOp::Equal, None, None),
                ("知", SpanOp::Delete, None, Some(2)),
                ("告", SpanOp::Insert, Some(2), None),
            ]
        );
    }

    #[test]
    fn text_inserted_and_deleted_inside_the_range_is_transient() {
        let chain = ["甲乙", "甲丙乙", "甲乙"];
        let spans = attribute(&chain, None);
        assert_eq!(ops(&spans), vec![("甲", SpanOp::Equal, None, None), ("丙", SpanOp::Transient, Some(1), Some(2)), ("乙", SpanOp::Equal, None, None)]);
    }

    #[test]
    fn from_empty_everything_is_inserted() {
        let spans = attribute(&["", "draft one", "draft two"], None);
        assert_eq!(text_of(&spans, TraceSpan::in_to), "draft two");
        assert_eq!(text_of(&spans, TraceSpan::in_from), "");
        assert!(spans.iter().all(|s| s.inserted_in.is_some()));
    }

    #[test]
    fn mixed_text_with_emoji_and_crlf_is_credited_unit_by_unit() {
        let chain = ["预算 budget 2026。\r\n同意 👍🏽", "预算 budget 2027。\r\n附件\r\n同意 👍🏽 approved", "预算 final budget 2027。\r\n\r\n同意 👍🏽 approved"];
        let spans = attribute(&chain, None);
        assert_eq!(
            ops(&spans),
            vec![
                ("预算 ", SpanOp::Equal, None, None),
                ("final ", SpanOp::Insert, Some(2), None),
                ("budget ", SpanOp::Equal, None, None),
                ("2026", SpanOp::Delete, None, Some(1)),
                ("2027", SpanOp::Insert, Some(1), None),
                ("。\r\n", SpanOp::Equal, None, None),
                ("附件", SpanOp::Transient, Some(1), Some(2)),
                ("\r\n", SpanOp::Insert, Some(1), None),
                ("同意 👍🏽", SpanOp::Equal, None, None),
                (" approved", SpanOp::Insert, Some(1), None),
            ]
        );
    }

    #[test]
    fn deleted_text_stays_where_it_was_across_later_edits() {
        let chain = ["one two three", "one three", "one three four", "zero one three four"];
        let spans = attribute(&chain, None);
        assert_eq!(text_of(&spans, TraceSpan::in_from), chain[0]);
        assert_eq!(text_of(&spans, TraceSpan::in_to), chain[3]);
        let all: String = spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(all, "zero one two three four");
    }
}
