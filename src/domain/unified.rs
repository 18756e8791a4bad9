//! The StackOne unified ATS assessments models (reference/stackone.md §3–4).
//!
//! Every request field is optional and nullable, unknown fields are ignored and open enums
//! accept any value, as StackOne's own clients expect.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An open enum: `value` from a known list (or anything else), `source_value` the vendor's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OpenEnum {
    pub value: Option<String>,
    /// The vendor's or ATS's own value: any JSON.
    pub source_value: Option<Value>,
}

impl OpenEnum {
    pub fn new(value: &str, source_value: impl Into<Value>) -> Self {
        Self {
            value: Some(value.to_string()),
            source_value: Some(source_value.into()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AssessmentPackage {
    #[schema(max_length = 255)]
    pub id: Option<String>,
    #[schema(max_length = 255)]
    pub remote_id: Option<String>,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 4096)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OrderApplication {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub remote_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_status: Option<OpenEnum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct HiringTeamMember {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub remote_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 254)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OrderJob {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub remote_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hiring_team: Option<Vec<HiringTeamMember>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CandidateEmail {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 254)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OrderCandidate {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub remote_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<CandidateEmail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub profile_url: Option<String>,
}

/// `AtsCreateCandidatesAssessmentsRequestDto`: the body of `POST /orders`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct OrderRequest {
    /// The caller's own order id; used as the idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<AssessmentPackage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<OrderApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<OrderJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<OrderCandidate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<HiringTeamMember>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub results_update_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Map<String, Value>>,
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl OrderRequest {
    pub fn package_id(&self) -> Option<&str> {
        self.package.as_ref().and_then(|p| non_blank(&p.id))
    }

    /// The candidate's email: the first `emails[].value` that is an email address
    /// (`patterns::EMAIL`).
    pub fn candidate_email(&self) -> Option<&str> {
        self.candidate
            .as_ref()?
            .emails
            .as_ref()?
            .iter()
            .find_map(|e| e.value.as_deref().and_then(super::patterns::email))
    }

    pub fn first_name(&self) -> Option<&str> {
        self.candidate
            .as_ref()
            .and_then(|c| non_blank(&c.first_name))
    }

    pub fn last_name(&self) -> Option<&str> {
        self.candidate
            .as_ref()
            .and_then(|c| non_blank(&c.last_name))
    }

    /// "First Last", or whichever part is present.
    pub fn full_name(&self) -> Option<String> {
        match (self.first_name(), self.last_name()) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        }
    }
}

/// `CreateAssessmentOrderResult`: the flat 200 body of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderResult {
    pub id: String,
    pub remote_id: Option<String>,
    pub test_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Score {
    pub label: Option<String>,
    pub value: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Attachment {
    pub url: Option<String>,
    pub content_type: Option<OpenEnum>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ResultCandidate {
    pub id: Option<String>,
    pub remote_id: Option<String>,
    pub profile_url: Option<String>,
}

/// The StackOne `AssessmentResult`: what the gateway stores, serves and delivers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AssessmentResult {
    /// The gateway order id.
    pub id: Option<String>,
    /// The vendor's candidature / candidate / invitation id.
    pub remote_id: Option<String>,
    pub candidate: Option<ResultCandidate>,
    pub score: Option<Score>,
    pub start_date: Option<String>,
    pub submission_date: Option<String>,
    pub summary: Option<String>,
    /// `value` ∈ initiated, in_progress, cancelled, completed, expired, failed, passed, unmapped_value.
    pub result: Option<OpenEnum>,
    pub result_url: Option<String>,
    pub attachments: Option<Vec<Attachment>>,
}

/// `AtsUpdateCandidatesAssessmentsResultsRequestDto`: the body of `PATCH /orders/{id}/result`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateResultRequest {
    /// Legacy field, accepted and ignored (removed from StackOne's SDK in 4.25.3).
    #[serde(skip_serializing)]
    pub id: Option<String>,
    pub score: Option<Score>,
    pub start_date: Option<String>,
    pub submission_date: Option<String>,
    #[schema(max_length = 4096)]
    pub summary: Option<String>,
    pub result: Option<OpenEnum>,
    #[schema(max_length = 2048)]
    pub result_url: Option<String>,
    pub attachments: Option<Vec<Attachment>>,
    pub candidate: Option<ResultCandidate>,
    pub passthrough: Option<Map<String, Value>>,
}

/// The read-back of an order (`GET /orders/{id}`): StackOne's former `AssessmentOrder` plus
/// the gateway's status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssessmentOrder {
    /// The gateway order id.
    pub id: String,
    /// The caller's own order id (the body `id` of the order request).
    pub client_order_id: Option<String>,
    pub remote_id: Option<String>,
    pub test_url: Option<String>,
    /// pending, invited, in_progress, completed, failed, cancelled or expired.
    pub status: String,
    pub package: Option<AssessmentPackage>,
    pub application: Option<OrderApplication>,
    pub job: Option<OrderJob>,
    pub candidate: Option<OrderCandidate>,
    pub requester: Option<HiringTeamMember>,
    pub results_update_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}
