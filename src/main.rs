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

/// Settings whose values are secret: a refusal names them, never shows their value.
const SECRET_SETTINGS: [(&str, &str); 3] = [
    ("--master-key", "MASTER_KEY"),
    ("--admin-token", "ADMIN_TOKEN"),
    ("--database-url", "DATABASE_URL"),
];

/// The command line and environment; a bad secret setting is refused without its value (clap
/// would print it).
fn parse_cli() -> Result<Cli, ExitCode> {
    use clap::error::{ContextKind, ContextValue};
    let error = match Cli::try_parse() {
        Ok(cli) => return Ok(cli),
        Err(error) => error,
    };
    let arg = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => String::new(),
    };
    match SECRET_SETTINGS
        .iter()
        .find(|(flag, _)| arg.starts_with(flag))
    {
        Some((_, setting)) => {
            let why = std::error::Error::source(&error)
                .map_or_else(|| "invalid value".to_string(), ToString::to_string);
            eprintln!("error: invalid setting {setting}: {why} (the value is not shown)");
            Err(ExitCode::from(2))
        }
        None => error.exit(),
    }
}

/// `message` with the password of `database_url` (if any) masked.
fn without_password(message: String, database_url: &str) -> String {
    match url::Url::parse(database_url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
    {
        Some(password) => message.replace(&password, "***"),
        None => message,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::Openapi {
        // A reader that stops early (`| head`) closes the pipe: that is not an error.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return match writeln!(out, "{}", openapi::document_json()).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the document: {e}");
                ExitCode::FAILURE
            }
        };
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
    let url = config.database_url.expose();
    store::connect(url)
        .await
        .map_err(|e| without_password(format!("DATABASE_URL: {e}"), url))?;
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
    let url = config.database_url.expose().clone();
    let app = App::build(config).await.map_err(|e| match e {
        BuildError::Store(e) => without_password(format!("DATABASE_URL: {e}"), &url),
        other => without_password(other.to_string(), &url),
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
