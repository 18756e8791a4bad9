//! Background work of the gateway process: polling vendors for results, delivering them, and
//! erasing orders past their project's retention.

pub mod delivery;
mod in_flight;
pub mod polling;
mod retention;
mod shares;

use tokio::{sync::watch, task::JoinHandle};

use crate::service::Gateway;

/// Running workers; stop them with `shutdown`.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts polling, delivery and the retention sweep; deliveries go out through `delivery_client`
    /// (`delivery::client`).
    pub fn start(gateway: Gateway, delivery_client: reqwest::Client) -> Self {
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(polling::run(gateway.clone(), stopped.clone())),
            tokio::spawn(retention::run(gateway.clone(), stopped.clone())),
            tokio::spawn(delivery::run(gateway, delivery_client, stopped)),
        ];
        Self { stop, tasks }
    }

    /// Asks every worker to stop claiming work and waits for the work in hand to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
