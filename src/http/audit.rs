//! Records every operator action of the admin API and the console in the audit trail
//! (`service::audit`): a layer on those routes names the action from the route that matched, the
//! actor from the admin token or the console session, the target from the path (or from what the
//! handler created), and the outcome from the status. Only authenticated actions are kept, and
//! console sign-ins, which the sign-in throttle bounds; a request without the admin token or a
//! session did nothing and is left to the logs and metrics.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
    Extension,
};
use uuid::Uuid;

use super::{auth::operator_token, console, request_id};
use crate::service::{
    audit::{AuditEntry, Target},
    Gateway,
};

/// Set by a handler on its response when it knows the target better than the path: what it
/// created (a key created under `/admin/projects/{id}` is the key, not the project), or the
/// project of a key it revoked.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub target: Target,
    pub project_id: Uuid,
}

impl Subject {
    /// The extension a handler puts on its response.
    pub fn of(target: Target, project_id: Uuid) -> Extension<Self> {
        Extension(Self { target, project_id })
    }
}

/// Set by the console's sign-in on its response: the session it opened.
#[derive(Debug, Clone)]
pub struct SignedIn(pub String);

const SIGN_IN: &str = "/console/login";

/// The action of a state-changing request to `route` (the matched route, `{id}` and all).
fn action_of(method: &Method, route: &str, path: &str) -> Option<&'static str> {
    let action = match (method.as_str(), route) {
        ("POST", "/admin/projects" | "/console/projects") => "project.create",
        ("PATCH", "/admin/projects/{id}") => "project.update",
        ("POST", "/admin/projects/{id}/signing-secret") => "project.rotate_signing_secret",
        ("POST", "/admin/projects/{id}/erasures") => "project.erase_candidate",
        ("POST", "/admin/projects/{id}/api-keys" | "/console/projects/{id}/keys") => {
            "api_key.create"
        }
        ("DELETE", "/admin/api-keys/{id}") | ("POST", "/console/keys/{id}/revoke") => {
            "api_key.revoke"
        }
        ("POST", "/admin/projects/{id}/accounts" | "/console/accounts") => "account.create",
        ("PATCH", "/admin/accounts/{id}") | ("POST", "/console/accounts/{id}") => "account.update",
        ("DELETE", "/admin/accounts/{id}") => "account.delete",
        ("POST", "/admin/orders/{id}/cancel") => "order.cancel",
        ("POST", "/admin/orders/{id}/reject") => "order.reject",
        ("POST", "/admin/orders/{id}/refresh") => "order.refresh",
        ("POST", "/console/orders/{id}/{action}") => match path.rsplit('/').next() {
            Some("cancel") => "order.cancel",
            Some("reject") => "order.reject",
            Some("refresh") => "order.refresh",
            _ => return None,
        },
        ("POST", "/admin/deliveries/{id}/retry" | "/console/deliveries/{id}/retry") => {
            "delivery.retry"
        }
        ("POST", "/console/deliveries/retry-dead") => "delivery.retry_dead",
        ("POST", SIGN_IN) => "console.sign_in",
        ("POST", "/console/logout") => "console.sign_out",
        _ => return None,
    };
    Some(action)
}

/// The thing named by the route's `{id}`: the path segment after which it stands says its kind.
fn path_target(route: &str, path: &str) -> Option<Target> {
    let route: Vec<&str> = route.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    let at = route.iter().position(|s| *s == "{id}")?;
    let id = Uuid::parse_str(path.get(at)?).ok()?;
    let target = match route.get(at.checked_sub(1)?)? {
        &"projects" => Target::Project(id),
        &"api-keys" | &"keys" => Target::ApiKey(id),
        &"accounts" => Target::Account(id),
        &"orders" => Target::Order(id),
        &"deliveries" => Target::Delivery(id),
        _ => return None,
    };
    Some(target)
}

/// What the layer knows before the action runs.
struct Asked {
    action: &'static str,
    /// `None` for a sign-in, whose actor the answer tells.
    actor: Option<String>,
    target: Option<Target>,
    project_id: Option<Uuid>,
    request_id: Option<String>,
}

/// The audited action `request` asks for, when it is one and its caller is authenticated (or it
/// is a sign-in); its project is still to be found.
fn asked(gateway: &Gateway, request: &Request) -> Option<Asked> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let route = request.extensions().get::<MatchedPath>()?.as_str();
    let path = request.uri().path();
    let action = action_of(request.method(), route, path)?;
    let actor = if route == SIGN_IN {
        None
    } else if route.starts_with("/console") {
        Some(console::session_actor(gateway, request.headers())?)
    } else {
        operator_token(gateway, request.headers()).ok()?;
        Some("admin_api".to_string())
    };
    let target = if route == SIGN_IN {
        client_of(request).map(Target::Client)
    } else {
        path_target(route, path)
    };
    Some(Asked {
        action,
        actor,
        target,
        project_id: None,
        request_id: request
            .headers()
            .get(&request_id::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    })
}

fn client_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The entry for `asked` answered with `response`; `None` for a sign-in that was not an attempt
/// (throttled, or a form from another site: no token was checked).
fn entry(asked: Asked, response: &Response) -> Option<AuditEntry> {
    let status = response.status();
    let actor = match asked.actor {
        Some(actor) => actor,
        None => match response.extensions().get::<SignedIn>() {
            Some(SignedIn(session)) => session.clone(),
            None if status == StatusCode::UNAUTHORIZED => "console".to_string(),
            None => return None,
        },
    };
    let subject = response.extensions().get::<Subject>();
    Some(AuditEntry {
        actor,
        action: asked.action,
        target: subject.map(|s| s.target).or(asked.target),
        project_id: subject.map(|s| s.project_id).or(asked.project_id),
        status_code: status.as_u16(),
        request_id: asked.request_id,
    })
}

/// The layer: records the action once it is answered, before the answer leaves, so a client that
/// reads the trail after its answer finds its action there.
pub async fn record(State(gateway): State<Gateway>, request: Request, next: Next) -> Response {
    let Some(mut asked) = asked(&gateway, &request) else {
        return next.run(request).await;
    };
    // Found now: after a deletion the target has no project any more.
    if let Some(target) = asked.target {
        asked.project_id = gateway.project_of(target).await;
    }
    let response = next.run(request).await;
    if let Some(entry) = entry(asked, &response) {
        gateway.record_audit(entry).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_by_route() {
        let post = Method::POST;
        assert_eq!(
            action_of(&post, "/admin/orders/{id}/cancel", "/admin/orders/x/cancel"),
            Some("order.cancel")
        );
        assert_eq!(
            action_of(
                &post,
                "/console/orders/{id}/{action}",
                "/console/orders/x/refresh"
            ),
            Some("order.refresh")
        );
        assert_eq!(
            action_of(
                &post,
                "/console/orders/{id}/{action}",
                "/console/orders/x/explode"
            ),
            None
        );
        assert_eq!(
            action_of(&Method::DELETE, "/admin/api-keys/{id}", ""),
            Some("api_key.revoke")
        );
        assert_eq!(action_of(&Method::GET, "/admin/orders", ""), None);
    }

    #[test]
    fn every_named_action_is_one_the_trail_lists() {
        let routes = [
            ("POST", "/admin/projects"),
            ("PATCH", "/admin/projects/{id}"),
            ("POST", "/admin/projects/{id}/signing-secret"),
            ("POST", "/admin/projects/{id}/erasures"),
            ("POST", "/console/projects/{id}/keys"),
            ("POST", "/console/keys/{id}/revoke"),
            ("POST", "/console/accounts/{id}"),
            ("DELETE", "/admin/accounts/{id}"),
            ("POST", "/console/deliveries/retry-dead"),
            ("POST", "/console/logout"),
            ("POST", SIGN_IN),
        ];
        for (method, route) in routes {
            let action = action_of(&method.parse().unwrap(), route, route).unwrap();
            assert!(crate::service::audit::ACTIONS.contains(&action), "{action}");
        }
    }

    #[test]
    fn targets_come_from_the_id_of_the_path() {
        let id = Uuid::now_v7();
        assert_eq!(
            path_target(
                "/admin/orders/{id}/cancel",
                &format!("/admin/orders/{id}/cancel")
            ),
            Some(Target::Order(id))
        );
        assert_eq!(
            path_target(
                "/console/keys/{id}/revoke",
                &format!("/console/keys/{id}/revoke")
            ),
            Some(Target::ApiKey(id))
        );
        assert_eq!(
            path_target("/admin/orders/{id}/cancel", "/admin/orders/nope/cancel"),
            None
        );
        assert_eq!(path_target("/admin/projects", "/admin/projects"), None);
    }
}
