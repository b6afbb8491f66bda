//! Reading the desk's forms: URL-encoded ones as name/value pairs (a select may repeat a name),
//! and the text parts of multipart ones before their files.

use axum::extract::multipart::{Field, Multipart};

use super::PageError;
use crate::http::documents::{multipart_problem, read_small_field};

/// The longest text a form field may carry (a body pasted in whole fits).
const MAX_TEXT: usize = 8 * 1024 * 1024;

/// A form as name/value pairs, in the order sent.
pub struct FormPairs(pub Vec<(String, String)>);

impl FormPairs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value, or `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Every value of a name that may repeat (a multiple select), blanks left out.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim().to_owned()).collect()
    }
}

/// A text part of a multipart form: its name and its text.
pub async fn text_part(field: Field<'_>) -> Result<(String, String), PageError> {
    let name = field.name().unwrap_or("").to_owned();
    let bytes = read_small_field(field, MAX_TEXT).await.map_err(PageError::Json)?;
    let value = String::from_utf8(bytes).map_err(|_| PageError::BadRequest(format!("{name}: not UTF-8 text")))?;
    Ok((name, value))
}

/// The next part of a multipart form.
pub async fn next_part(multipart: &mut Multipart) -> Result<Option<Field<'_>>, PageError> {
    multipart.next_field().await.map_err(|e| PageError::Json(multipart_problem(e)))
}
