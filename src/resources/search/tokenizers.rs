//! Tokenizers for Chinese and mixed text.
//!
//! Every text field is indexed twice:
//! - `gram`: each CJK character as a unigram and each pair of neighbours as a bigram, both at
//!   the character's position, so that any run of CJK characters in a query becomes a phrase of
//!   bigrams (or one unigram) at consecutive positions and finds exactly the documents that
//!   contain it. This is the recall field.
//! - `seg`: words as jieba segments them (search mode), for ranking.
//!
//! In both, Latin words and numbers are single tokens (lower-cased and stemmed by the filters
//! after the tokenizer), and a run of spaces or punctuation takes up one position, so that a
//! phrase never matches across it.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{LowerCaser, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer};

use crate::domain::traces::units::is_cjk;

pub const GRAM: &str = "henji_gram";
pub const GRAM_QUERY: &str = "henji_gram_query";
pub const SEG: &str = "henji_seg";

/// Loaded once (about 0.2 s); shared by every tokenizer.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// The analyzers to register on an index, by name.
pub fn analyzers() -> [(&'static str, TextAnalyzer); 3] {
    let build = |t: GramTokenizer| TextAnalyzer::builder(t).filter(LowerCaser).filter(Stemmer::default()).build();
    [
        (GRAM, build(GramTokenizer { query: false })),
        (GRAM_QUERY, build(GramTokenizer { query: true })),
        (SEG, TextAnalyzer::builder(JiebaTokenizer).filter(LowerCaser).filter(Stemmer::default()).build()),
    ]
}

/// A character that is a word on its own: an ideograph, kana or hangul (not CJK punctuation).
fn is_cjk_letter(c: char) -> bool {
    is_cjk(c) && c.is_alphanumeric()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cjk,
    Word,
    Gap,
}

fn kind(c: char) -> Kind {
    if is_cjk_letter(c) {
        Kind::Cjk
    } else if c.is_alphanumeric() || is_mark(c) {
        Kind::Word
    } else {
        Kind::Gap
    }
}

/// Combining marks belong to the word they follow.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// In index mode every CJK character gives a unigram and, when the next character is CJK too,
/// a bigram at the same position. In query mode a CJK run gives only its bigrams (or its one
/// unigram), which is what a phrase query needs.
#[derive(Clone)]
pub struct GramTokenizer {
    query: bool,
}

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(gram_tokens(text, self.query))
    }
}

fn gram_tokens(text: &str, query: bool) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i + 1).map_or(text.len(), |c| c.0);
    let mut tokens = Vec::new();
    let mut position = 0;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match kind(c) {
            Kind::Cjk => {
                let next_is_cjk = chars.get(i + 1).is_some_and(|n| kind(n.1) == Kind::Cjk);
                let previous_is_cjk = i > 0 && kind(chars[i - 1].1) == Kind::Cjk;
                if !query || (!next_is_cjk && !previous_is_cjk) {
                    tokens.push(token(text, at, end_of(i), position));
                }
                if next_is_cjk {
                    tokens.push(token(text, at, end_of(i + 1), position));
                }
                position += 1;
                i += 1;
            }
            Kind::Word => {
                let mut j = i;
                while j + 1 < chars.len() && kind(chars[j + 1].1) == Kind::Word {
                    j += 1;
                }
                tokens.push(token(text, at, end_of(j), position));
                position += 1;
                i = j + 1;
            }
            Kind::Gap => {
                while i < chars.len() && kind(chars[i].1) == Kind::Gap {
                    i += 1;
                }
                // Leading gaps take no position, so a query's first token sits at 0.
                if !tokens.is_empty() {
                    position += 1;
                }
            }
        }
    }
    tokens
}

fn token(text: &str, from: usize, to: usize, position: usize) -> Token {
    Token { offset_from: from, offset_to: to, position, text: text[from..to].to_owned(), position_length: 1 }
}

/// jieba's search-mode segmentation, without the whitespace and punctuation it emits.
#[derive(Clone)]
pub struct JiebaTokenizer;

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let tokens = JIEBA
            .cut_for_search(text, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .enumerate()
            .map(|(position, t)| Token { offset_from: t.byte_start, offset_to: t.byte_end, position, text: t.word.to_owned(), position_length: 1 })
            .collect();
        VecTokenStream::new(tokens)
    }
}

pub struct VecTokenStream {
    tokens: Vec<Token>,
    /// One past the current token; 0 before the first `advance`.
    next: usize,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> Self {
        Self { tokens, next: 0 }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next.saturating_sub(1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, text: &str) -> Vec<(String, usize)> {
        let mut analyzer = analyzers().into_iter().find(|(n, _)| *n == name).map(|(_, a)| a).unwrap();
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
    fn index_mode_gives_unigrams_and_bigrams_at_each_position() {
        assert_eq!(
            run(GRAM, "年度预算，Budgets 2026年"),
            owned(&[("年", 0), ("年度", 0), ("度", 1), ("度预", 1), ("预", 2), ("预算", 2), ("算", 3), ("budget", 5), ("2026", 7), ("年", 8)])
        );
    }

    #[test]
    fn query_mode_gives_the_bigrams_of_a_run_or_its_one_character() {
        assert_eq!(run(GRAM_QUERY, "预算编"), owned(&[("预算", 0), ("算编", 1)]));
        assert_eq!(run(GRAM_QUERY, "预"), owned(&[("预", 0)]));
        assert_eq!(run(GRAM_QUERY, "2026年"), owned(&[("2026", 0), ("年", 1)]));
        assert_eq!(run(GRAM_QUERY, "“预算”"), owned(&[("预算", 0)]));
    }

    #[test]
    fn jieba_segments_words_without_punctuation() {
        let words: Vec<String> = run(SEG, "关于做好年度预算编制工作的通知。").into_iter().map(|(w, _)| w).collect();
        assert!(words.contains(&"预算".to_owned()) && words.contains(&"通知".to_owned()), "{words:?}");
        assert!(!words.iter().any(|w| w == "。"));
    }
}
