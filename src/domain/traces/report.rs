//! A computed trace with the people and revisions behind its marks: what the HTML page, the
//! Word document and the JSON answer are all drawn from.

use super::TraceSpan;

/// A person in the legend, with the colour they are drawn in on this document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegendEntry {
    pub user: String,
    pub display_name: String,
    pub department: String,
    pub department_name: String,
    pub color: String,
}

/// A revision that can carry marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkRevision {
    pub id: String,
    /// Index into the legend.
    pub author: usize,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub struct TraceReport<'a> {
    pub document: &'a str,
    pub title: &'a str,
    /// `None`: from the empty text.
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub legend: &'a [LegendEntry],
    /// The revisions after `from`, up to `to`: chain position `p` is `revisions[p - 1]`.
    pub revisions: &'a [MarkRevision],
    pub spans: &'a [TraceSpan],
}

impl<'a> TraceReport<'a> {
    /// The revision at chain position `position` (1 or more) and its author.
    pub fn mark(&self, position: usize) -> Option<(&'a MarkRevision, &'a LegendEntry)> {
        let revision = self.revisions.get(position.checked_sub(1)?)?;
        Some((revision, self.legend.get(revision.author)?))
    }

    /// "display name · department · time", as every mark's tooltip reads.
    pub fn mark_title(&self, position: usize) -> String {
        match self.mark(position) {
            Some((r, who)) => format!("{} · {} · {}", who.display_name, who.department_name, readable_time(&r.created_at)),
            None => String::new(),
        }
    }

    /// The revisions each legend entry made, in order.
    pub fn revisions_of(&self, author: usize) -> impl Iterator<Item = &'a MarkRevision> {
        self.revisions.iter().filter(move |r| r.author == author)
    }
}

/// `2026-11-23T10:04:05.123Z` → `2026-11-23 10:04:05 UTC`; anything else as it is.
pub fn readable_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}
