//! RFC 9457 problem documents: every error the server answers with is one, so a client reads
//! the status, a stable `type`, a sentence for people and, where there is one, the field or
//! the findings.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::Refused;
use ledger_core::hash::Digest;
use ledger_core::id::{LotId, PartyId};
use serde::Serialize;
use utoipa::ToSchema;

/// Where the problem types are documented (`docs/api.md` names each).
const TYPE_BASE: &str = "https://custody.example/problems/";

/// A problem document with its status.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    // Boxed: a problem is the error of most handlers' results, so it is kept small.
    field: Option<Box<str>>,
    findings: Option<Box<[FindingBody]>>,
    retry_after: Option<u64>,
}

/// A problem document as sent (`application/problem+json`): the type the OpenAPI document
/// describes is the one serialized.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `https://custody.example/problems/<kind>`: stable, for programs to branch on.
    #[serde(rename = "type")]
    kind: String,
    /// A short summary of the kind.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What went wrong with this request, in words.
    detail: String,
    /// 400: the JSON path of the value that cannot be read (`[2].event`, `(body)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// 422: every finding, as `custody append` prints them.
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingBody>>,
}

/// One finding of a refusal.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Finding)]
pub struct FindingBody {
    /// The statement it concerns: its 1-based index in the request.
    #[schema(minimum = 1)]
    statement: usize,
    /// The rule code (`custody explain CODE`).
    #[schema(example = "CUS-BAL-001")]
    code: &'static str,
    /// A sentence a person understands.
    message: String,
    /// The event concerned, if there is one (hex id).
    #[schema(value_type = Option<String>)]
    event: Option<Digest>,
    /// Its log position, if it has one.
    seq: Option<u64>,
    /// The party concerned.
    #[schema(value_type = Option<String>)]
    party: Option<PartyId>,
    /// The lot concerned.
    #[schema(value_type = Option<String>)]
    lot: Option<LotId>,
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
            field: None,
            findings: None,
            retry_after: None,
        }
    }

    /// Sets `Retry-After` (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// 400: the request cannot be read; `field` names where (a JSON path).
    pub fn malformed(field: &str, detail: impl Into<String>) -> Problem {
        Problem {
            field: Some(field.into()),
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                "malformed request",
                detail,
            )
        }
    }

    /// 422: the rules refused the request; nothing of it was appended.
    pub fn refused(refused: &Refused) -> Problem {
        let findings: Box<[FindingBody]> = refused
            .findings
            .iter()
            .map(|(i, f)| FindingBody {
                statement: i + 1,
                code: f.rule.code(),
                message: f.message.clone(),
                event: f.event,
                seq: f.seq,
                party: f.party.clone(),
                lot: f.lot.clone(),
            })
            .collect();
        Problem {
            findings: Some(findings),
            ..Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "refused by the custody rules",
                refused.to_string(),
            )
        }
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
        let body = ProblemBody {
            kind: format!("{TYPE_BASE}{}", self.kind),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field.map(String::from),
            findings: self.findings.map(Vec::from),
        };
        // Serializing strings and numbers cannot fail; should it, the status still stands.
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (self.status, text).into_response();
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
