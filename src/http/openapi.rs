//! The OpenAPI document, generated from the handlers' annotations and types.

use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    Modify, OpenApi,
};

use super::openapi_errors::CommonErrors;
use super::{
    admin, admin_audit, admin_deliveries, admin_erasures, admin_projects, ops, sandbox, unified,
    webhooks,
};

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "assessment-gateway",
        description = "StackOne-compatible unified assessments API in front of TestGorilla, TestInvite, InterviewMocha and a sandbox vendor. Unified calls authenticate with Basic base64(\"<api key>:\") and x-account-id; admin calls with Bearer ADMIN_TOKEN. Every error is {statusCode, message, timestamp}. No string in a JSON body may hold U+0000 (400)."
    ),
    paths(
        unified::list_packages, unified::get_package, unified::order_assessment,
        unified::get_order, unified::get_results, unified::update_result,
        admin::create_project, admin::list_projects, admin::get_project, admin::create_api_key,
        admin::revoke_api_key, admin::create_account, admin::get_account, admin::update_account,
        admin::delete_account, admin::list_orders, admin::get_order,
        admin::cancel_order, admin::reject_order, admin::refresh_order,
        admin_deliveries::list_deliveries, admin_deliveries::retry_delivery,
        admin_projects::update_project, admin_projects::rotate_signing_secret, admin_audit::list_audit_events,
        admin_erasures::erase_candidate,
        sandbox::show_test, sandbox::start_test, sandbox::submit_test,
        ops::home, ops::healthz, ops::readyz, ops::openapi_json, ops::docs, ops::redoc_script,
        webhooks::receive,
    ),
    components(schemas(crate::providers::ProviderKind)),
    modifiers(&SecuritySchemes, &CommonErrors),
    tags(
        (name = "Unified", description = "StackOne unified ATS assessments"),
        (name = "Admin", description = "Projects, keys, linked accounts and orders"),
        (name = "Sandbox", description = "The sandbox vendor's candidate pages"),
        (name = "Webhooks", description = "Vendor callbacks"),
        (name = "Operations", description = "Health and API description"),
    )
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json` and printed by `assessment-gateway openapi`.
pub fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    super::request_schemas::apply(&mut document);
    document
}

pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
