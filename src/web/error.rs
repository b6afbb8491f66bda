//! What a page shows when a request fails: the sign-in page for a missing session, and for
//! everything else a page with the status and a sentence, in the same terms as the API's
//! problem documents (a document one may not see is simply not found).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::{ErrorPage, IntoPage};
use crate::http::error::Problem;
use crate::services::ServiceError;

#[derive(Debug)]
pub enum PageError {
    /// No session, or it ended: sign in, then come back to `next`.
    SignIn { next: String },
    /// A state-changing request without this session's CSRF token.
    Csrf,
    BadRequest(String),
    Service(ServiceError),
    /// For requests made by the desk's script: the API's problem document.
    Json(Problem),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        PageError::Service(e)
    }
}

impl PageError {
    /// The same failure as a problem document, for the desk's script.
    pub fn json(self) -> PageError {
        match self {
            PageError::Service(e) => PageError::Json(Problem::from(e)),
            PageError::Csrf => PageError::Json(Problem::new(StatusCode::FORBIDDEN, "csrf", "Forbidden", "the form's CSRF token is missing or wrong; reload the page")),
            PageError::BadRequest(why) => PageError::Json(Problem::bad_request(why)),
            other => other,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, detail) = match self {
            PageError::SignIn { next } => {
                let target = format!("/?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
                return Redirect::to(&target).into_response();
            }
            PageError::Json(problem) => return problem.into_response(),
            PageError::Csrf => (StatusCode::FORBIDDEN, "请求未通过校验", "表单缺少有效的校验码（CSRF），可能已过期。请返回刷新页面后重试。".to_owned()),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "请求有误", why),
            PageError::Service(e) => {
                let problem = Problem::from(e);
                let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let heading = match status {
                    StatusCode::NOT_FOUND => "找不到该页面或文件",
                    StatusCode::FORBIDDEN => "没有权限",
                    StatusCode::CONFLICT => "当前状态不允许此操作",
                    StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "填写有误",
                    StatusCode::GONE => "内容已销毁",
                    StatusCode::SERVICE_UNAVAILABLE => "服务暂时不可用",
                    _ => "出错了",
                };
                // A missing document and a hidden one read the same.
                let detail = if status == StatusCode::NOT_FOUND { "它不存在，或您无权查看。".to_owned() } else { problem.detail };
                (status, heading, detail)
            }
        };
        let mut response = ErrorPage { css: super::assets::css_name(), status: status.as_u16(), heading, detail }.into_page();
        *response.status_mut() = status;
        response
    }
}
