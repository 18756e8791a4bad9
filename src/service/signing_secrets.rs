//! Rotation of a project's signing secret: the new secret signs every delivery at
//! once, and the one it replaces signs them too until the overlap ends, so receivers can change
//! their secret without rejecting a delivery.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{tenancy::project_context_label, Gateway, ServiceError};
use crate::{
    config::parse_duration,
    crypto::new_signing_secret,
    domain::{later, now},
    secret::Secret,
    store::ProjectRecord,
};

const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);
const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// A secret just made (shown once) and until when the replaced one still signs.
pub struct RotatedSecret {
    pub signing_secret: Secret<String>,
    pub previous_valid_until: DateTime<Utc>,
}

fn checked_overlap(overlap: Option<&str>) -> Result<Duration, ServiceError> {
    let Some(text) = overlap else {
        return Ok(DEFAULT_OVERLAP);
    };
    let text = crate::domain::patterns::overlap(text).ok_or_else(|| {
        ServiceError::invalid("overlap: expected a duration of one unit from 0s to 7d, e.g. 24h")
    })?;
    let overlap =
        parse_duration(text).map_err(|e| ServiceError::invalid(format!("overlap: {e}")))?;
    if overlap > MAX_OVERLAP {
        return Err(ServiceError::invalid("overlap: at most 7d"));
    }
    Ok(overlap)
}

impl Gateway {
    pub async fn rotate_signing_secret(
        &self,
        project_id: Uuid,
        overlap: Option<&str>,
    ) -> Result<RotatedSecret, ServiceError> {
        let overlap = checked_overlap(overlap)?;
        let secret = new_signing_secret();
        let sealed = self
            .cipher
            .seal(secret.as_bytes(), &project_context_label(project_id));
        let previous_valid_until = later(now(), overlap);
        self.store
            .rotate_signing_secret(project_id, &sealed, previous_valid_until)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("project {project_id} not found")))?;
        Ok(RotatedSecret {
            signing_secret: Secret::new(secret),
            previous_valid_until,
        })
    }

    /// The secrets a delivery made at `at` is signed with: the current one, then the replaced one
    /// while its overlap lasts.
    pub fn signing_secrets(
        &self,
        project: &ProjectRecord,
        at: DateTime<Utc>,
    ) -> Result<Vec<Secret<String>>, ServiceError> {
        let mut secrets = vec![self.signing_secret(project)?];
        if let (Some(sealed), Some(until)) = (
            &project.previous_signing_secret_sealed,
            project.previous_signing_valid_until,
        ) {
            if at < until {
                let previous = self
                    .cipher
                    .open_string(sealed, &project_context_label(project.id))?;
                secrets.push(Secret::new(previous));
            }
        }
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_defaults_to_a_day_and_is_bounded_by_a_week() {
        assert_eq!(checked_overlap(None).unwrap(), DEFAULT_OVERLAP);
        assert_eq!(checked_overlap(Some("0s")).unwrap(), Duration::ZERO);
        assert_eq!(checked_overlap(Some("7d")).unwrap(), MAX_OVERLAP);
        assert!(checked_overlap(Some("8d")).is_err());
        assert!(checked_overlap(Some("soon")).is_err());
    }
}
