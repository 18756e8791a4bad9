//! Every setting of the gateway: an environment variable with a matching `--flag`,
//! parsed and validated once at start-up so that a bad value stops the process with a
//! message naming the setting.

use std::{fmt, net::SocketAddr, time::Duration};

use base64::{engine::general_purpose::STANDARD, Engine};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::secret::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "assessment-gateway",
    args_override_self = true,
    version,
    about = "StackOne-compatible gateway between ATS platforms and assessment vendors"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Apply migrations and serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document and exit.
    Openapi,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// `postgres://…` for production and several instances; `sqlite://…` for one instance.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true, default_value = "sqlite://assessment-gateway.db", value_parser = parse_database_url)]
    pub database_url: Secret<String>,
    /// Address the HTTP server binds to.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        global = true,
        default_value = "127.0.0.1:8080"
    )]
    pub listen_addr: SocketAddr,
    /// Base of the callback URLs handed to vendors and of sandbox test URLs (default `http://{LISTEN_ADDR}`).
    #[arg(long, env = "PUBLIC_URL", global = true, value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,
    /// Bearer token for `/admin/*`; when unset a random development token is generated and printed.
    #[arg(long, env = "ADMIN_TOKEN", global = true, hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<Secret<String>>,
    /// 32 bytes, base64: encrypts vendor credentials and signing secrets at rest.
    #[arg(long, env = "MASTER_KEY", global = true, hide_env_values = true, value_parser = parse_master_key)]
    pub master_key: Option<Secret<[u8; 32]>>,
    /// Allow `results_update_url` to resolve to loopback or private addresses.
    #[arg(long, env = "OUTBOUND_ALLOW_PRIVATE", global = true, default_value = "false", action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub outbound_allow_private: bool,
    /// Run the polling, delivery and retention workers in this process.
    #[arg(long, env = "RUN_WORKERS", global = true, default_value = "true", action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub run_workers: bool,
    /// Delays between delivery attempts, comma-separated (each at most 30d).
    #[arg(long, env = "DELIVERY_RETRY_SCHEDULE", global = true, default_value = "5s,1m,5m,30m,2h,6h,12h,24h", value_parser = parse_schedule)]
    pub delivery_retry_schedule: Schedule,
    /// How often open orders are polled at vendors that do not call back (at most 7d).
    #[arg(long, env = "POLL_INTERVAL", global = true, default_value = "5m", value_parser = parse_poll_interval)]
    pub poll_interval: HumanDuration,
    /// How long after a vendor callback the order is re-read from the vendor; further callbacks
    /// for the order meanwhile share that one re-read (at most 1h).
    #[arg(long, env = "CALLBACK_REREAD_DELAY", global = true, default_value = "1s", value_parser = parse_reread_delay)]
    pub callback_reread_delay: HumanDuration,
    /// How often orders past their project's `retention_days` are looked for and erased (at most
    /// 1d).
    #[arg(long, env = "RETENTION_INTERVAL", global = true, default_value = "1h", value_parser = parse_retention_interval)]
    pub retention_interval: HumanDuration,
    /// Timeout of one vendor request (and of one delivery attempt; at most 10m).
    #[arg(long, env = "PROVIDER_TIMEOUT", global = true, default_value = "20s", value_parser = parse_provider_timeout)]
    pub provider_timeout: HumanDuration,
    /// Unified API requests a minute per API key in this process; beyond it 429 with
    /// `Retry-After` (0: no limit).
    #[arg(long, env = "RATE_LIMIT", global = true, default_value = "1000")]
    pub rate_limit: u32,
    /// Base URL of an OpenTelemetry collector (OTLP over HTTP, e.g. `http://localhost:4318`):
    /// spans of requests, vendor calls, polls and deliveries are exported there (unset: off).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true, value_parser = parse_otlp_endpoint)]
    pub otel_exporter_otlp_endpoint: Option<url::Url>,
    /// Address of the Prometheus `/metrics` listener (empty: no metrics).
    #[arg(long, env = "METRICS_ADDR", global = true, default_value = "127.0.0.1:9464", value_parser = parse_optional_addr)]
    pub metrics_addr: OptionalAddr,
    /// `pretty` or `json` (default: pretty on a terminal, json otherwise).
    #[arg(long, env = "LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// A socket address, or none (an empty value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

fn parse_otlp_endpoint(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" => Ok(url),
        // The exporter's client carries no TLS here (it would add a second TLS stack to the
        // build): send to a collector next to the gateway, which may forward over TLS.
        "https" => Err("https is not supported: point it at a local collector over http (e.g. http://localhost:4318)".into()),
        _ => Err("expected an http:// URL".into()),
    }
}

fn parse_optional_addr(value: &str) -> Result<OptionalAddr, String> {
    if value.trim().is_empty() {
        return Ok(OptionalAddr(None));
    }
    value
        .trim()
        .parse()
        .map(|addr| OptionalAddr(Some(addr)))
        .map_err(|e| format!("{e} (expected host:port, or empty for none)"))
}

/// A duration written the human way (`5s`, `1m`, `2h`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// The delays between delivery attempts.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|d| HumanDuration(*d)))
            .finish()
    }
}

/// Which database backs the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

/// Where the master key came from; logged at start-up so operators know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    Setting,
    KeyFile(std::path::PathBuf),
    Ephemeral,
}

/// The validated configuration the application is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: Secret<String>,
    pub listen_addr: SocketAddr,
    pub public_url: url::Url,
    pub admin_token: Secret<String>,
    pub admin_token_generated: bool,
    pub master_key: Secret<[u8; 32]>,
    pub master_key_source: MasterKeySource,
    pub outbound_allow_private: bool,
    pub run_workers: bool,
    pub delivery_retry_schedule: Vec<Duration>,
    pub poll_interval: Duration,
    pub callback_reread_delay: Duration,
    pub retention_interval: Duration,
    pub provider_timeout: Duration,
    pub rate_limit: u32,
    pub metrics_addr: Option<SocketAddr>,
    pub otlp_endpoint: Option<url::Url>,
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

impl Config {
    /// Resolves defaults that depend on other settings or on the environment
    /// (generated admin token, master key file beside a SQLite database).
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let kind = database_kind(settings.database_url.expose());
        let public_url = match settings.public_url {
            Some(url) => url,
            None => url::Url::parse(&format!("http://{}", settings.listen_addr)).map_err(|e| {
                ConfigError {
                    setting: "PUBLIC_URL",
                    message: format!("cannot derive from LISTEN_ADDR: {e}"),
                }
            })?,
        };
        let (admin_token, admin_token_generated) = match settings.admin_token {
            Some(token) => (token, false),
            None => (Secret::new(crate::crypto::random_token("adm_", 32)), true),
        };
        let (master_key, master_key_source) = match (settings.master_key, kind) {
            (Some(key), DatabaseKind::Sqlite) => {
                check_key_file_agrees(settings.database_url.expose(), &key)?;
                (key, MasterKeySource::Setting)
            }
            (Some(key), _) => (key, MasterKeySource::Setting),
            (None, DatabaseKind::Postgres) => {
                return Err(ConfigError {
                    setting: "MASTER_KEY",
                    message: "required with a Postgres DATABASE_URL (32 bytes, base64; e.g. `openssl rand -base64 32`)".into(),
                })
            }
            (None, DatabaseKind::Sqlite) => master_key_for_sqlite(settings.database_url.expose())?,
        };
        Ok(Self {
            database_url: settings.database_url,
            listen_addr: settings.listen_addr,
            public_url,
            admin_token,
            admin_token_generated,
            master_key,
            master_key_source,
            outbound_allow_private: settings.outbound_allow_private,
            run_workers: settings.run_workers,
            delivery_retry_schedule: settings.delivery_retry_schedule.0,
            poll_interval: settings.poll_interval.0,
            callback_reread_delay: settings.callback_reread_delay.0,
            retention_interval: settings.retention_interval.0,
            provider_timeout: settings.provider_timeout.0,
            rate_limit: settings.rate_limit,
            metrics_addr: settings.metrics_addr.0,
            otlp_endpoint: settings.otel_exporter_otlp_endpoint,
            log_format: settings.log_format.unwrap_or_else(|| {
                use std::io::IsTerminal;
                if std::io::stdout().is_terminal() {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }
            }),
        })
    }

    /// What serving needs beyond valid settings: a `PUBLIC_URL` that vendors and candidates can
    /// reach (an unspecified `LISTEN_ADDR` such as 0.0.0.0 is none), and an `ADMIN_TOKEN` of the
    /// operator's own wherever the listener is not loopback-only (a generated development token
    /// would be printed into a container's or server's logs).
    pub fn check_serving(&self, public_url_set: bool) -> Result<(), ConfigError> {
        if !public_url_set && self.listen_addr.ip().is_unspecified() {
            return Err(ConfigError {
                setting: "PUBLIC_URL",
                message: format!(
                    "required when LISTEN_ADDR is {}: callback and test links must name a host others can reach",
                    self.listen_addr
                ),
            });
        }
        if self.admin_token_generated && !self.listen_addr.ip().is_loopback() {
            return Err(ConfigError {
                setting: "ADMIN_TOKEN",
                message: format!(
                    "required when LISTEN_ADDR ({}) is not a loopback address; a generated token is for local development only",
                    self.listen_addr
                ),
            });
        }
        Ok(())
    }

    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(self.database_url.expose())
    }

    /// The URL handed to a vendor or a candidate for `path` (which starts with `/`).
    pub fn public_link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

fn database_kind(url: &str) -> DatabaseKind {
    if url.starts_with("sqlite:") {
        DatabaseKind::Sqlite
    } else {
        DatabaseKind::Postgres
    }
}

/// The file path of a `sqlite://` URL, or `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

/// With SQLite and no MASTER_KEY, a key file beside the database is created once (mode 0600)
/// and reused, so that a restarted development instance can still read its secrets.
/// The key file beside a SQLite database, when the database is a file.
fn key_file_of(url: &str) -> Option<std::path::PathBuf> {
    let mut key_path = sqlite_path(url)?.into_os_string();
    key_path.push(".master-key");
    Some(std::path::PathBuf::from(key_path))
}

/// A set `MASTER_KEY` must be the key of the file beside the database, when there is one: the
/// secrets of that database were sealed with the file's key.
fn check_key_file_agrees(url: &str, key: &Secret<[u8; 32]>) -> Result<(), ConfigError> {
    let Some(path) = key_file_of(url).filter(|p| p.exists()) else {
        return Ok(());
    };
    let from_file = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| parse_master_key(text.trim()).ok());
    match from_file {
        Some(file_key) if file_key.expose() == key.expose() => Ok(()),
        _ => Err(ConfigError {
            setting: "MASTER_KEY",
            message: format!(
                "differs from the key file beside the database ({}): unset MASTER_KEY, or set it to the file's key",
                path.display()
            ),
        }),
    }
}

fn master_key_for_sqlite(url: &str) -> Result<(Secret<[u8; 32]>, MasterKeySource), ConfigError> {
    let err = |message: String| ConfigError {
        setting: "MASTER_KEY",
        message,
    };
    let Some(key_path) = key_file_of(url) else {
        return Ok((
            Secret::new(crate::crypto::random_key()),
            MasterKeySource::Ephemeral,
        ));
    };
    if key_path.exists() {
        let text = std::fs::read_to_string(&key_path)
            .map_err(|e| err(format!("cannot read key file {}: {e}", key_path.display())))?;
        let key = parse_master_key(text.trim())
            .map_err(|e| err(format!("key file {}: {e}", key_path.display())))?;
        return Ok((key, MasterKeySource::KeyFile(key_path)));
    }
    let key = crate::crypto::random_key();
    write_private_file(&key_path, &STANDARD.encode(key)).map_err(|e| {
        err(format!(
            "cannot create key file {}: {e}",
            key_path.display()
        ))
    })?;
    Ok((Secret::new(key), MasterKeySource::KeyFile(key_path)))
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

fn parse_database_url(value: &str) -> Result<Secret<String>, String> {
    let ok = ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|prefix| value.starts_with(prefix));
    if ok {
        Ok(Secret::new(value.to_string()))
    } else {
        Err("expected a postgres://… or sqlite://… URL".into())
    }
}

fn parse_public_url(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an absolute http(s) URL".into());
    }
    Ok(url)
}

fn parse_admin_token(value: &str) -> Result<Secret<String>, String> {
    if value.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    Ok(Secret::new(value.to_string()))
}

pub fn parse_master_key(value: &str) -> Result<Secret<[u8; 32]>, String> {
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|_| "expected base64".to_string())?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 32 bytes, got {}", b.len()))?;
    Ok(Secret::new(key))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim()).map_err(|e| format!("{e} (expected e.g. 5s, 1m, 2h)"))
}

/// A duration from `min` to `max` (`max` written the way the setting's help says it).
fn bounded_duration(
    value: &str,
    min: Duration,
    max: (Duration, &str),
) -> Result<HumanDuration, String> {
    let duration = parse_duration(value)?;
    if duration < min {
        return Err("must be greater than zero".into());
    }
    if duration > max.0 {
        return Err(format!("must be at most {}", max.1));
    }
    Ok(HumanDuration(duration))
}

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 3600;

fn parse_poll_interval(value: &str) -> Result<HumanDuration, String> {
    bounded_duration(
        value,
        Duration::from_nanos(1),
        (Duration::from_secs(7 * DAY), "7d"),
    )
}

fn parse_reread_delay(value: &str) -> Result<HumanDuration, String> {
    bounded_duration(value, Duration::ZERO, (Duration::from_secs(3600), "1h"))
}

fn parse_retention_interval(value: &str) -> Result<HumanDuration, String> {
    bounded_duration(
        value,
        Duration::from_millis(1),
        (Duration::from_secs(DAY), "1d"),
    )
}

fn parse_provider_timeout(value: &str) -> Result<HumanDuration, String> {
    bounded_duration(
        value,
        Duration::from_nanos(1),
        (Duration::from_secs(10 * MINUTE), "10m"),
    )
}

fn parse_schedule(value: &str) -> Result<Schedule, String> {
    let delays = value
        .split(',')
        .map(|delay| {
            bounded_duration(
                delay,
                Duration::ZERO,
                (Duration::from_secs(30 * DAY), "30d"),
            )
            .map(|d| d.0)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.is_empty() {
        return Err("needs at least one delay".into());
    }
    Ok(Schedule(delays))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, clap::Error> {
        let mut argv = vec!["assessment-gateway"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|cli| cli.settings)
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let err = settings(&["--poll-interval", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("POLL_INTERVAL"), "{err}");
        let err = settings(&["--database-url", "mysql://x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        let err = settings(&["--master-key", "c2hvcnQ="])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MASTER_KEY") && err.contains("32 bytes"),
            "{err}"
        );
    }

    #[test]
    fn durations_are_bounded() {
        for (flag, value) in [
            ("--poll-interval", "100000000y"),
            ("--provider-timeout", "11m"),
            ("--callback-reread-delay", "2h"),
            ("--delivery-retry-schedule", "5s,31d"),
            ("--provider-timeout", "0s"),
        ] {
            let err = settings(&[flag, value]).unwrap_err().to_string();
            assert!(
                err.contains("at most") || err.contains("greater than zero"),
                "{flag} {value}: {err}"
            );
        }
        assert!(settings(&["--poll-interval", "7d", "--provider-timeout", "10m"]).is_ok());
    }

    #[test]
    fn serving_beyond_loopback_needs_a_public_url_and_an_admin_token() {
        let config = |args: &[&str]| Config::from_settings(settings(args).unwrap()).unwrap();
        let open = config(&[
            "--listen-addr",
            "0.0.0.0:8080",
            "--database-url",
            "sqlite::memory:",
        ]);
        assert_eq!(open.check_serving(false).unwrap_err().setting, "PUBLIC_URL");
        assert_eq!(open.check_serving(true).unwrap_err().setting, "ADMIN_TOKEN");
        let set = config(&[
            "--listen-addr",
            "0.0.0.0:8080",
            "--public-url",
            "https://gw.example.com",
            "--admin-token",
            "a-long-enough-admin-token",
            "--database-url",
            "sqlite::memory:",
        ]);
        assert!(set.check_serving(true).is_ok());
        let local = config(&["--database-url", "sqlite::memory:"]);
        assert!(
            local.check_serving(false).is_ok(),
            "loopback: a development token is fine"
        );
    }

    #[test]
    fn postgres_requires_a_master_key() {
        let s = settings(&["--database-url", "postgres://localhost/x"]).unwrap();
        let err = Config::from_settings(s).unwrap_err();
        assert_eq!(err.setting, "MASTER_KEY");
    }

    #[test]
    fn sqlite_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gw.db").display());
        let first = Config::from_settings(settings(&["--database-url", &url]).unwrap()).unwrap();
        let second = Config::from_settings(settings(&["--database-url", &url]).unwrap()).unwrap();
        assert_eq!(first.master_key.expose(), second.master_key.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let MasterKeySource::KeyFile(path) = &first.master_key_source else {
                panic!("expected a key file")
            };
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            "--admin-token",
            "supersecretadmintoken",
            "--database-url",
            "postgres://u:pw@h/db",
            "--master-key",
            &STANDARD.encode([7u8; 32]),
        ])
        .unwrap();
        let config = Config::from_settings(s).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("supersecretadmintoken"));
        assert!(!debug.contains("pw@"));
        assert!(config
            .public_url
            .as_str()
            .starts_with("http://127.0.0.1:8080"));
    }
}
