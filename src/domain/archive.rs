//! Archive records (归档): retention periods (保管期限), archive numbers (档号) from a pattern,
//! and when a record's retention ends.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// 保管期限.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Retention {
    /// 永久
    #[serde(rename = "permanent")]
    Permanent,
    /// 30 年
    #[serde(rename = "30y")]
    Years30,
    /// 10 年
    #[serde(rename = "10y")]
    Years10,
}

impl Retention {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Years30 => "30y",
            Self::Years10 => "10y",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Permanent, Self::Years30, Self::Years10].into_iter().find(|r| r.as_str() == s)
    }

    /// The code in an archive number: `Y` (永久), `D30`, `D10`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Permanent => "Y",
            Self::Years30 => "D30",
            Self::Years10 => "D10",
        }
    }

    fn years(self) -> Option<i32> {
        match self {
            Self::Permanent => None,
            Self::Years30 => Some(30),
            Self::Years10 => Some(10),
        }
    }

    /// When the retention of a document of `year` ends: it is counted from 1 January of the
    /// year after the document was formed (文件形成之次年1月1日起算). `None`: kept forever.
    pub fn expires(self, year: i32) -> Option<DateTime<Utc>> {
        let years = self.years()?;
        let date = NaiveDate::from_ymd_opt(year + 1 + years, 1, 1)?;
        Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
    }
}

/// What an archive number is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveNumberParts<'a> {
    pub fonds: &'a str,
    pub year: i32,
    pub retention: Retention,
    pub department: &'a str,
    pub item: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Fonds,
    Year,
    Retention,
    Department,
    /// Zero-padded to this width.
    Item(usize),
}

/// An archive-number pattern such as `{fonds}-{year}-{retention}-{department}-{item:04}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivePattern {
    pieces: Vec<Piece>,
}

pub const DEFAULT_PATTERN: &str = "{fonds}-{year}-{retention}-{department}-{item:04}";

impl ArchivePattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("a `{` is not closed")? + open;
            let name = &rest[open + 1..close];
            pieces.push(match name {
                "fonds" => Piece::Fonds,
                "year" => Piece::Year,
                "retention" => Piece::Retention,
                "department" => Piece::Department,
                "item" => Piece::Item(0),
                other => match other.strip_prefix("item:") {
                    Some(width) => Piece::Item(width.parse::<usize>().ok().filter(|w| *w <= 12).ok_or("the item width is a number up to 12, as in {item:04}")?),
                    None => return Err(format!("unknown part {{{other}}}; parts are {{fonds}}, {{year}}, {{retention}}, {{department}} and {{item:04}}")),
                },
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        if let Some(Piece::Text(t)) = pieces.iter().find(|p| matches!(p, Piece::Text(t) if !t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))) {
            return Err(format!("the text {t:?} may hold only letters, digits, '-', '_' and '.'"));
        }
        for required in [Piece::Fonds, Piece::Year, Piece::Retention, Piece::Department] {
            if !pieces.contains(&required) {
                return Err(format!("the pattern needs {{{}}}: item numbers count within fonds, year, retention and department", format!("{required:?}").to_lowercase()));
            }
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Item(_))) {
            return Err("the pattern needs {item} (or {item:04})".into());
        }
        Ok(Self { pieces })
    }

    pub fn render(&self, parts: &ArchiveNumberParts<'_>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Fonds => out.push_str(parts.fonds),
                Piece::Year => out.push_str(&parts.year.to_string()),
                Piece::Retention => out.push_str(parts.retention.code()),
                Piece::Department => out.push_str(parts.department),
                Piece::Item(width) => out.push_str(&format!("{:0width$}", parts.item, width = *width)),
            }
        }
        out
    }
}

/// Fonds codes (全宗号) end up in archive numbers and file names.
pub fn check_fonds(code: &str) -> Result<(), &'static str> {
    if (1..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) { Ok(()) } else { Err("1 to 16 letters and digits, e.g. X001") }
}

/// An archive number as it may appear in a path: the characters a pattern can produce.
pub fn is_archive_number(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) && !s.starts_with('.')
}

/// The year a document belongs to (its formation year), from its RFC 3339 creation time.
pub fn document_year(created_at: &str) -> Option<i32> {
    DateTime::parse_from_rfc3339(created_at).ok().map(|t| t.with_timezone(&Utc).year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_gives_the_usual_number() {
        let p = ArchivePattern::parse(DEFAULT_PATTERN).unwrap();
        let parts = ArchiveNumberParts { fonds: "X001", year: 2026, retention: Retention::Permanent, department: "BGS", item: 1 };
        assert_eq!(p.render(&parts), "X001-2026-Y-BGS-0001");
        let parts = ArchiveNumberParts { retention: Retention::Years10, item: 12345, ..parts };
        assert_eq!(p.render(&parts), "X001-2026-D10-BGS-12345");
        assert!(is_archive_number("X001-2026-D10-BGS-12345"));
        assert!(!is_archive_number("../etc"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(ArchivePattern::parse("{fonds}.{year}.{retention}.{department}.{item:6}").is_ok());
        assert!(ArchivePattern::parse("{fonds}-{year}-{department}-{item}").is_err(), "without retention numbers would repeat");
        assert!(ArchivePattern::parse("{fonds}-{year}-{retention}-{department}").is_err());
        assert!(ArchivePattern::parse("{fonds}/{year}-{retention}-{department}-{item}").is_err());
        assert!(ArchivePattern::parse("{fonds-{year}").is_err());
        assert!(ArchivePattern::parse("{who}-{fonds}-{year}-{retention}-{department}-{item}").is_err());
    }

    #[test]
    fn retention_counts_from_the_next_new_year() {
        assert_eq!(Retention::Years10.expires(2026).unwrap().to_rfc3339(), "2037-01-01T00:00:00+00:00");
        assert_eq!(Retention::Years30.expires(2001).unwrap().to_rfc3339(), "2032-01-01T00:00:00+00:00");
        assert_eq!(Retention::Permanent.expires(2026), None);
        assert_eq!(document_year("2026-11-23T08:00:00.000Z"), Some(2026));
    }
}
