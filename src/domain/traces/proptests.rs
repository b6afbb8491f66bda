//! Property tests over random edit chains: the spans spell both ends of the range exactly,
//! whatever the range and whatever the text (Chinese, English, mixed, emoji, combining marks,
//! CRLF, cuts inside grapheme clusters), and every insertion is credited to the revision that
//! made it.
//!
//! "The revision that made it" is only defined where the texts alone tell: if a reviewer
//! deletes one "，" and types another elsewhere, no diff can know which one survived, and two
//! answers are equally right. So the crediting property draws each revision's insertions from
//! units no other revision uses (its own CJK characters and emoji); the spelling property runs
//! over the mixed alphabet.

use proptest::prelude::*;
use unicode_segmentation::UnicodeSegmentation;

use super::{SpanOp, TraceSpan, attribute, text_of};

const FRAGMENTS: &[&str] = &[
    "关", "于", "召", "开", "会", "议", "的", "通", "知", "。", "，", "年", "budget", "Budget", "review", "2026", "42", " ", "  ", "\n", "\r\n",
    "👍🏽", "👨\u{200d}👩\u{200d}👧", "e\u{301}", "é", "a", "-", "（", "）",
];

/// Units that belong to one revision: 16 CJK characters from 0x5B00 + 16 × revision, and one
/// emoji each.
const OWN_EMOJI: &[&str] = &["👍🏽", "🎉", "📄", "✅", "🚩", "📌", "🔖", "🖋\u{fe0f}"];
const OWN_CJK: u32 = 16;

/// How revisions write: from the shared mixed alphabet, or from units only they use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Mixed,
    Own,
}

fn fragment(alphabet: Alphabet, revision: usize, i: usize) -> String {
    match alphabet {
        Alphabet::Mixed => FRAGMENTS[i % FRAGMENTS.len()].to_owned(),
        Alphabet::Own if i % (OWN_CJK as usize + 1) == OWN_CJK as usize => OWN_EMOJI[revision % OWN_EMOJI.len()].to_owned(),
        Alphabet::Own => char::from_u32(0x5B00 + OWN_CJK * revision as u32 + (i as u32 % OWN_CJK)).map(String::from).unwrap_or_default(),
    }
}

/// The revision whose own unit `grapheme` is, if it is one.
fn owner(grapheme: &str) -> Option<usize> {
    if let Some(r) = OWN_EMOJI.iter().position(|e| *e == grapheme) {
        return Some(r);
    }
    let c = grapheme.chars().next()? as u32;
    (0x5B00..0x5B00 + OWN_CJK * OWN_EMOJI.len() as u32).contains(&c).then(|| ((c - 0x5B00) / OWN_CJK) as usize)
}

#[derive(Clone, Debug)]
enum Op {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragments: Vec<usize> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Op::Delete { at, len }),
        (any::<usize>(), prop::collection::vec(any::<usize>(), 1..6)).prop_map(|(at, fragments)| Op::Insert { at, fragments }),
    ]
}

fn chain_ops() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<Op>>)> {
    (prop::collection::vec(any::<usize>(), 0..40), prop::collection::vec(prop::collection::vec(op(), 1..5), 1..OWN_EMOJI.len()))
}

/// Applies the ops; `graphemes` keeps every cut on a grapheme boundary (as a person editing
/// would), otherwise cuts fall on any character boundary, splitting clusters and CRLFs.
fn build_chain(initial: &[usize], revisions: &[Vec<Op>], alphabet: Alphabet, graphemes: bool) -> Vec<String> {
    let mut text: String = initial.iter().map(|&i| fragment(alphabet, 0, i)).collect();
    let mut chain = vec![text.clone()];
    for (n, ops) in revisions.iter().enumerate() {
        let revision = n + 1;
        for op in ops {
            let bounds: Vec<usize> = if graphemes {
                text.grapheme_indices(true).map(|(i, _)| i).chain([text.len()]).collect()
            } else {
                text.char_indices().map(|(i, _)| i).chain([text.len()]).collect()
            };
            match op {
                Op::Delete { at, len } => {
                    let start = at % bounds.len();
                    let end = (start + len).min(bounds.len() - 1);
                    text.replace_range(bounds[start]..bounds[end], "");
                }
                Op::Insert { at, fragments } => {
                    let inserted: String = fragments.iter().map(|&i| fragment(alphabet, revision, i)).collect();
                    text.insert_str(bounds[at % bounds.len()], &inserted);
                }
            }
        }
        chain.push(text.clone());
    }
    chain
}

/// The ranges a reader can ask for: (`from` index or `None` for empty, `to` index).
fn ranges(n: usize) -> Vec<(Option<usize>, usize)> {
    let last = n - 1;
    let mut r = vec![(None, last), (Some(0), last), (Some(last / 2), last), (None, last / 2)];
    if last >= 2 {
        r.push((Some(1), last - 1));
    }
    r
}

fn slice(chain: &[String], from: Option<usize>, to: usize) -> Vec<&str> {
    let mut texts = vec![from.map_or("", |f| chain[f].as_str())];
    texts.extend(chain[from.map_or(0, |f| f + 1)..=to].iter().map(String::as_str));
    texts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn spans_spell_both_ends_of_every_range((initial, revisions) in chain_ops(), graphemes in any::<bool>()) {
        let chain = build_chain(&initial, &revisions, Alphabet::Mixed, graphemes);
        for (from, to) in ranges(chain.len()) {
            let texts = slice(&chain, from, to);
            let spans = attribute(&texts, None);
            prop_assert_eq!(text_of(&spans, TraceSpan::in_to), texts[texts.len() - 1]);
            prop_assert_eq!(text_of(&spans, TraceSpan::in_from), texts[0]);
            for s in &spans {
                prop_assert!(!s.text.is_empty());
                prop_assert!(s.inserted_in.is_none_or(|p| p >= 1 && p < texts.len()));
                prop_assert!(s.deleted_in.is_none_or(|p| p >= 1 && p < texts.len()));
            }
        }
    }

    #[test]
    fn every_insertion_is_credited_to_the_revision_that_made_it((initial, revisions) in chain_ops()) {
        let chain = build_chain(&initial, &revisions, Alphabet::Own, true);
        for (from, to) in ranges(chain.len()) {
            let texts = slice(&chain, from, to);
            // Chain position p is revision `first + p - 1`.
            let first = from.map_or(0, |f| f + 1);
            for s in attribute(&texts, None) {
                for made_by in s.text.graphemes(true).filter_map(owner) {
                    match (s.op, s.inserted_in) {
                        (SpanOp::Insert | SpanOp::Transient, Some(p)) => prop_assert_eq!(made_by, first + p - 1, "{:?}", s),
                        _ => prop_assert!(from.is_some_and(|f| made_by <= f), "{:?} from {:?}", s, from),
                    }
                }
            }
        }
    }
}

#[test]
fn a_complete_rewrite_past_the_deadline_is_still_exact() {
    let old: String = (0..20_000u32).map(|i| char::from_u32(0x4E00 + (i * 7919) % 20_000).unwrap_or('一')).collect();
    let new: String = (0..20_000u32).map(|i| char::from_u32(0x4E00 + (i * 104_729) % 20_000).unwrap_or('一')).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5);
    let spans = attribute(&[&old, &new], Some(deadline));
    assert_eq!(text_of(&spans, TraceSpan::in_to), new);
    assert_eq!(text_of(&spans, TraceSpan::in_from), old);
}

