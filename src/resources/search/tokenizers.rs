//! Tokenizers for Chinese and mixed text.
//!
//! Every text field is indexed twice:
//! - `gram`: each CJK character that has a CJK neighbour after it gives the bigram of the two,
//!   and the first and the last character of a run also give themselves (unigrams), each at
//!   the character's position. A run of two or more CJK characters in a query is then a phrase
//!   of its bigrams at their positions (every other one suffices, see `covering_bigrams`). A
//!   run of one character in a query stands for itself: inside a longer query it sits against
//!   a Latin word or a gap, so in a matching text it begins or ends a run and is indexed alone;
//!   a query of just one character goes to the `char` field below. This is the recall field.
//!   About one term per character, not a unigram and a bigram for each, halves the work and
//!   the postings.
//! - `seg`: words as jieba segments them (search mode, dictionary only, no HMM), for ranking.
//! - `char`: each CJK character of the text once, without positions: a query of one character
//!   is a single term here. As a prefix of the `gram` terms it read the postings of every
//!   bigram that begins with the character, for a common character most of the index.
//!
//! In `gram` and `seg`, Latin words and numbers are single tokens, lower-cased and stemmed
//! (English), and a run of spaces or punctuation takes up one position, so that a phrase never
//! matches across it. Only Latin words pay for case folding and stemming; CJK tokens are
//! copied as they are.
//!
//! The streams reuse one `Token` and its buffer, so tokenizing allocates nothing per token.

use std::collections::HashSet;
use std::sync::LazyLock;

use frostem::{Algorithm, Stemmer};
use jieba_rs::Jieba;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

use crate::domain::traces::units::is_cjk;

/// The names carry a version: an index made with other rules is of another schema and is
/// rebuilt, not misread.
pub const GRAM: &str = "henji_gram_v2";
pub const GRAM_QUERY: &str = "henji_gram_query_v2";
pub const SEG: &str = "henji_seg_v2";
pub const CHARS: &str = "henji_chars_v1";

/// Loaded once (about 0.2 s); shared by every tokenizer.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads what the analyzers load on first use (jieba's dictionary: about 0.2 s, seconds in a
/// debug build), so that the first searches after a start do not all wait for it. Called in
/// the background: opening an index (and a new installation's health) should not wait for it.
pub fn warm() {
    LazyLock::force(&JIEBA);
}

/// The analyzers to register on an index, by name.
pub fn analyzers() -> [(&'static str, TextAnalyzer); 4] {
    [
        (GRAM, TextAnalyzer::from(GramTokenizer { query: false })),
        (
            GRAM_QUERY,
            TextAnalyzer::from(GramTokenizer { query: true }),
        ),
        (SEG, TextAnalyzer::from(JiebaTokenizer)),
        (CHARS, TextAnalyzer::from(CharsTokenizer::default())),
    ]
}

/// Whether a `gram` query token is a lone CJK character: as the whole query it is looked up in
/// the `char` field, since the `gram` field holds a character in the middle of a run only as
/// the first of a bigram.
pub fn lone_character(token: &str) -> Option<char> {
    let mut chars = token.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if kind(c) == Kind::Cjk => Some(c),
        _ => None,
    }
}

/// The bigrams of a query's phrase that decide it: of each run of bigrams at consecutive
/// positions, every other one and the last, and the one in fewest documents (`doc_freq`).
/// A bigram at position p stands for the characters at p and p + 1, so these still cover every
/// character of the run, and a text has a bigram at every character that another follows: the
/// phrase matches exactly the texts it matched with all of them, while reading the positions
/// of fewer terms (two of three for a four-character word). The rarest bigram is kept because
/// it decides which documents are candidates at all: without it, a phrase of common
/// characters around a rare pair would check the positions of many more documents.
/// Other tokens are kept as they are.
pub fn covering_bigrams(grams: &[(usize, String)], doc_freq: impl Fn(&str) -> u64) -> Vec<(usize, String)> {
    let is_bigram = |t: &str| {
        let mut chars = t.chars();
        matches!((chars.next(), chars.next(), chars.next()), (Some(a), Some(b), None) if kind(a) == Kind::Cjk && kind(b) == Kind::Cjk)
    };
    let bigram: Vec<bool> = grams.iter().map(|(_, t)| is_bigram(t)).collect();
    let mut keep = vec![true; grams.len()];
    let mut start = 0;
    while start < grams.len() {
        // The run of bigrams at consecutive positions that begins at `start`.
        let mut end = start + 1;
        while end < grams.len() && bigram[start] && bigram[end] && grams[end].0 == grams[end - 1].0 + 1 {
            end += 1;
        }
        if end - start >= 3 {
            let rarest = (start..end).min_by_key(|&i| doc_freq(&grams[i].1)).unwrap_or(start);
            for (i, k) in keep.iter_mut().enumerate().take(end).skip(start) {
                *k = (i - start) % 2 == 0 || i == end - 1 || i == rarest;
            }
        }
        start = end;
    }
    grams.iter().zip(keep).filter(|(_, k)| *k).map(|(g, _)| g.clone()).collect()
}

/// The CJK unified ideographs: nearly all of a Chinese text.
const IDEOGRAPHS: std::ops::RangeInclusive<char> = '\u{4E00}'..='\u{9FFF}';

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A character that is a word on its own: an ideograph, kana or hangul (not CJK
    /// punctuation).
    Cjk,
    Word,
    Gap,
}

fn kind(c: char) -> Kind {
    if c.is_ascii() {
        return if c.is_ascii_alphanumeric() {
            Kind::Word
        } else {
            Kind::Gap
        };
    }
    // The unified ideographs are nearly all of the text; they need no table lookup.
    if IDEOGRAPHS.contains(&c) {
        return Kind::Cjk;
    }
    if c.is_alphanumeric() {
        if is_cjk(c) { Kind::Cjk } else { Kind::Word }
    } else if is_mark(c) {
        Kind::Word
    } else {
        Kind::Gap
    }
}

/// Combining marks belong to the word they follow.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Writes a Latin word or number into `out` as it is indexed: lower-cased, then stemmed.
fn normalize_word(word: &str, stemmer: &Stemmer, out: &mut String) {
    let mut lower = String::new();
    let folded: &str = if word.is_ascii() {
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            lower.push_str(word);
            lower.make_ascii_lowercase();
            &lower
        } else {
            word
        }
    } else {
        lower = word.to_lowercase();
        &lower
    };
    out.clear();
    out.push_str(&stemmer.stem(folded));
}

fn english() -> Stemmer {
    Stemmer::new(Algorithm::English)
}

/// In index mode, a CJK character followed by another gives their bigram, and the first and
/// last of a run give themselves. In query mode a run gives only its bigrams (or its one
/// character), which is what a phrase query needs.
#[derive(Clone)]
pub struct GramTokenizer {
    query: bool,
}

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = GramStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream<'a> {
        GramStream {
            text,
            at: 0,
            query: self.query,
            previous_is_cjk: false,
            position: 0,
            emitted: false,
            pending: None,
            token: Token::default(),
            stemmer: english(),
        }
    }
}

pub struct GramStream<'a> {
    text: &'a str,
    /// Byte offset of the next character to look at.
    at: usize,
    query: bool,
    previous_is_cjk: bool,
    position: usize,
    emitted: bool,
    /// The bigram (from, to, position) that follows the unigram of a run's first character.
    pending: Option<(usize, usize, usize)>,
    token: Token,
    stemmer: Stemmer,
}

impl GramStream<'_> {
    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|rest| rest.chars().next())
    }

    fn set(&mut self, from: usize, to: usize, position: usize) {
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = position;
        self.token.position_length = 1;
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.emitted = true;
    }
}

impl TokenStream for GramStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some((from, to, position)) = self.pending.take() {
            self.set(from, to, position);
            return true;
        }
        while let Some(c) = self.char_at(self.at) {
            let from = self.at;
            let after = from + c.len_utf8();
            match kind(c) {
                Kind::Cjk => {
                    let next = self.char_at(after).filter(|n| kind(*n) == Kind::Cjk);
                    let position = self.position;
                    let bigram = next.map(|n| (from, after + n.len_utf8(), position));
                    // A query's runs of two or more are phrases of bigrams only.
                    let alone = if self.query {
                        next.is_none() && !self.previous_is_cjk
                    } else {
                        next.is_none() || !self.previous_is_cjk
                    };
                    self.position += 1;
                    self.previous_is_cjk = true;
                    self.at = after;
                    if alone {
                        self.set(from, after, position);
                        self.pending = bigram;
                        return true;
                    }
                    if let Some((from, to, position)) = bigram {
                        self.set(from, to, position);
                        return true;
                    }
                }
                Kind::Word => {
                    let mut to = after;
                    while let Some(n) = self.char_at(to).filter(|n| kind(*n) == Kind::Word) {
                        to += n.len_utf8();
                    }
                    let position = self.position;
                    self.set(from, to, position);
                    normalize_word(&self.text[from..to], &self.stemmer, &mut self.token.text);
                    self.position += 1;
                    self.previous_is_cjk = false;
                    self.at = to;
                    return true;
                }
                Kind::Gap => {
                    let mut to = after;
                    while let Some(n) = self.char_at(to).filter(|n| kind(*n) == Kind::Gap) {
                        to += n.len_utf8();
                    }
                    self.at = to;
                    self.previous_is_cjk = false;
                    // Leading gaps take no position, so a query's first token sits at 0.
                    if self.emitted {
                        self.position += 1;
                    }
                }
            }
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// jieba's search-mode segmentation (dictionary words and the shorter dictionary words inside
/// long ones, so that 预算 ranks a text that has 年度预算; no HMM guessing at unknown words),
/// without the whitespace and punctuation it emits.
#[derive(Clone)]
pub struct JiebaTokenizer;

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaStream<'a> {
        JiebaStream {
            words: JIEBA.cut_for_search(text, false).into_iter(),
            position: 0,
            token: Token::default(),
            stemmer: english(),
        }
    }
}

pub struct JiebaStream<'a> {
    words: std::vec::IntoIter<jieba_rs::Token<'a>>,
    position: usize,
    token: Token,
    stemmer: Stemmer,
}

impl TokenStream for JiebaStream<'_> {
    fn advance(&mut self) -> bool {
        for word in self.words.by_ref() {
            if word.word.chars().all(|c| kind(c) == Kind::Gap) {
                continue;
            }
            self.token.offset_from = word.byte_start;
            self.token.offset_to = word.byte_end;
            self.token.position = self.position;
            self.token.position_length = 1;
            if word
                .word
                .chars()
                .next()
                .is_some_and(|c| kind(c) == Kind::Cjk)
            {
                self.token.text.clear();
                self.token.text.push_str(word.word);
            } else {
                normalize_word(word.word, &self.stemmer, &mut self.token.text);
            }
            self.position += 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Each CJK character of a text once, in the order of first occurrence. A document holds a
/// thousand or two distinct characters in five thousand, so this adds about a third of the
/// terms a `gram` field adds, and without positions.
#[derive(Clone, Default)]
pub struct CharsTokenizer {
    /// The unified ideographs seen in the current text, one bit each (2.6 KB, cleared per text).
    ideographs: Vec<u64>,
    /// Other CJK characters seen (kana, hangul, extensions).
    others: HashSet<char>,
}

impl Tokenizer for CharsTokenizer {
    type TokenStream<'a> = CharsStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CharsStream<'a> {
        let words = (*IDEOGRAPHS.end() as usize - *IDEOGRAPHS.start() as usize) / 64 + 1;
        self.ideographs.clear();
        self.ideographs.resize(words, 0);
        self.others.clear();
        CharsStream { chars: text.char_indices(), seen: self, position: 0, token: Token::default() }
    }
}

pub struct CharsStream<'a> {
    chars: std::str::CharIndices<'a>,
    seen: &'a mut CharsTokenizer,
    position: usize,
    token: Token,
}

impl CharsStream<'_> {
    /// Marks `c` seen; whether it was new.
    fn first_sight(&mut self, c: char) -> bool {
        if IDEOGRAPHS.contains(&c) {
            let n = c as usize - *IDEOGRAPHS.start() as usize;
            let (word, bit) = (n / 64, 1u64 << (n % 64));
            let new = self.seen.ideographs[word] & bit == 0;
            self.seen.ideographs[word] |= bit;
            new
        } else {
            self.seen.others.insert(c)
        }
    }
}

impl TokenStream for CharsStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((at, c)) = self.chars.next() {
            if kind(c) != Kind::Cjk || !self.first_sight(c) {
                continue;
            }
            self.token.offset_from = at;
            self.token.offset_to = at + c.len_utf8();
            self.token.position = self.position;
            self.token.position_length = 1;
            self.token.text.clear();
            self.token.text.push(c);
            self.position += 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, text: &str) -> Vec<(String, usize)> {
        let mut analyzer = analyzers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a)
            .unwrap();
        let mut stream = analyzer.token_stream(text);
        let mut out = vec![];
        while stream.advance() {
            out.push((stream.token().text.clone(), stream.token().position));
        }
        out
    }

    fn owned(v: &[(&str, usize)]) -> Vec<(String, usize)> {
        v.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn index_mode_gives_a_bigram_per_character_and_the_ends_of_a_run_alone() {
        assert_eq!(
            run(GRAM, "年度预算，Budgets 2026年"),
            owned(&[
                ("年", 0),
                ("年度", 0),
                ("度预", 1),
                ("预算", 2),
                ("算", 3),
                ("budget", 5),
                ("2026", 7),
                ("年", 8)
            ])
        );
        assert_eq!(run(GRAM, "“预”"), owned(&[("预", 0)]));
    }

    #[test]
    fn query_mode_gives_the_bigrams_of_a_run_or_its_one_character() {
        assert_eq!(
            run(GRAM_QUERY, "预算编"),
            owned(&[("预算", 0), ("算编", 1)])
        );
        assert_eq!(run(GRAM_QUERY, "预"), owned(&[("预", 0)]));
        assert_eq!(run(GRAM_QUERY, "2026年"), owned(&[("2026", 0), ("年", 1)]));
        assert_eq!(run(GRAM_QUERY, "“预算”"), owned(&[("预算", 0)]));
        assert_eq!(run(GRAM_QUERY, "预算 年"), owned(&[("预算", 0), ("年", 3)]));
    }

    #[test]
    fn a_phrase_keeps_every_other_bigram_and_the_last_of_each_run() {
        // Every bigram as common as any other, so only the cover is kept...
        let covered = |q: &str| -> Vec<(String, usize)> {
            let grams: Vec<(usize, String)> = run(GRAM_QUERY, q).into_iter().map(|(t, p)| (p, t)).collect();
            covering_bigrams(&grams, |_| 7).into_iter().map(|(p, t)| (t, p)).collect()
        };
        assert_eq!(covered("预算"), owned(&[("预算", 0)]));
        assert_eq!(covered("预算编"), owned(&[("预算", 0), ("算编", 1)]));
        assert_eq!(covered("预算编制"), owned(&[("预算", 0), ("编制", 2)]));
        assert_eq!(covered("年度预算编"), owned(&[("年度", 0), ("预算", 2), ("算编", 3)]));
        assert_eq!(covered("年度预算编制"), owned(&[("年度", 0), ("预算", 2), ("编制", 4)]));
        // Runs apart (a gap, a Latin word) are thinned one by one; lone characters and words stay.
        assert_eq!(covered("预算编制 年度预算"), owned(&[("预算", 0), ("编制", 2), ("年度", 5), ("预算", 7)]));
        assert_eq!(covered("年度预算Q3编制工作"), owned(&[("年度", 0), ("预算", 2), ("q3", 4), ("编制", 5), ("工作", 7)]));
        assert_eq!(covered("2026年"), owned(&[("2026", 0), ("年", 1)]));
        // Every character of a run is still in a kept bigram.
        for q in ["预算编制", "关于做好年度预算编制工作的通知", "预算编制工作"] {
            let chars: Vec<char> = q.chars().collect();
            let mut seen = vec![false; chars.len()];
            for (t, p) in covered(q) {
                assert_eq!(t.chars().collect::<Vec<_>>(), chars[p..p + 2], "{q}");
                seen[p] = true;
                seen[p + 1] = true;
            }
            assert!(seen.iter().all(|s| *s), "{q}");
        }
        // ...and the rarest bigram of a run is kept as well.
        let grams: Vec<(usize, String)> = run(GRAM_QUERY, "预算编制").into_iter().map(|(t, p)| (p, t)).collect();
        let rare_middle = covering_bigrams(&grams, |t| if t == "算编" { 1 } else { 100 });
        assert_eq!(rare_middle, grams);
        let rare_end = covering_bigrams(&grams, |t| if t == "编制" { 1 } else { 100 });
        assert_eq!(rare_end, vec![(0, "预算".to_string()), (2, "编制".to_string())]);
    }

    #[test]
    fn every_occurrence_of_a_character_starts_an_indexed_term() {
        let text = "关于做好年度预算编制工作的通知。预算Q3年";
        let terms: Vec<String> = run(GRAM, text).into_iter().map(|(t, _)| t).collect();
        for c in text.chars().filter(|c| kind(*c) == Kind::Cjk) {
            let at_run_starts = text
                .match_indices(c)
                .filter(|(at, _)| {
                    text[..*at]
                        .chars()
                        .next_back()
                        .is_none_or(|p| kind(p) != Kind::Cjk)
                })
                .count();
            let middles = text.matches(c).count() - at_run_starts;
            let beginning_with_c: Vec<&String> =
                terms.iter().filter(|t| t.starts_with(c)).collect();
            assert!(
                beginning_with_c.len() >= middles + at_run_starts,
                "{c}: {beginning_with_c:?}"
            );
            // At the start of a run (next to a Latin word or a gap) it is there alone.
            if at_run_starts > 0 {
                assert!(
                    beginning_with_c.iter().any(|t| t.chars().count() == 1),
                    "{c}"
                );
            }
        }
    }

    #[test]
    fn the_char_field_holds_each_cjk_character_once() {
        let text = "预算预算, budget 预。かなカナ한글 算𠀀";
        let chars: Vec<String> = run(CHARS, text).into_iter().map(|(t, _)| t).collect();
        assert_eq!(chars, ["预", "算", "か", "な", "カ", "ナ", "한", "글", "𠀀"]);
        // The buffer of characters seen starts empty for each text.
        let mut analyzer = analyzers().into_iter().find(|(n, _)| *n == CHARS).map(|(_, a)| a).unwrap();
        for _ in 0..2 {
            let mut stream = analyzer.token_stream("算");
            assert!(stream.advance() && stream.token().text == "算");
            assert!(!stream.advance());
        }
    }

    #[test]
    fn lone_characters_are_single_cjk_letters() {
        assert_eq!(lone_character("预"), Some('预'));
        assert_eq!(lone_character("预算"), None);
        assert_eq!(lone_character("a"), None);
        assert_eq!(lone_character("。"), None);
    }

    #[test]
    fn latin_words_are_folded_and_stemmed_and_cjk_words_kept() {
        let words: Vec<String> = run(SEG, "关于做好年度预算编制工作的通知。Reports")
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        assert!(
            words.contains(&"预算".to_owned()) && words.contains(&"通知".to_owned()),
            "{words:?}"
        );
        assert!(words.contains(&"report".to_owned()), "{words:?}");
        assert!(
            !words.iter().any(|w| w == "。" || w.trim().is_empty()),
            "{words:?}"
        );
    }
}
