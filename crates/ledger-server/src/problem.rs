//! RFC 9457 problem documents: every error the server answers with is one, so a client reads
//! the status, a stable `type`, a sentence for people and, where there is one, the field or
//! the findings.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::Refused;
use serde_json::{Value, json};

/// Where the problem types are documented (`docs/api.md` names each).
const TYPE_BASE: &str = "https://custody.example/problems/";

/// A problem document with its status.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    extra: serde_json::Map<String, Value>,
    retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status`, with a stable `kind` (the last part of its `type`).
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: serde_json::Map::new(),
            retry_after: None,
        }
    }

    /// Adds the member `name` (an RFC 9457 extension member).
    pub fn with(mut self, name: &str, value: Value) -> Problem {
        self.extra.insert(name.to_owned(), value);
        self
    }

    /// Sets `Retry-After` (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// 400: the request cannot be read; `field` names where (a JSON path).
    pub fn malformed(field: &str, detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "malformed request",
            detail,
        )
        .with("field", json!(field))
    }

    /// 422: the rules refused the request; nothing of it was appended.
    pub fn refused(refused: &Refused) -> Problem {
        let findings: Vec<Value> = refused
            .findings
            .iter()
            .map(|(i, f)| {
                json!({
                    "statement": i + 1,
                    "code": f.rule.code(),
                    "message": f.message,
                    "event": f.event,
                    "seq": f.seq,
                    "party": f.party,
                    "lot": f.lot,
                })
            })
            .collect();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "refused by the custody rules",
            refused.to_string(),
        )
        .with("findings", Value::Array(findings))
    }

    /// 503 with `Retry-After`: the server is at its limit now.
    pub fn overloaded(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is overloaded",
            detail,
        )
        .retry_after(1)
    }

    /// 503 with `Retry-After`: the witnesses have not cosigned a checkpoint covering the
    /// log yet, and with witnesses nothing is served against any other.
    pub fn not_witnessed() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-witnessed",
            "not witnessed yet",
            "the latest entries are not in a checkpoint the witnesses cosigned yet: retry shortly",
        )
        .retry_after(1)
    }

    /// 404 for a path the server does not serve.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "not found", detail)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ledger::Error> for Problem {
    fn from(e: ledger::Error) -> Problem {
        use ledger::Error as E;
        let detail = e.to_string();
        match e {
            E::Refused(refused) => Problem::refused(&refused),
            E::Conflict(_) | E::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the ledger is unavailable",
                detail,
            )
            .retry_after(1),
            E::Damaged(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                "the ledger store is damaged",
                detail,
            ),
            E::BadInput(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-input",
                "the request cannot be used",
                detail,
            ),
            E::NotFound(_) => Problem::not_found(detail),
            E::NotAuthorized(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "not-authorized",
                "not authorized",
                detail,
            ),
            _ => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                detail,
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("type".into(), json!(format!("{TYPE_BASE}{}", self.kind)));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.extend(self.extra);
        let mut response = (self.status, Value::Object(body).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
