//! The search query language (API.md "Search"): words are joined by AND; `OR` between two
//! words, `NOT word` or `-word`, `"a phrase"`, and `field:word` / `field:"a phrase"` work as
//! usual. Every word or phrase matches as a contiguous run of text, so a run of CJK characters
//! finds exactly the documents that contain it.
//!
//! Parsing is pure; the search index turns the tree into its own queries.

use std::fmt;

use memchr::memmem;

use super::extract::fold_brackets;

/// The longest query accepted; a longer one is a mistake or an attack.
pub const MAX_QUERY_CHARS: usize = 1000;
/// The most words and phrases in one query.
pub const MAX_TERMS: usize = 64;

/// Where a term is looked for; `None` in a [`Query::Text`] means every searched field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchField {
    Title,
    Body,
    /// Registration fields (来文单位, 来文字号, …) that are not sensitive.
    Fields,
    /// Text of text attachments (plain text and .docx).
    Attachments,
    /// Opinions (批示意见).
    Opinions,
}

impl SearchField {
    pub const ALL: [SearchField; 5] = [SearchField::Title, SearchField::Body, SearchField::Fields, SearchField::Attachments, SearchField::Opinions];

    fn parse(name: &str) -> Option<Self> {
        match name {
            "title" => Some(Self::Title),
            "body" => Some(Self::Body),
            "fields" => Some(Self::Fields),
            "attachments" | "attachment" => Some(Self::Attachments),
            "opinions" | "opinion" => Some(Self::Opinions),
            _ => None,
        }
    }

    /// The prefix a query names it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Body => "body",
            Self::Fields => "fields",
            Self::Attachments => "attachments",
            Self::Opinions => "opinions",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Text that must occur as a contiguous run (a word, or a quoted phrase).
    Text { field: Option<SearchField>, text: String },
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty")]
    Empty,
    #[error("the query is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} words and phrases")]
    TooManyTerms,
    #[error("a quotation mark is not closed")]
    UnbalancedQuote,
    #[error("unknown field `{0}:`; fields are title:, body:, fields:, attachments: and opinions:")]
    UnknownField(String),
    #[error("`{0}` needs a word after it")]
    DanglingOperator(&'static str),
    #[error("`{0}:` needs a word after it (letters or digits; parentheses are not part of the query language)")]
    DanglingField(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Lexeme {
    Word { field: Option<SearchField>, text: String },
    And,
    Or,
    Not,
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Text { field: Some(field), text } => write!(f, "{field:?}:{text:?}"),
            Query::Text { field: None, text } => write!(f, "{text:?}"),
            Query::And(parts) => write!(f, "({})", parts.iter().map(ToString::to_string).collect::<Vec<_>>().join(" AND ")),
            Query::Or(parts) => write!(f, "({})", parts.iter().map(ToString::to_string).collect::<Vec<_>>().join(" OR ")),
            Query::Not(q) => write!(f, "NOT {q}"),
        }
    }
}

/// Parses `q`. Precedence: `NOT` binds tightest, then `OR`, then the implicit `AND`, so
/// `预算 budget OR 决算 -草稿` is `预算 AND (budget OR 决算) AND NOT 草稿`.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let lexemes = lex(q)?;
    if lexemes.iter().filter(|l| matches!(l, Lexeme::Word { .. })).count() > MAX_TERMS {
        return Err(QueryError::TooManyTerms);
    }
    let mut and_parts: Vec<Query> = Vec::new();
    let mut i = 0;
    while i < lexemes.len() {
        if lexemes[i] == Lexeme::And {
            i += 1;
            continue;
        }
        let (first, next) = unary(&lexemes, i)?;
        let mut alternatives = vec![first];
        i = next;
        while lexemes.get(i) == Some(&Lexeme::Or) {
            let (q, next) = unary(&lexemes, i + 1).map_err(|_| QueryError::DanglingOperator("OR"))?;
            alternatives.push(q);
            i = next;
        }
        and_parts.push(if alternatives.len() == 1 { alternatives.remove(0) } else { Query::Or(alternatives) });
    }
    match and_parts.len() {
        0 => Err(QueryError::Empty),
        1 => Ok(and_parts.remove(0)),
        _ => Ok(Query::And(and_parts)),
    }
}

/// A word, or `NOT` and a word, starting at `i`; returns it and the index after it.
fn unary(lexemes: &[Lexeme], i: usize) -> Result<(Query, usize), QueryError> {
    match lexemes.get(i) {
        Some(Lexeme::Word { field, text }) => Ok((Query::Text { field: *field, text: text.clone() }, i + 1)),
        Some(Lexeme::Not) => {
            let (q, next) = unary(lexemes, i + 1).map_err(|_| QueryError::DanglingOperator("NOT"))?;
            Ok((Query::Not(Box::new(q)), next))
        }
        Some(Lexeme::Or) => Err(QueryError::DanglingOperator("OR")),
        Some(Lexeme::And) => Err(QueryError::DanglingOperator("AND")),
        None => Err(QueryError::Empty),
    }
}

fn lex(q: &str) -> Result<Vec<Lexeme>, QueryError> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        // `-word` and `-"phrase"` are NOT; a lone `-` is text.
        let negated = chars[i] == '-' && chars.get(i + 1).is_some_and(|c| !c.is_whitespace());
        if negated {
            out.push(Lexeme::Not);
            i += 1;
        }
        // An optional `field:` prefix of ASCII letters.
        let mut field = None;
        let name_end = (i..chars.len()).find(|&j| !chars[j].is_ascii_alphabetic()).unwrap_or(chars.len());
        if name_end > i && chars.get(name_end) == Some(&':') && chars.get(name_end + 1).is_some_and(|c| !c.is_whitespace()) {
            let name: String = chars[i..name_end].iter().collect::<String>().to_ascii_lowercase();
            field = Some(SearchField::parse(&name).ok_or(QueryError::UnknownField(name))?);
            i = name_end + 1;
        }
        let text: String = if chars[i] == '"' {
            let close = (i + 1..chars.len()).find(|&j| chars[j] == '"').ok_or(QueryError::UnbalancedQuote)?;
            let phrase = chars[i + 1..close].iter().collect();
            i = close + 1;
            phrase
        } else {
            let end = (i..chars.len()).find(|&j| chars[j].is_whitespace() || chars[j] == '"').unwrap_or(chars.len());
            let word: String = chars[i..end].iter().collect();
            i = end;
            if let Some(f) = field
                && !word.chars().any(char::is_alphanumeric)
            {
                return Err(QueryError::DanglingField(f.name().to_owned()));
            }
            word
        };
        if field.is_none() && !negated {
            match text.as_str() {
                "AND" => {
                    out.push(Lexeme::And);
                    continue;
                }
                "OR" => {
                    out.push(Lexeme::Or);
                    continue;
                }
                "NOT" => {
                    out.push(Lexeme::Not);
                    continue;
                }
                _ => {}
            }
        }
        out.push(Lexeme::Word { field, text });
    }
    if out.last() == Some(&Lexeme::Not) {
        return Err(QueryError::DanglingOperator("NOT"));
    }
    Ok(out)
}

/// The texts a query asks for (not under a NOT): what a snippet highlights.
pub fn positive_texts(q: &Query) -> Vec<&str> {
    match q {
        Query::Text { text, .. } => vec![text.as_str()],
        Query::And(parts) | Query::Or(parts) => parts.iter().flat_map(positive_texts).collect(),
        Query::Not(_) => vec![],
    }
}

/// A snippet of `text` around the first match of any of `needles` (ASCII letters match in
/// any case), about `width` characters, HTML-escaped, with every match in `<mark>`.
///
/// Byte offsets are kept throughout (ASCII lower-casing never changes a length), so the cost
/// is a substring search per needle plus the window, not a pass over every character.
pub fn snippet(text: &str, needles: &[&str], width: usize) -> String {
    // Bracket pairs fold to one (〔〕 read as 【】 by OCR), keeping byte offsets, so a match
    // found in the folded text cuts the original.
    // Each needle whole, and its pieces between punctuation as well (the index matches across
    // any punctuation: 〔2026〕 misread as 【2026]).
    let mut pieces = Vec::new();
    for n in needles {
        let whole = fold_brackets(&n.split_whitespace().collect::<String>().to_ascii_lowercase()).into_owned();
        if whole.contains(|c: char| !c.is_alphanumeric()) {
            pieces.extend(whole.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()).map(str::to_owned));
        }
        pieces.push(whole);
    }
    let needles: Vec<String> = pieces.into_iter().filter(|n| !n.is_empty()).collect();
    let folded;
    let hay: &str = if needles.iter().any(|n| n.bytes().any(|b| b.is_ascii_alphabetic())) {
        folded = fold_brackets(&text.to_ascii_lowercase()).into_owned();
        &folded
    } else {
        match fold_brackets(text) {
            std::borrow::Cow::Borrowed(t) => t,
            std::borrow::Cow::Owned(t) => {
                folded = t;
                &folded
            }
        }
    };
    // Each needle is looked for only before the earliest match so far: a needle the text does
    // not hold (one side of an OR, a word only in the title) need not be sought to the end.
    let mut first: Option<usize> = None;
    for n in &needles {
        // Bytes: a match of a whole UTF-8 needle always begins and ends at character boundaries.
        let limit = first.map_or(hay.len(), |f| (f + n.len()).min(hay.len()));
        if let Some(at) = memmem::find(&hay.as_bytes()[..limit], n.as_bytes()) {
            first = Some(first.map_or(at, |f| f.min(at)));
        }
    }
    // The window: a quarter of it before the first match.
    let start = match first {
        Some(at) => text[..at].char_indices().rev().nth(width / 4).map_or(0, |(i, _)| i),
        None => 0,
    };
    let end = text[start..].char_indices().nth(width).map_or(text.len(), |(i, _)| start + i);
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for n in &needles {
        for at in memmem::find_iter(&hay.as_bytes()[start..end], n.as_bytes()) {
            marks.push((start + at, start + at + n.len()));
        }
    }
    marks.sort_unstable();
    let mut out = String::with_capacity((end - start) + 32);
    if start > 0 {
        out.push('…');
    }
    let mut at = start;
    for (from, to) in marks {
        if to <= at {
            continue;
        }
        let from = from.max(at);
        escape_into(&text[at..from], &mut out);
        out.push_str("<mark>");
        escape_into(&text[from..to], &mut out);
        out.push_str("</mark>");
        at = to;
    }
    escape_into(&text[at..end], &mut out);
    if end < text.len() {
        out.push('…');
    }
    // Adjacent marks read as one.
    out.replace("</mark><mark>", "")
}

/// Snippets are one line: line breaks and tabs read as spaces.
fn escape_into(s: &str, out: &mut String) {
    crate::domain::text::escape_markup_into(&s.replace(['\n', '\r', '\t'], " "), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Query {
        Query::Text { field: None, text: t.into() }
    }

    #[test]
    fn words_are_and_or_binds_tighter_not_tightest() {
        assert_eq!(parse("预算").unwrap(), text("预算"));
        assert_eq!(
            parse("预算 budget OR 决算 -草稿").unwrap(),
            Query::And(vec![text("预算"), Query::Or(vec![text("budget"), text("决算")]), Query::Not(Box::new(text("草稿")))])
        );
        assert_eq!(parse("a AND NOT b").unwrap(), Query::And(vec![text("a"), Query::Not(Box::new(text("b")))]));
        assert_eq!(parse("2026年 预算 budget").unwrap(), Query::And(vec![text("2026年"), text("预算"), text("budget")]));
    }

    #[test]
    fn phrases_and_fields() {
        assert_eq!(parse("\"年度 预算\"").unwrap(), text("年度 预算"));
        assert_eq!(parse("title:通知").unwrap(), Query::Text { field: Some(SearchField::Title), text: "通知".into() });
        assert_eq!(parse("-title:\"草 稿\"").unwrap(), Query::Not(Box::new(Query::Text { field: Some(SearchField::Title), text: "草 稿".into() })));
        // Not a field: digits before the colon, or nothing after it.
        assert_eq!(parse("10:30").unwrap(), text("10:30"));
        assert_eq!(parse("备注:急").unwrap(), text("备注:急"));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        assert_eq!(parse("").unwrap_err(), QueryError::Empty);
        assert_eq!(parse("   ").unwrap_err(), QueryError::Empty);
        assert_eq!(parse("\"预算").unwrap_err(), QueryError::UnbalancedQuote);
        assert_eq!(parse("colour:red").unwrap_err(), QueryError::UnknownField("colour".into()));
        assert_eq!(parse("预算 OR").unwrap_err(), QueryError::DanglingOperator("OR"));
        assert_eq!(parse("NOT").unwrap_err(), QueryError::DanglingOperator("NOT"));
        assert_eq!(parse("title:(").unwrap_err(), QueryError::DanglingField("title".into()));
        assert_eq!(parse("预算 body:)").unwrap_err(), QueryError::DanglingField("body".into()));
        assert!(parse("title:(预算)").is_ok(), "a word with brackets around it is still a word");
        assert_eq!(parse(&"AND OR ".repeat(2000)).unwrap_err(), QueryError::TooLong);
        assert_eq!(parse(&"a ".repeat(100)).unwrap_err(), QueryError::TooManyTerms);
        assert!(parse(&"OR ".repeat(300)).is_err());
    }

    #[test]
    fn snippets_mark_matches_and_escape_the_rest() {
        let s = snippet("<b>关于2026年度预算</b>的通知，预算 Budget 表", &["预算", "budget"], 200);
        assert_eq!(s, "&lt;b&gt;关于2026年度<mark>预算</mark>&lt;/b&gt;的通知，<mark>预算</mark> <mark>Budget</mark> 表");
        let long: String = "无关内容。".repeat(100) + "关键词" + &"其后内容。".repeat(100);
        let s = snippet(&long, &["关键词"], 40);
        assert!(s.starts_with('…') && s.ends_with('…') && s.contains("<mark>关键词</mark>"), "{s}");
        assert_eq!(s.chars().filter(|c| *c != '…').count(), 40 + "<mark></mark>".len());
        // Overlapping needles give one mark; no match gives the start of the text.
        assert_eq!(snippet("年度预算编制", &["预算", "算编"], 100), "年度<mark>预算编</mark>制");
        assert_eq!(snippet("甲乙丙", &["丁"], 2), "甲乙…");
        // A document number OCR read with 【】 is highlighted for a query with 〔〕.
        assert_eq!(snippet("国办发【2026】12号文", &["国办发〔2026〕12号"], 100), "<mark>国办发【2026】12号</mark>文");
        assert_eq!(snippet("国办发【2026]j 12号文", &["国办发〔2026〕12号"], 100), "<mark>国办发</mark>【<mark>2026</mark>]j <mark>12号</mark>文");
        // The window starts at the earliest match of any needle, whichever is named first.
        let long = "无".repeat(100) + "乙" + &"无".repeat(100) + "甲" + &"无".repeat(100);
        assert_eq!(snippet(&long, &["甲", "丁丁", "乙"], 8), "…无无无<mark>乙</mark>无无无无…");
        assert_eq!(snippet("无无甲无ab", &["甲", "AB"], 100), "无无<mark>甲</mark>无<mark>ab</mark>");
    }

    proptest::proptest! {
        /// Over a text of mixed widths (one- to four-byte characters, markup, line breaks) and
        /// needles cut from it: a snippet as wide as the text is the whole text, escaped, and
        /// marked where a needle (or a piece of it between punctuation) is held.
        #[test]
        fn a_snippet_is_its_text_escaped_with_the_matches_marked(
            parts in proptest::collection::vec(proptest::sample::select(vec!["甲", "乙", "é", "a", "B", "<", "&", " ", "\n", "👍"]), 0..40),
            cuts in proptest::collection::vec((0usize..40, 1usize..4), 1..4),
        ) {
            let text = parts.concat();
            let chars: Vec<char> = text.chars().collect();
            let needles: Vec<String> = cuts.iter().filter(|(at, _)| *at < chars.len()).map(|&(at, n)| chars[at..(at + n).min(chars.len())].iter().collect()).collect();
            let s = snippet(&text, &needles.iter().map(String::as_str).collect::<Vec<_>>(), 1000);
            let unmarked = s.replace("<mark>", "").replace("</mark>", "").replace("&lt;", "<").replace("&amp;", "&");
            proptest::prop_assert_eq!(unmarked, text.replace('\n', " "));
            let folded = text.to_ascii_lowercase();
            // A needle, or a piece of one between punctuation.
            let held = needles.iter().map(|n| n.split_whitespace().collect::<String>().to_ascii_lowercase()).any(|n| {
                (!n.is_empty() && folded.contains(&n)) || n.split(|c: char| !c.is_alphanumeric()).any(|p| !p.is_empty() && folded.contains(p))
            });
            proptest::prop_assert_eq!(s.contains("<mark>"), held, "{:?} in {:?}: {}", needles, text, s);
        }
    }
}
