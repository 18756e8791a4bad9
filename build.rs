//! Tells the tests whether a Postgres server is configured (`TEST_DATABASE_URL`): without one the
//! Postgres variants are marked ignored, so `cargo test` says in its normal output that they did
//! not run and how to run them, rather than counting them as passed.

fn main() {
    println!("cargo:rerun-if-env-changed=TEST_DATABASE_URL");
    // `sqlx::migrate!` embeds the migrations at compile time but does not tell cargo to watch
    // them, and a build script that names what it watches replaces cargo's default of watching
    // the whole package: without this a new migration file would not reach the binary.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
