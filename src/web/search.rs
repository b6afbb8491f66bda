//! 档案检索: one box, the query language explained, facets as filters, highlighted snippets,
//! pages. The answer is the API's (`Henji::search`), so it holds exactly what the caller may
//! read, counts and facets included.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::desk::chrome;
use super::pages::{FacetGroup, FacetLink, IntoPage, SearchPage};
use super::{PageError, Viewer};
use crate::services::search::{SearchFacets, SearchRequest};
use crate::services::{Henji, ServiceError};

const PAGE: usize = 20;

#[derive(Deserialize, Default, Clone)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    kind: Option<String>,
    department: Option<String>,
    year: Option<String>,
    archived: Option<String>,
    #[serde(default)]
    offset: usize,
}

impl SearchParams {
    /// The filters as query pairs, without `offset`.
    fn filters(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (name, value) in [("kind", &self.kind), ("department", &self.department), ("year", &self.year), ("archived", &self.archived)] {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                out.push((name, v.clone()));
            }
        }
        out
    }

    fn href(&self, filters: &[(&str, String)], offset: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("q", &self.q);
        for (k, v) in filters {
            q.append_pair(k, v);
        }
        if offset > 0 {
            q.append_pair("offset", &offset.to_string());
        }
        format!("/search?{}", q.finish())
    }
}

pub async fn page(State(henji): State<Henji>, viewer: Viewer, Query(p): Query<SearchParams>) -> Result<Response, PageError> {
    let chrome = chrome(&henji, &viewer, "search").await?;
    let filters = p.filters();
    let mut page = SearchPage { chrome, q: p.q.clone(), kept: filters.clone(), offset: p.offset, answer: None, error: None, facets: vec![], prev: None, next: None, filters_text: String::new() };
    if p.q.trim().is_empty() {
        return Ok(page.into_page());
    }
    let year = match p.year.as_deref().filter(|y| !y.is_empty()) {
        Some(y) => Some(y.parse::<u64>().map_err(|_| ServiceError::invalid("year", "a year such as 2026"))?),
        None => None,
    };
    let archived = match p.archived.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let request = SearchRequest { q: p.q.clone(), kind: p.kind.clone().filter(|k| !k.is_empty()), department: p.department.clone().filter(|d| !d.is_empty()), state: None, classification: None, year, archived, limit: PAGE, offset: p.offset };
    match henji.search(&viewer.principal, &request).await {
        Ok(answer) => {
            page.facets = facet_groups(&page.chrome, &p, &answer.facets);
            page.prev = (p.offset > 0).then(|| p.href(&filters, p.offset.saturating_sub(PAGE)));
            page.next = (p.offset + PAGE < answer.total).then(|| p.href(&filters, p.offset + PAGE));
            page.filters_text = filters.iter().map(|(k, v)| format!("{}：{}", filter_title(k), v)).collect::<Vec<_>>().join("，");
            page.answer = Some(answer);
        }
        // A query the language does not take, or search resting: said on the page itself.
        Err(ServiceError::BadQuery(why) | ServiceError::Unavailable(why)) => page.error = Some(why),
        Err(e) => return Err(e.into()),
    }
    Ok(page.into_page())
}

fn filter_title(name: &str) -> &'static str {
    match name {
        "kind" => "种类",
        "department" => "部门",
        "year" => "年度",
        _ => "已归档",
    }
}

/// Each facet value as a link that adds its filter (or, if it is on, takes it off).
fn facet_groups(chrome: &super::pages::Chrome, p: &SearchParams, facets: &SearchFacets) -> Vec<FacetGroup> {
    let link = |name: &'static str, value: &str, label: String, count: u64| {
        let mut filters: Vec<(&str, String)> = p.filters().into_iter().filter(|(k, _)| *k != name).collect();
        let here = p.filters().iter().any(|(k, v)| *k == name && v == value);
        if !here {
            filters.push((name, value.to_owned()));
        }
        FacetLink { href: p.href(&filters, 0), label, count, here }
    };
    vec![
        FacetGroup { title: "种类", items: facets.kind.iter().map(|(k, n)| link("kind", k, chrome.kind_title(k).to_owned(), *n)).collect() },
        FacetGroup { title: "部门", items: facets.department.iter().map(|(d, n)| link("department", d, d.clone(), *n)).collect() },
        FacetGroup { title: "年度", items: facets.year.iter().rev().map(|(y, n)| link("year", y, format!("{y} 年"), *n)).collect() },
    ]
}
