//! `/admin/*`: projects, API keys, linked accounts and orders, for operators.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{delete, get, post},
    Extension, Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    audit::Subject,
    auth::Operator,
    error::ApiError,
    json::parse_json,
    pagination::{page, uuid_param},
};
use crate::{
    domain::{rfc3339, AssessmentResult, OrderRequest, OrderStatus},
    providers::ProviderKind,
    service::{
        audit::Target, packages::parse_page_size, results::current_result, tenancy::AccountPatch,
        Gateway,
    },
    store::{AccountRecord, ApiKeyRecord, OrderEvent, OrderFilter, OrderRecord, ProjectRecord},
};

pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/admin/projects", post(create_project).get(list_projects))
        .route("/admin/projects/{id}", get(get_project))
        .route("/admin/projects/{id}/api-keys", post(create_api_key))
        .route("/admin/api-keys/{id}", delete(revoke_api_key))
        .route("/admin/projects/{id}/accounts", post(create_account))
        .route(
            "/admin/accounts/{id}",
            get(get_account)
                .patch(update_account)
                .delete(delete_account),
        )
        .route("/admin/orders", get(list_orders))
        .route("/admin/orders/{id}", get(get_order))
        .route("/admin/orders/{id}/cancel", post(cancel_order))
        .route("/admin/orders/{id}/reject", post(reject_order))
        .route("/admin/orders/{id}/refresh", post(refresh_order))
}

pub(super) fn path_id(value: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::not_found(format!("no {what} with id '{value}'")))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NameRequest {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    /// Orders closed longer ago than this many days lose their personal data; null: kept.
    pub retention_days: Option<i32>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedProject {
    pub id: Uuid,
    pub name: String,
    /// Standard Webhooks secret that signs deliveries to this project's ATS; shown only here.
    pub signing_secret: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// The key itself; shown only here.
    pub key: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub provider: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDetail {
    pub id: Uuid,
    pub name: String,
    pub retention_days: Option<i32>,
    pub created_at: String,
    pub api_keys: Vec<ApiKeyView>,
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub data: Vec<ProjectView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAccountRequest {
    /// testgorilla, testinvite, interviewmocha or sandbox.
    pub provider: String,
    pub name: String,
    /// The vendor credentials; stored encrypted and never returned.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub credentials: Value,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub settings: Value,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    pub name: Option<String>,
    /// Replaces the stored credentials.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    /// Merged into the settings; a `null` value removes the setting.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

pub(super) fn project_view(p: &ProjectRecord) -> ProjectView {
    ProjectView {
        id: p.id,
        name: p.name.clone(),
        retention_days: p.retention_days,
        created_at: rfc3339(p.created_at),
    }
}

fn key_view(k: &ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        project_id: k.project_id,
        name: k.name.clone(),
        prefix: k.key_prefix.clone(),
        created_at: rfc3339(k.created_at),
        revoked_at: k.revoked_at.map(rfc3339),
    }
}

fn account_view(a: &AccountRecord) -> AccountView {
    AccountView {
        id: a.id,
        project_id: a.project_id,
        provider: a.provider.clone(),
        name: a.name.clone(),
        settings: a.settings.clone(),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    }
}

#[utoipa::path(post, path = "/admin/projects", tag = "Admin", request_body = NameRequest,
    responses((status = 201, body = CreatedProject), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn create_project(
    _: Operator,
    State(gateway): State<Gateway>,
    body: Bytes,
) -> Result<(StatusCode, Extension<Subject>, Json<CreatedProject>), ApiError> {
    let (request, _) = parse_json::<NameRequest>(&body)?;
    let created = gateway.create_project(&request.name).await?;
    let id = created.project.id;
    Ok((
        StatusCode::CREATED,
        Subject::of(Target::Project(id), id),
        Json(CreatedProject {
            id: created.project.id,
            name: created.project.name,
            signing_secret: created.signing_secret.expose().clone(),
            created_at: rfc3339(created.project.created_at),
        }),
    ))
}

#[utoipa::path(get, path = "/admin/projects", tag = "Admin",
    responses((status = 200, body = ProjectList), (status = 401, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list_projects(
    _: Operator,
    State(gateway): State<Gateway>,
) -> Result<Json<ProjectList>, ApiError> {
    let projects = gateway.store.list_projects().await?;
    Ok(Json(ProjectList {
        data: projects.iter().map(project_view).collect(),
    }))
}

#[utoipa::path(get, path = "/admin/projects/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProjectDetail), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn get_project(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<ProjectDetail>, ApiError> {
    let project = gateway.project(path_id(&id, "project")?).await?;
    let keys = gateway.store.list_api_keys(project.id).await?;
    let accounts = gateway.store.list_accounts(project.id).await?;
    Ok(Json(ProjectDetail {
        id: project.id,
        name: project.name,
        retention_days: project.retention_days,
        created_at: rfc3339(project.created_at),
        api_keys: keys.iter().map(key_view).collect(),
        accounts: accounts.iter().map(account_view).collect(),
    }))
}

#[utoipa::path(post, path = "/admin/projects/{id}/api-keys", tag = "Admin", params(("id" = Uuid, Path)), request_body = NameRequest,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn create_api_key(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Extension<Subject>, Json<CreatedApiKey>), ApiError> {
    let project_id = path_id(&id, "project")?;
    let (request, _) = parse_json::<NameRequest>(&body)?;
    let created = gateway.create_api_key(project_id, &request.name).await?;
    Ok((
        StatusCode::CREATED,
        Subject::of(Target::ApiKey(created.record.id), project_id),
        Json(CreatedApiKey {
            id: created.record.id,
            project_id,
            name: created.record.name,
            key: created.key.expose().clone(),
            created_at: rfc3339(created.record.created_at),
        }),
    ))
}

#[utoipa::path(delete, path = "/admin/api-keys/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyView, description = "The revoked key"), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn revoke_api_key(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<(Extension<Subject>, Json<ApiKeyView>), ApiError> {
    let key_id = path_id(&id, "API key")?;
    let revoked = gateway.revoke_api_key(key_id).await?;
    Ok((
        Subject::of(Target::ApiKey(key_id), revoked.project_id),
        Json(key_view(&revoked)),
    ))
}

#[utoipa::path(post, path = "/admin/projects/{id}/accounts", tag = "Admin", params(("id" = Uuid, Path)), request_body = CreateAccountRequest,
    responses((status = 201, body = AccountView), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn create_account(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Extension<Subject>, Json<AccountView>), ApiError> {
    let project_id = path_id(&id, "project")?;
    let (request, _) = parse_json::<CreateAccountRequest>(&body)?;
    let account = gateway
        .create_account(
            project_id,
            &request.provider,
            &request.name,
            request.credentials,
            request.settings,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Subject::of(Target::Account(account.id), project_id),
        Json(account_view(&account)),
    ))
}

#[utoipa::path(get, path = "/admin/accounts/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn get_account(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = gateway.account(path_id(&id, "linked account")?).await?;
    Ok(Json(account_view(&account)))
}

#[utoipa::path(patch, path = "/admin/accounts/{id}", tag = "Admin", params(("id" = Uuid, Path)), request_body = UpdateAccountRequest,
    responses((status = 200, body = AccountView), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "The credentials are in another provider's shape")),
    security(("admin" = [])))]
pub async fn update_account(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AccountView>, ApiError> {
    let account_id = path_id(&id, "linked account")?;
    let (request, _) = parse_json::<UpdateAccountRequest>(&body)?;
    let patch = AccountPatch {
        name: request.name,
        credentials: request.credentials,
        settings: request.settings,
    };
    let account = gateway.update_account(account_id, patch).await?;
    Ok(Json(account_view(&account)))
}

#[utoipa::path(delete, path = "/admin/accounts/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Deleted; its orders are kept"), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn delete_account(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account_id = path_id(&id, "linked account")?;
    gateway.delete_account(account_id).await?;
    Ok(Json(serde_json::json!({"id": account_id, "deleted": true})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    #[param(value_type = Option<Uuid>)]
    pub project_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub account_id: Option<String>,
    #[param(value_type = Option<OrderStatus>)]
    pub status: Option<String>,
    #[param(value_type = Option<ProviderKind>)]
    pub provider: Option<String>,
    /// Default 25, at most 200.
    #[param(value_type = Option<u8>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<Uuid>)]
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderSummary {
    pub id: Uuid,
    pub project_id: Uuid,
    pub account_id: Uuid,
    pub provider: String,
    pub client_order_id: Option<String>,
    pub status: OrderStatus,
    pub package_id: String,
    /// Null once the candidate's data is erased.
    pub candidate_email: Option<String>,
    pub remote_id: Option<String>,
    pub test_url: Option<String>,
    pub results_update_url: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When the candidate's personal data was erased (on request or by retention).
    pub erased_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub data: Vec<OrderSummary>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub at: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub message: String,
    /// What the source reported with this change: any JSON.
    pub data: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub order: OrderSummary,
    pub request: OrderRequest,
    pub result: AssessmentResult,
    pub timeline: Vec<TimelineEntry>,
    /// Every delivery of this order to its `results_update_url`, newest first, with attempts.
    pub deliveries: Vec<super::admin_deliveries::DeliveryView>,
}

fn order_summary(o: &OrderRecord) -> OrderSummary {
    OrderSummary {
        id: o.id,
        project_id: o.project_id,
        account_id: o.account_id,
        provider: o.provider.clone(),
        client_order_id: o.client_key.clone(),
        status: o.status,
        package_id: o.package_id.clone(),
        candidate_email: o.erased_at.is_none().then(|| o.candidate_email.clone()),
        remote_id: o.remote_id.clone(),
        test_url: o.test_url.clone(),
        results_update_url: o.results_update_url.clone(),
        failure_reason: o.failure_reason.clone(),
        created_at: rfc3339(o.created_at),
        updated_at: rfc3339(o.updated_at),
        erased_at: o.erased_at.map(rfc3339),
    }
}

fn timeline_entry(e: OrderEvent) -> TimelineEntry {
    TimelineEntry {
        at: rfc3339(e.at),
        from_status: e.from_status,
        to_status: e.to_status,
        message: e.message,
        data: e.data,
    }
}

#[utoipa::path(get, path = "/admin/orders", tag = "Admin", params(OrderListQuery),
    responses((status = 200, body = OrderList), (status = 400, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn list_orders(
    _: Operator,
    State(gateway): State<Gateway>,
    Query(query): Query<OrderListQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!("status: '{s}' is not an order status"))
            })
        })
        .transpose()?;
    let provider = query
        .provider
        .map(|p| {
            ProviderKind::parse(&p)
                .map(|_| p.clone())
                .ok_or_else(|| ApiError::bad_request(format!("provider: '{p}' is not a provider")))
        })
        .transpose()?;
    let limit = parse_page_size(query.page_size.as_deref(), 25, 200)?;
    let filter = OrderFilter {
        project_id: uuid_param("project_id", query.project_id.as_deref())?,
        account_id: uuid_param("account_id", query.account_id.as_deref())?,
        status,
        provider,
        before: uuid_param("next", query.next.as_deref())?,
        limit: limit as i64 + 1,
        ..Default::default()
    };
    let (orders, next) = page(gateway.store.list_orders(&filter).await?, limit, |o| o.id);
    Ok(Json(OrderList {
        data: orders.iter().map(order_summary).collect(),
        next,
    }))
}

async fn order_detail(gateway: &Gateway, order: OrderRecord) -> Result<OrderDetail, ApiError> {
    let events = gateway.store.list_order_events(order.id).await?;
    let deliveries = super::admin_deliveries::order_deliveries(gateway, order.id).await?;
    Ok(OrderDetail {
        deliveries,
        order: order_summary(&order),
        result: current_result(&order),
        request: order.request,
        timeline: events.into_iter().map(timeline_entry).collect(),
    })
}

#[utoipa::path(post, path = "/admin/orders/{id}/cancel", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDetail, description = "Cancelled at the vendor"), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody, description = "Not open, or the vendor refuses (e.g. the candidate already started)")),
    security(("admin" = [])))]
pub async fn cancel_order(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    let order = gateway.cancel_order(path_id(&id, "order")?).await?;
    Ok(Json(order_detail(&gateway, order).await?))
}

#[utoipa::path(post, path = "/admin/orders/{id}/reject", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDetail, description = "Rejected at the vendor (TestGorilla: stage REJ and the rejection email)"),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody), (status = 501, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn reject_order(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    let order = gateway.reject_order(path_id(&id, "order")?).await?;
    Ok(Json(order_detail(&gateway, order).await?))
}

#[utoipa::path(post, path = "/admin/orders/{id}/refresh", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDetail, description = "The result as the vendor has it now"), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn refresh_order(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    let order = gateway.refresh_order(path_id(&id, "order")?).await?;
    Ok(Json(order_detail(&gateway, order).await?))
}

#[utoipa::path(get, path = "/admin/orders/{id}", tag = "Admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDetail), (status = 404, body = super::error::ErrorBody)),
    security(("admin" = [])))]
pub async fn get_order(
    _: Operator,
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    let order_id = path_id(&id, "order")?;
    let order = gateway
        .store
        .get_order(order_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order with id '{id}'")))?;
    Ok(Json(order_detail(&gateway, order).await?))
}
