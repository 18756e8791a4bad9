//! The operator console in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs). Sign in (a wrong token refused),
//! find an order by email, read its timeline, cancel one, retry a dead delivery and see it arrive,
//! create and revoke a key; a hostile candidate name is text; a cross-site POST changes nothing;
//! the Audit page lists what was done; wrong tokens are limited. With `CONSOLE_SCREENSHOTS=<dir>`
//! it also saves the pages as PNGs (how `docs/console-*.png` were made).

mod common;

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    binary::free_port, eventually, expect_json, stackone_order, TestApp, TestDb, ADMIN_TOKEN,
};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a port of its own, stopped with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session; `None` (the test is skipped) without chromedriver outside CI.
async fn browser() -> Option<(Driver, Client, tempfile::TempDir)> {
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {CHROMEDRIVER} is missing"
        );
        eprintln!("no {CHROMEDRIVER}: skipping the console's browser test");
        return None;
    }
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(driver);
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().display())]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = eventually(Duration::from_secs(20), || {
        let (capabilities, connector) = (capabilities.clone(), connector.clone());
        async move {
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
                .ok()
        }
    })
    .await;
    Some((driver, client, profile))
}

/// An ATS receiver that refuses (410) until told to accept.
#[derive(Clone, Default)]
struct Receiver {
    accepting: Arc<Mutex<bool>>,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if *self.accepting.lock().unwrap() {
            if let Ok(body) = serde_json::from_slice(&request.body) {
                self.received.lock().unwrap().push(body);
            }
            ResponseTemplate::new(200)
        } else {
            ResponseTemplate::new(410)
        }
    }
}

/// The text of the first element matching `css` once it contains `expected` (pages load after a
/// click returns; until then the element may be the old page's).
async fn wait_text(browser: &Client, css: &str, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(expected) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {expected:?}; last: {last:?}");
}

async fn screenshot(browser: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("CONSOLE_SCREENSHOTS") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("console-{name}.png")),
            png,
        )
        .unwrap();
    }
}

async fn click_button(browser: &Client, text: &str) {
    browser
        .find(Locator::XPath(&format!(
            "//button[normalize-space(.)='{text}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("a button {text}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn the_console_in_a_browser(db: TestDb) {
    let Some((_driver, browser, _profile)) = browser().await else {
        return;
    };
    let app = TestApp::spawn_with(&db, &["--delivery-retry-schedule", "100ms"]).await;
    let base = app.url.clone();

    // Data through the API: an order to a receiver that refuses (its delivery dies), an open one.
    let receiver = Receiver::default();
    let ats = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(receiver.clone())
        .mount(&ats)
        .await;
    let tenant = app.create_tenant().await;
    let mut body = stackone_order("console-1", "grace@example.com", "sandbox-coding");
    body["candidate"]["first_name"] = json!("<script>document.title='pwned'</script>");
    body["results_update_url"] = json!(format!("{}/results", ats.uri()));
    let done = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
    app.client
        .post(format!("{}/submit", done["test_url"].as_str().unwrap()))
        .form(&[("score", "88")])
        .send()
        .await
        .unwrap();
    let open = expect_json(
        app.order(
            &tenant,
            &stackone_order("console-2", "alan@example.com", "sandbox-coding"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (done_id, open_id) = (
        done["id"].as_str().unwrap().to_string(),
        open["id"].as_str().unwrap().to_string(),
    );
    eventually(Duration::from_secs(10), || async {
        let list = app.admin_get("/admin/deliveries?status=dead").await;
        (!list["data"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;

    // Sign in: a wrong token is refused, the right one opens the overview.
    browser.goto(&format!("{base}/console")).await.unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
    assert_eq!(browser.find_all(Locator::Css("h1")).await.unwrap().len(), 1);
    assert_eq!(
        browser.find_all(Locator::Css("nav a")).await.unwrap().len(),
        6
    );
    screenshot(&browser, "login").await;
    browser
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys("not-the-token-at-all")
        .await
        .unwrap();
    click_button(&browser, "Sign in").await;
    wait_text(&browser, "[role=alert]", "not the admin token").await;
    browser
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    click_button(&browser, "Sign in").await;
    wait_text(&browser, "h1", "Overview").await;
    assert_eq!(browser.find_all(Locator::Css("h1")).await.unwrap().len(), 1);
    let nav: Vec<String> = {
        let mut texts = Vec::new();
        for link in browser.find_all(Locator::Css("nav a")).await.unwrap() {
            texts.push(link.text().await.unwrap());
        }
        texts
    };
    assert_eq!(
        nav,
        [
            "Overview",
            "Orders",
            "Deliveries",
            "Accounts",
            "Projects",
            "Audit"
        ]
    );
    screenshot(&browser, "overview").await;

    // Find the order by the candidate's email, open it, read its timeline.
    browser
        .goto(&format!("{base}/console/orders"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=q]"))
        .await
        .unwrap()
        .send_keys("grace@example.com")
        .await
        .unwrap();
    click_button(&browser, "Filter").await;
    eventually(Duration::from_secs(5), || async {
        browser
            .current_url()
            .await
            .ok()?
            .query()?
            .contains("grace")
            .then_some(())
    })
    .await;
    let rows = browser.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "one order has that email");
    screenshot(&browser, "orders").await;
    browser
        .find(Locator::LinkText(&done_id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&browser, "h1", &format!("Order {done_id}")).await;
    let timeline = wait_text(&browser, "table", "order received").await;
    assert!(timeline.contains("completed"), "{timeline}");
    // The hostile name is text: shown as written, never run.
    wait_text(&browser, "dl", "<script>document.title='pwned'</script>").await;
    assert!(!browser.title().await.unwrap().contains("pwned"));
    screenshot(&browser, "order").await;

    // Retry the dead delivery, now that the receiver accepts, and see it arrive.
    *receiver.accepting.lock().unwrap() = true;
    browser
        .goto(&format!("{base}/console/deliveries"))
        .await
        .unwrap();
    wait_text(&browser, "main", "Deliveries: dead").await;
    screenshot(&browser, "deliveries").await;
    click_button(&browser, "Retry").await;
    wait_text(&browser, "[role=status]", "sent again").await;
    eventually(Duration::from_secs(10), || async {
        (!receiver.received.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    assert_eq!(receiver.received.lock().unwrap()[0]["data"]["id"], done_id);

    // Cancel the open order.
    browser
        .goto(&format!("{base}/console/orders/{open_id}"))
        .await
        .unwrap();
    click_button(&browser, "Cancel").await;
    wait_text(&browser, "[role=status]", "cancelled").await;
    assert_eq!(
        app.admin_get(&format!("/admin/orders/{open_id}")).await["status"],
        "cancelled"
    );

    // A key created (shown once) and revoked.
    browser
        .goto(&format!("{base}/console/projects"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("form[action$='/keys'] input[name=name]"))
        .await
        .unwrap()
        .send_keys("from the console")
        .await
        .unwrap();
    click_button(&browser, "Create key").await;
    let key = wait_text(&browser, "#shown-secret", "agw_").await;
    assert!(key.starts_with("agw_"), "{key}");
    screenshot(&browser, "projects").await;
    let with_key = common::Tenant {
        api_key: key.clone(),
        ..tenant.clone()
    };
    let works = app
        .unified(Method::GET, "/unified/ats/assessments/packages", &with_key)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), StatusCode::OK);
    browser
        .find(Locator::Css("button[aria-label='Revoke from the console']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&browser, "[role=status]", "revoked").await;
    let revoked = app
        .unified(Method::GET, "/unified/ats/assessments/packages", &with_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

    browser
        .goto(&format!("{base}/console/accounts"))
        .await
        .unwrap();
    wait_text(&browser, "h1", "Accounts").await;
    screenshot(&browser, "accounts").await;

    // A POST from another site, even with the session cookie, changes nothing.
    let session = browser
        .get_named_cookie("agw_console")
        .await
        .unwrap()
        .value()
        .to_string();
    let third = app
        .order(
            &tenant,
            &stackone_order("console-3", "ada@example.com", "sandbox-coding"),
        )
        .await;
    let third = expect_json(third, StatusCode::OK).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (origin, token) in [
        ("http://evil.example", "whatever"),
        (base.as_str(), "not-the-form-token"),
    ] {
        let forged = app
            .client
            .post(format!("{base}/console/orders/{third}/cancel"))
            .header("cookie", format!("agw_console={session}"))
            .header("origin", origin)
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    assert_eq!(
        app.admin_get(&format!("/admin/orders/{third}")).await["status"],
        "invited"
    );

    // The Audit page: what this session did, the refused forms and the wrong token included.
    browser
        .find(Locator::LinkText("Audit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let trail = wait_text(&browser, "table", "order.cancel").await;
    for done in [
        "console.sign_in",
        "delivery.retry",
        "api_key.create",
        "api_key.revoke",
        "refused",
    ] {
        assert!(trail.contains(done), "{done}: {trail}");
    }
    screenshot(&browser, "audit").await;
    browser.close().await.unwrap();
}

/// At most 5 wrong tokens a minute from one address; then 429, even for the right one.
async fn wrong_tokens_are_limited(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    for _ in 0..5 {
        let wrong = app
            .client
            .post(format!("{}/console/login", app.url))
            .form(&[("token", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = app
        .client
        .post(format!("{}/console/login", app.url))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("set-cookie").is_none());
    // Pages need the session.
    let page = app
        .client
        .get(format!("{}/console/orders", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}

/// "Retry all dead" of a project sends its dead deliveries again and says how many.
async fn all_dead_deliveries_of_a_project_are_retried(db: TestDb) {
    let app = TestApp::spawn_with(&db, &["--delivery-retry-schedule", "100ms"]).await;
    let receiver = Receiver::default();
    let ats = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/results"))
        .respond_with(receiver.clone())
        .mount(&ats)
        .await;
    let tenant = app.create_tenant().await;
    for i in 0..3 {
        let mut body = stackone_order(
            &format!("dead-{i}"),
            &format!("d{i}@example.com"),
            "sandbox-coding",
        );
        body["results_update_url"] = json!(format!("{}/results", ats.uri()));
        let created = expect_json(app.order(&tenant, &body).await, StatusCode::OK).await;
        app.client
            .post(format!("{}/submit", created["test_url"].as_str().unwrap()))
            .form(&[("score", "50")])
            .send()
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(10), || async {
        let dead = app.admin_get("/admin/deliveries?status=dead").await;
        (dead["data"].as_array().unwrap().len() == 3).then_some(())
    })
    .await;
    *receiver.accepting.lock().unwrap() = true;
    // Signed in as a browser would be: the session cookie, and the form token of a page.
    let signed_in = app
        .client
        .post(format!("{}/console/login", app.url))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = app
        .client
        .get(format!("{}/console/deliveries", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let done = app
        .client
        .post(format!("{}/console/deliveries/retry-dead", app.url))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("project_id", tenant.project_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("3 dead deliveries queued to be sent again."));
    eventually(Duration::from_secs(10), || async {
        (receiver.received.lock().unwrap().len() == 3).then_some(())
    })
    .await;
}

on_both_databases!(
    the_console_in_a_browser,
    wrong_tokens_are_limited,
    all_dead_deliveries_of_a_project_are_retried
);
