//! Projects, API keys and linked accounts.

use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Gateway, ServiceError};
use crate::{
    crypto::{new_signing_secret, random_token, sha256_hex},
    domain::now,
    providers::{AccountContext, Provider, ProviderKind},
    secret::Secret,
    store::{AccountRecord, ApiKeyRecord, ProjectRecord},
};

const API_KEY_PREFIX: &str = "agw_";

/// A project just created, with its signing secret (shown once).
pub struct NewProject {
    pub project: ProjectRecord,
    pub signing_secret: Secret<String>,
}

/// An API key just created, with the key itself (shown once).
pub struct NewApiKey {
    pub record: ApiKeyRecord,
    pub key: Secret<String>,
}

/// A caller of the unified API: an authenticated project acting on one of its linked accounts.
#[derive(Clone)]
pub struct Caller {
    pub project_id: Uuid,
    pub account: AccountRecord,
    pub context: AccountContext,
    pub provider: Arc<dyn Provider>,
}

/// Changes to a linked account; absent fields are kept.
#[derive(Debug, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub credentials: Option<Value>,
    /// Merged into the settings; a `null` value removes a key.
    pub settings: Option<Map<String, Value>>,
}

fn account_context_label(id: Uuid) -> String {
    format!("account:{id}")
}

pub(super) fn project_context_label(id: Uuid) -> String {
    format!("project:{id}")
}

/// A name as given (at most 200 characters, not blank), kept without surrounding whitespace.
pub(super) fn checked_name(field: &str, name: &str) -> Result<String, ServiceError> {
    if crate::domain::patterns::is_blank(name) || name.chars().count() > 200 {
        return Err(ServiceError::invalid(format!(
            "{field}: expected 1 to 200 characters, not all blank"
        )));
    }
    Ok(name.trim().to_string())
}

/// The longest `validity` an account may set.
const MAX_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// An account's credentials and settings are each at most 16 KB of JSON.
fn check_account_sizes(credentials: &Value, settings: &Value) -> Result<(), ServiceError> {
    use crate::domain::limits::JSON_BYTES;
    for (field, value) in [("credentials", credentials), ("settings", settings)] {
        if value.to_string().len() > JSON_BYTES {
            return Err(ServiceError::invalid(format!(
                "{field}: at most {} KB of JSON",
                JSON_BYTES / 1024
            )));
        }
    }
    Ok(())
}

/// Settings every provider understands.
fn check_common_settings(settings: &Value) -> Result<(), ServiceError> {
    let Some(map) = settings.as_object() else {
        return Err(ServiceError::invalid("settings: expected an object"));
    };
    if let Some(mark) = map.get("pass_mark").filter(|v| !v.is_null()) {
        if !mark.as_f64().is_some_and(|m| (0.0..=100.0).contains(&m)) {
            return Err(ServiceError::invalid(
                "settings.pass_mark: expected a number from 0 to 100",
            ));
        }
    }
    if let Some(validity) = map.get("validity").filter(|v| !v.is_null()) {
        let ok = validity
            .as_str()
            .and_then(crate::domain::patterns::validity)
            .is_some_and(|v| {
                crate::config::parse_duration(v).is_ok_and(|d| !d.is_zero() && d <= MAX_VALIDITY)
            });
        if !ok {
            return Err(ServiceError::invalid(
                "settings.validity: expected a duration from 1s to 365d, such as \"14d\"",
            ));
        }
    }
    if let Some(base) = map.get("base_url").filter(|v| !v.is_null()) {
        let origin = base
            .as_str()
            .and_then(crate::domain::patterns::origin)
            .and_then(|b| url::Url::parse(b).ok())
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
            });
        if origin.is_none() {
            return Err(ServiceError::invalid(
                "settings.base_url: expected an origin such as https://vendor.example.com",
            ));
        }
    }
    Ok(())
}

impl Gateway {
    pub async fn create_project(&self, name: &str) -> Result<NewProject, ServiceError> {
        let id = Uuid::now_v7();
        let secret = new_signing_secret();
        let project = ProjectRecord {
            id,
            name: checked_name("name", name)?,
            signing_secret_sealed: self
                .cipher
                .seal(secret.as_bytes(), &project_context_label(id)),
            previous_signing_secret_sealed: None,
            previous_signing_valid_until: None,
            retention_days: None,
            created_at: now(),
        };
        self.store.insert_project(&project).await?;
        Ok(NewProject {
            project,
            signing_secret: Secret::new(secret),
        })
    }

    pub async fn project(&self, id: Uuid) -> Result<ProjectRecord, ServiceError> {
        self.store
            .get_project(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no project with id {id}")))
    }

    /// The project's Standard Webhooks signing secret.
    pub fn signing_secret(&self, project: &ProjectRecord) -> Result<Secret<String>, ServiceError> {
        let secret = self.cipher.open_string(
            &project.signing_secret_sealed,
            &project_context_label(project.id),
        )?;
        Ok(Secret::new(secret))
    }

    pub async fn create_api_key(
        &self,
        project_id: Uuid,
        name: &str,
    ) -> Result<NewApiKey, ServiceError> {
        self.project(project_id).await?;
        let key = random_token(API_KEY_PREFIX, 40);
        let record = ApiKeyRecord {
            id: Uuid::now_v7(),
            project_id,
            name: checked_name("name", name)?,
            key_hash: sha256_hex(&key),
            key_prefix: key.chars().take(API_KEY_PREFIX.len() + 6).collect(),
            created_at: now(),
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        Ok(NewApiKey {
            record,
            key: Secret::new(key),
        })
    }

    pub async fn revoke_api_key(&self, id: Uuid) -> Result<ApiKeyRecord, ServiceError> {
        let revoked = self.store.revoke_api_key(id, now()).await?;
        self.tenancy_cache.forget_keys();
        revoked.ok_or_else(|| ServiceError::not_found(format!("no active API key with id {id}")))
    }

    /// The project a presented API key belongs to.
    pub async fn authenticate(&self, api_key: &str) -> Result<Uuid, ServiceError> {
        let refused = || ServiceError::Unauthenticated("the API key is not valid".into());
        if api_key.is_empty() {
            return Err(refused());
        }
        let key_hash = sha256_hex(api_key);
        let project_id = match self.tenancy_cache.project_of_key(&key_hash) {
            Some(project_id) => project_id,
            None => {
                // Taken before the read: a revocation meanwhile keeps the key out of the cache.
                let generation = self.tenancy_cache.key_generation();
                let record = self
                    .store
                    .find_api_key(&key_hash)
                    .await?
                    .ok_or_else(refused)?;
                if record.revoked_at.is_some() {
                    return Err(ServiceError::Unauthenticated(
                        "the API key has been revoked".into(),
                    ));
                }
                self.tenancy_cache
                    .remember_key(key_hash.clone(), record.project_id, generation);
                record.project_id
            }
        };
        self.request_limit.check(&key_hash).map_err(|retry_after| {
            ServiceError::TooManyRequests {
                message: format!(
                    "more than {} requests a minute with this API key (RATE_LIMIT)",
                    self.config.rate_limit
                ),
                retry_after,
            }
        })?;
        Ok(project_id)
    }

    fn provider_for(&self, name: &str) -> Result<Arc<dyn Provider>, ServiceError> {
        ProviderKind::parse(name)
            .and_then(|kind| self.providers.get(kind))
            .ok_or_else(|| {
                ServiceError::invalid(format!(
                    "provider: expected one of {}",
                    self.providers.names().join(", ")
                ))
            })
    }

    pub async fn create_account(
        &self,
        project_id: Uuid,
        provider: &str,
        name: &str,
        credentials: Value,
        settings: Value,
    ) -> Result<AccountRecord, ServiceError> {
        let adapter = self.provider_for(provider)?;
        let name = checked_name("name", name)?;
        check_account_sizes(&credentials, &settings)?;
        check_common_settings(&settings)?;
        adapter
            .validate_account(&credentials, &settings)
            .map_err(ServiceError::Invalid)?;
        self.project(project_id).await?;
        let id = Uuid::now_v7();
        let at = now();
        let account = AccountRecord {
            id,
            project_id,
            provider: provider.to_string(),
            name,
            credentials_sealed: self
                .cipher
                .seal_json(&credentials, &account_context_label(id)),
            settings,
            created_at: at,
            updated_at: at,
        };
        self.store.insert_account(&account).await?;
        Ok(account)
    }

    pub async fn account(&self, id: Uuid) -> Result<AccountRecord, ServiceError> {
        self.store
            .get_account(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no linked account with id {id}")))
    }

    pub async fn update_account(
        &self,
        id: Uuid,
        patch: AccountPatch,
    ) -> Result<AccountRecord, ServiceError> {
        let mut account = self.account(id).await?;
        let adapter = self.provider_for(&account.provider)?;
        if let Some(name) = &patch.name {
            account.name = checked_name("name", name)?;
        }
        if let Some(changes) = patch.settings {
            let mut settings = account.settings.as_object().cloned().unwrap_or_default();
            for (key, value) in changes {
                if value.is_null() {
                    settings.remove(&key);
                } else {
                    settings.insert(key, value);
                }
            }
            account.settings = Value::Object(settings);
        }
        let replaced = patch.credentials.is_some();
        let credentials = match patch.credentials {
            Some(credentials) => credentials,
            None => self
                .cipher
                .open_json(&account.credentials_sealed, &account_context_label(id))?,
        };
        check_account_sizes(&credentials, &account.settings)?;
        check_common_settings(&account.settings)?;
        if let Err(refusal) = adapter.validate_account(&credentials, &account.settings) {
            // Credentials of another vendor's shape are well formed, only not for this account.
            let anothers = replaced
                && self.providers.all().iter().any(|other| {
                    other.kind() != adapter.kind()
                        && other
                            .validate_account(&credentials, &Value::Object(Map::new()))
                            .is_ok()
                });
            return Err(if anothers {
                ServiceError::Conflict(format!(
                    "credentials: they do not suit this account's vendor ({}): {refusal}",
                    account.provider
                ))
            } else {
                ServiceError::Invalid(refusal)
            });
        }
        account.credentials_sealed = self
            .cipher
            .seal_json(&credentials, &account_context_label(id));
        account.updated_at = now();
        let updated = self.store.update_account(&account).await?;
        self.tenancy_cache.forget_account(id);
        if !updated {
            return Err(ServiceError::not_found(format!(
                "no linked account with id {id}"
            )));
        }
        Ok(account)
    }

    pub async fn delete_account(&self, id: Uuid) -> Result<(), ServiceError> {
        let deleted = self.store.delete_account(id, now()).await?;
        self.tenancy_cache.forget_account(id);
        if deleted {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!(
                "no linked account with id {id}"
            )))
        }
    }

    /// The adapter and opened credentials of a stored account.
    pub fn account_context(
        &self,
        account: &AccountRecord,
    ) -> Result<(Arc<dyn Provider>, AccountContext), ServiceError> {
        let provider = self.provider_for(&account.provider)?;
        let credentials = self.cipher.open_json(
            &account.credentials_sealed,
            &account_context_label(account.id),
        )?;
        let context = AccountContext {
            id: account.id.to_string(),
            credentials: Secret::new(credentials),
            settings: account.settings.clone(),
        };
        Ok((provider, context))
    }

    /// The caller for `x-account-id`: an account of another project is not found.
    pub async fn caller(&self, project_id: Uuid, account_id: &str) -> Result<Caller, ServiceError> {
        let missing =
            || ServiceError::not_found(format!("no linked account with id '{account_id}'"));
        let id = Uuid::parse_str(account_id.trim()).map_err(|_| missing())?;
        match self.opened_account(id).await? {
            Some(caller) if caller.project_id == project_id => Ok(caller),
            _ => Err(missing()),
        }
    }

    /// A linked account with its adapter and opened credentials (from the tenancy cache when it
    /// was opened within its TTL); `None` when it does not exist or was deleted.
    pub async fn opened_account(&self, id: Uuid) -> Result<Option<Caller>, ServiceError> {
        if let Some(caller) = self.tenancy_cache.caller(id) {
            return Ok(Some(caller));
        }
        let generation = self.tenancy_cache.account_generation();
        let Some(account) = self.store.get_account(id).await? else {
            return Ok(None);
        };
        let (provider, context) = self.account_context(&account)?;
        let caller = Caller {
            project_id: account.project_id,
            account,
            context,
            provider,
        };
        self.tenancy_cache
            .remember_caller(caller.clone(), generation);
        Ok(Some(caller))
    }
}
