use std::process::ExitCode;

use assessment_gateway::{
    config::{Cli, Command, Config, MasterKeySource},
    http::openapi,
    logging, store, App, BuildError,
};
use clap::Parser;

// Requests allocate and free many small buffers across threads; mimalloc does that with less
// CPU than glibc's malloc (measured by scripts/bench's CPU time per order).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::Openapi {
        println!("{}", openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let public_url_set = cli.settings.public_url.is_some();
    let config = match Config::from_settings(cli.settings).and_then(|config| {
        if command == Command::Serve {
            config.check_serving(public_url_set)?;
        }
        Ok(config)
    }) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: invalid setting {error}");
            return ExitCode::from(2);
        }
    };
    let tracing = match logging::init(config.log_format, config.otlp_endpoint.as_ref()) {
        Ok(tracing) => tracing,
        Err(message) => {
            eprintln!("error: invalid setting {message}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command {
        Command::Migrate => migrate(&config).await,
        _ => serve(config).await,
    };
    // Blocking: the exporter's client has a runtime of its own.
    let _ = tokio::task::spawn_blocking(move || tracing.shutdown()).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &Config) -> Result<(), String> {
    store::connect(config.database_url.expose())
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    println!("migrations applied");
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    match &config.master_key_source {
        MasterKeySource::KeyFile(path) => tracing::warn!(
            path = %path.display(),
            "MASTER_KEY is not set: using the key file beside the SQLite database; set MASTER_KEY in production"
        ),
        MasterKeySource::Ephemeral => tracing::warn!(
            "MASTER_KEY is not set and the database is in memory: secrets use a key that dies with the process"
        ),
        MasterKeySource::Setting => {}
    }
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| format!("LISTEN_ADDR: cannot listen on {}: {e}", config.listen_addr))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (public_url, docs, health, console) = (
        config.public_url.to_string(),
        config.public_link("/openapi.json"),
        config.public_link("/healthz"),
        config.public_link("/console"),
    );
    let generated_token = config
        .admin_token_generated
        .then(|| config.admin_token.expose().clone());
    let app = App::build(config).await.map_err(|e| match e {
        BuildError::Store(e) => format!("DATABASE_URL: {e}"),
        other => other.to_string(),
    })?;
    println!(
        "assessment-gateway listening on http://{address} (public URL {public_url}, {} store)",
        app.gateway.store.backend()
    );
    println!("  API description: {docs}  health: {health}  console: {console}");
    if let Some(token) = generated_token {
        println!("  ADMIN_TOKEN (development only, generated for this run; set ADMIN_TOKEN to keep one): {token}");
    }
    app.serve(listener, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
