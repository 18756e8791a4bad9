//! Start-up refuses what would fail later, naming the setting and the cause: a `MASTER_KEY` that
//! cannot open the database's secrets, a SQLite key file that disagrees with a set `MASTER_KEY`,
//! a database that cannot be reached or does not exist.

mod common;

use std::{
    process::{Command, Output},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use common::{binary::Binary, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_assessment-gateway");

fn gateway(env: &[(&str, &str)], args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "")
        .args(args)
        .output()
        .expect("run the binary")
}

/// The database holds a project sealed with one key; the gateway started with another refuses
/// to serve, naming `MASTER_KEY` (and not showing it).
async fn another_master_key_is_refused_before_serving(db: TestDb) {
    let first = Binary::start(&db, &[]).await;
    first.create_tenant().await;
    first.stop();
    let other = STANDARD.encode([7u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let output = gateway(
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("MASTER_KEY", other.as_str()),
            ("ADMIN_TOKEN", common::ADMIN_TOKEN),
        ],
        &[],
        dir.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MASTER_KEY") && stderr.contains("cannot open"),
        "{stderr}"
    );
    assert!(!stderr.contains(&other));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
}

#[test]
fn a_master_key_other_than_the_sqlite_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let created = gateway(&[("DATABASE_URL", url.as_str())], &["migrate"], dir.path());
    assert!(created.status.success(), "{created:?}");
    assert!(dir.path().join("gateway.db.master-key").exists());
    let other = STANDARD.encode([9u8; 32]);
    let refused = gateway(
        &[
            ("DATABASE_URL", url.as_str()),
            ("MASTER_KEY", other.as_str()),
        ],
        &["migrate"],
        dir.path(),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("MASTER_KEY") && stderr.contains("key file"),
        "{stderr}"
    );
    // The file's own key is accepted.
    let key = std::fs::read_to_string(dir.path().join("gateway.db.master-key")).unwrap();
    let same = gateway(
        &[("DATABASE_URL", url.as_str()), ("MASTER_KEY", key.trim())],
        &["migrate"],
        dir.path(),
    );
    assert!(same.status.success(), "{same:?}");
}

#[test]
fn an_unreachable_database_is_named_with_its_cause_at_once() {
    let port = common::binary::free_port();
    let dir = tempfile::tempdir().unwrap();
    let key = STANDARD.encode([1u8; 32]);
    let url = format!("postgres://gw@127.0.0.1:{port}/gateway");
    let started = Instant::now();
    let output = gateway(
        &[("DATABASE_URL", url.as_str()), ("MASTER_KEY", key.as_str())],
        &["migrate"],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(6));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "DATABASE_URL: connection refused at 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}

#[test]
fn a_missing_database_is_named_with_how_to_create_it() {
    let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs TEST_DATABASE_URL"
        );
        return;
    };
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path("agw_no_such_database");
    let dir = tempfile::tempdir().unwrap();
    let key = STANDARD.encode([1u8; 32]);
    let output = gateway(
        &[("DATABASE_URL", url.as_str()), ("MASTER_KEY", key.as_str())],
        &["migrate"],
        dir.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database \"agw_no_such_database\" does not exist")
            && stderr.contains("createdb"),
        "{stderr}"
    );
}

on_both_databases!(another_master_key_is_refused_before_serving);
