//! The traces as one self-contained HTML page: inline CSS, no script, printable. Insertions are
//! underlined and deletions struck through in their author's colour; every mark says who and
//! when in its `title`.

use std::fmt::Write;

use super::report::{TraceReport, readable_time};
use super::{SpanOp, TraceSpan};

const STYLE: &str = r#"
body { font-family: "Songti SC", "SimSun", "Noto Serif CJK SC", serif; max-width: 50em; margin: 2em auto; padding: 0 1em; line-height: 1.9; color: #222; background: #fff; }
h1 { font-size: 1.5em; text-align: center; }
.range { color: #555; font-size: .9em; text-align: center; }
table.legend { border-collapse: collapse; margin: 1em 0 2em; font-size: .9em; }
table.legend th, table.legend td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; vertical-align: top; }
.swatch { display: inline-block; width: 1.2em; height: 1.2em; vertical-align: middle; border-radius: 2px; }
.text { white-space: pre-wrap; overflow-wrap: break-word; font-size: 1.1em; }
ins { text-decoration: underline; text-decoration-thickness: 2px; text-underline-offset: 3px; }
del { text-decoration: line-through; text-decoration-thickness: 2px; }
@media print { * { -webkit-print-color-adjust: exact; print-color-adjust: exact; } body { margin: 0; max-width: none; } }
"#;

/// The page with every mark.
pub fn traces_page(report: &TraceReport<'_>) -> String {
    let colors: Vec<&str> = report.legend.iter().map(|who| who.color.as_str()).collect();
    let css = format!("{STYLE}{}", legend_css(&colors));
    let mut out = head(report.title, &css);
    let _ = write!(out, "<h1>{}</h1>\n<p class=\"range\">痕迹 Traces · {} → {}</p>\n", escape(report.title), escape(report.from.unwrap_or("（空白 empty）")), escape(report.to));
    out.push_str(&traces_fragment(report));
    out.push_str("</body>\n</html>\n");
    out
}

/// The legend and the marked text, for a page that brings its own styles: every colour is a
/// class (`a0`, `sw0`, …) that `legend_css` defines, so the fragment has no inline style.
pub fn traces_fragment(report: &TraceReport<'_>) -> String {
    let mut out = String::with_capacity(report.spans.iter().map(|s| s.text.len()).sum::<usize>() * 2 + 1024);
    legend(report, &mut out);
    out.push_str("<div class=\"text\">");
    for span in report.spans {
        mark(report, span, &mut out);
    }
    out.push_str("</div>\n");
    out
}

/// The colour classes of a legend: `.aN` colours the marks of its N-th author, `.swN` fills
/// that author's swatch. Colours are `#RRGGBB`; anything else is left out.
pub fn legend_css(colors: &[&str]) -> String {
    let mut css = String::new();
    for (i, c) in colors.iter().enumerate() {
        if c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = writeln!(css, ".a{i} {{ color: {c}; }} .sw{i} {{ background: {c}; }}");
        }
    }
    css
}

/// The merged text alone (清稿).
pub fn clean_page(title: &str, to: &str, text: &str) -> String {
    let mut out = head(title, STYLE);
    let _ = write!(out, "<h1>{}</h1>\n<p class=\"range\">清稿 Clean text · {}</p>\n<div class=\"text\">{}</div>\n</body>\n</html>\n", escape(title), escape(to), escape(text));
    out
}

fn head(title: &str, css: &str) -> String {
    format!("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{css}</style>\n</head>\n<body>\n", escape(title))
}

fn legend(report: &TraceReport<'_>, out: &mut String) {
    out.push_str("<table class=\"legend\">\n<thead><tr><th>颜色 Colour</th><th>姓名 Name</th><th>部门 Department</th><th>修订 Revisions</th></tr></thead>\n<tbody>\n");
    for (i, who) in report.legend.iter().enumerate() {
        let revisions: Vec<String> = report
            .revisions_of(i)
            .map(|r| format!("<span title=\"{}\">{}</span> · {}", escape(&r.id), escape(r.id.get(..12).unwrap_or(&r.id)), escape(&readable_time(&r.created_at))))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td><span class=\"swatch sw{i}\"></span> {c}</td><td class=\"a{i}\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&who.display_name),
            escape(&who.department_name),
            revisions.join("<br>"),
            c = escape(&who.color),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn mark(report: &TraceReport<'_>, span: &TraceSpan, out: &mut String) {
    let text = escape(&span.text);
    let class = |position: usize| report.mark(position).map(|(r, _)| r.author).unwrap_or(0);
    match (span.op, span.inserted_in, span.deleted_in) {
        (SpanOp::Insert, Some(i), _) => {
            let _ = write!(out, "<ins class=\"a{}\" title=\"{}\">{text}</ins>", class(i), escape(&report.mark_title(i)));
        }
        (SpanOp::Delete, _, Some(d)) => {
            let _ = write!(out, "<del class=\"a{}\" title=\"{}\">{text}</del>", class(d), escape(&report.mark_title(d)));
        }
        // Struck through in the deleter's colour, the text itself in the inserter's.
        (SpanOp::Transient, Some(i), Some(d)) => {
            let _ = write!(
                out,
                "<del class=\"a{}\" title=\"{}\"><ins class=\"a{}\" title=\"{}\">{text}</ins></del>",
                class(d),
                escape(&report.mark_title(d)),
                class(i),
                escape(&report.mark_title(i))
            );
        }
        _ => out.push_str(&text),
    }
}

/// Text and attribute values both (see `text::escape_markup_into`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::domain::text::escape_markup_into(s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::attribute;
    use super::super::report::{LegendEntry, MarkRevision};
    use super::*;

    #[test]
    fn marks_carry_colour_class_and_who_and_when() {
        let spans = attribute(&["甲<乙>", "甲丙<乙>", "甲丙"], None);
        let legend = vec![
            LegendEntry { user: "a".into(), display_name: "王芳".into(), department: "BGS".into(), department_name: "办公室".into(), color: "#C62828".into() },
            LegendEntry { user: "b".into(), display_name: "李强".into(), department: "BGS".into(), department_name: "办公室".into(), color: "#1565C0".into() },
        ];
        let revisions = vec![
            MarkRevision { id: "r1".into(), author: 0, created_at: "2026-11-23T10:00:00.000Z".into() },
            MarkRevision { id: "r2".into(), author: 1, created_at: "2026-11-23T11:00:00.000Z".into() },
        ];
        let report = TraceReport { document: "D", title: "通知 <草稿>", from: Some("r0"), to: "r2", legend: &legend, revisions: &revisions, spans: &spans };
        let page = traces_page(&report);
        assert!(page.contains("<ins class=\"a0\" title=\"王芳 · 办公室 · 2026-11-23 10:00:00 UTC\">丙</ins>"), "{page}");
        assert!(page.contains("<del class=\"a1\" title=\"李强 · 办公室 · 2026-11-23 11:00:00 UTC\">&lt;乙&gt;</del>"), "{page}");
        assert!(page.contains(".a1 { color: #1565C0; } .sw1 { background: #1565C0; }"));
        assert!(!traces_fragment(&report).contains("style="), "the fragment has no inline style");
        assert_eq!(legend_css(&["#C62828", "red;}body{x"]), ".a0 { color: #C62828; } .sw0 { background: #C62828; }\n");
        assert!(page.contains("<title>通知 &lt;草稿&gt;</title>"));
        assert!(!page.contains("<script"));
    }
}
