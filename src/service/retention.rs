//! A project's own settings (name, retention) and the retention sweep: orders closed longer ago
//! than the project keeps them lose their personal data, as on an erasure request.

use std::time::Duration;

use uuid::Uuid;

use super::{tenancy::checked_name, Gateway, ServiceError};
use crate::{
    domain::{earlier, now},
    store::ProjectRecord,
};

/// The longest retention a project may set: ten years.
pub const MAX_RETENTION_DAYS: i32 = 3650;

/// Orders one sweep erases per project, so that one project's backlog cannot hold up the others;
/// the next sweep takes the rest.
const SWEEP_BATCH: i64 = 200;

/// A change to a project; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    /// `Some(None)` keeps orders for ever.
    pub retention_days: Option<Option<i32>>,
}

impl Gateway {
    pub async fn update_project(
        &self,
        id: Uuid,
        patch: ProjectPatch,
    ) -> Result<ProjectRecord, ServiceError> {
        let mut project = self.project(id).await?;
        if let Some(name) = &patch.name {
            project.name = checked_name("name", name)?;
        }
        if let Some(days) = patch.retention_days {
            if days.is_some_and(|d| !(1..=MAX_RETENTION_DAYS).contains(&d)) {
                return Err(ServiceError::invalid(format!(
                    "retention_days: expected 1 to {MAX_RETENTION_DAYS}, or null for no limit"
                )));
            }
            project.retention_days = days;
        }
        if !self.store.update_project(&project).await? {
            return Err(ServiceError::not_found(format!("no project with id {id}")));
        }
        Ok(project)
    }

    /// One retention sweep: erases, in every project with a retention, the orders closed longer
    /// ago than it (at most `SWEEP_BATCH` per project). Returns how many were erased.
    pub async fn erase_expired_orders(&self) -> Result<usize, ServiceError> {
        let mut erased = 0;
        for project in self.store.list_projects().await? {
            let Some(days) = project.retention_days else {
                continue;
            };
            let kept = Duration::from_secs(u64::try_from(days).unwrap_or(0) * 24 * 3600);
            let cutoff = earlier(now(), kept);
            let expired = self
                .store
                .list_expired_orders(project.id, cutoff, SWEEP_BATCH)
                .await?;
            for order in expired {
                self.erase_order(order, false).await?;
                erased += 1;
            }
        }
        Ok(erased)
    }
}
