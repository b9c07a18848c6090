//! The alerting of one process as its interfaces use it: [`Alerting::open`] holds the alert
//! store, saves the configured subscriptions and runs the evaluator and the deliverer; the HTTP
//! API and the SQL tables read alerts, events and CAP documents, and manage subscriptions and
//! dead letters, through it.

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alert_store::{AlertStore, AlertStoreError, OutboxDepth};
use crate::cap::{Reference, render};
use crate::config::{AlertsConfig, AlertsConfigError};
use crate::delivery::{Deliverer, DeliveryError};
use crate::evaluator::{Evaluator, RuleQueries};
use crate::outbound_url::OutboundPolicy;
use crate::rule::Rule;
use crate::subscription::{Subscription, SubscriptionRefused, SubscriptionRequest};

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Config(#[from] AlertsConfigError),
    #[error(transparent)]
    Store(#[from] AlertStoreError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Why the admin API could not add a subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("{field}: {refused}", field = .0.field(), refused = .0)]
    Refused(#[from] SubscriptionRefused),
    #[error(transparent)]
    Store(#[from] AlertStoreError),
}

pub struct Alerting {
    pub store: Arc<AlertStore>,
    pub rules: Vec<Rule>,
    policy: OutboundPolicy,
    cap_sender: String,
    max_outbox_age_s: u64,
    deliveries: watch::Sender<()>,
}

impl Alerting {
    /// Check `config`, hold the store at `state_file`, save the configured subscriptions.
    pub fn open(config: &AlertsConfig, state_file: &Path) -> Result<Arc<Self>, AlertingError> {
        let subscriptions = config.validate()?;
        let store = Arc::new(AlertStore::open(state_file)?);
        for subscription in &subscriptions {
            store.put_subscription(subscription)?;
        }
        Ok(Arc::new(Self {
            store,
            rules: config.rules.clone(),
            policy: config.delivery.policy(),
            cap_sender: config.cap_sender.clone(),
            max_outbox_age_s: config.max_outbox_age_s,
            deliveries: watch::channel(()).0,
        }))
    }

    /// Evaluate the rules over `queries` as data `changes`, and deliver, until `shutdown`.
    pub fn spawn<Q: RuleQueries>(
        self: &Arc<Self>,
        config: &AlertsConfig,
        queries: Q,
        changes: watch::Receiver<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>, AlertingError> {
        let deliverer = Arc::new(Deliverer::new(self.store.clone(), config.delivery.clone(), self.deliveries.subscribe())?);
        let evaluator = Arc::new(Evaluator::new(self.rules.clone(), self.store.clone(), queries, config.evaluation.clone(), self.deliveries.clone()));
        Ok(vec![tokio::spawn(deliverer.run(shutdown.clone())), tokio::spawn(evaluator.run(changes, shutdown))])
    }

    fn wake_deliveries(&self) {
        self.deliveries.send_replace(());
    }

    /// Add a subscription (admin API): its URL checked against SSRF, its rules known, its
    /// secret given or generated (the caller shows it once: `secret.expose()`).
    pub fn add_subscription(&self, request: &SubscriptionRequest) -> Result<Subscription, SubscriptionError> {
        let rule_ids: Vec<&str> = self.rules.iter().map(|r| r.common.id.as_str()).collect();
        let subscription = request.check(format!("sub_{:016x}", rand::random::<u64>()), &self.policy, &rule_ids, true)?;
        self.store.put_subscription(&subscription)?;
        self.wake_deliveries();
        Ok(subscription)
    }

    pub fn delete_subscription(&self, id: &str) -> Result<bool, AlertStoreError> {
        let removed = self.store.delete_subscription(id)?;
        self.wake_deliveries();
        Ok(removed)
    }

    pub fn enable_subscription(&self, id: &str) -> Result<bool, AlertStoreError> {
        let enabled = self.store.enable_subscription(id)?;
        self.wake_deliveries();
        Ok(enabled)
    }

    pub fn replay(&self, outbox_id: i64) -> Result<bool, AlertStoreError> {
        let replayed = self.store.replay(outbox_id, Utc::now())?;
        self.wake_deliveries();
        Ok(replayed)
    }

    /// The CAP document of one event (with `references` to its alert's earlier events).
    pub fn cap(&self, event_id: &str) -> Result<Option<String>, AlertStoreError> {
        let Some((alert_id, _)) = event_id.rsplit_once('.') else { return Ok(None) };
        let events = self.store.events(Some(alert_id))?;
        let Some(position) = events.iter().position(|e| e.event_id == event_id) else { return Ok(None) };
        let earlier: Vec<Reference> = events[..position]
            .iter()
            .map(|e| Reference { identifier: e.event_id.clone(), sent: DateTime::from_timestamp_millis(e.issued_ms).unwrap_or_default() })
            .collect();
        let payload: serde_json::Value = serde_json::from_str(&events[position].payload).unwrap_or_default();
        Ok(Some(render(&payload, &earlier, &self.cap_sender)))
    }

    /// The pending deliveries, and whether the oldest is older than `max_outbox_age_s`.
    pub fn outbox(&self) -> Result<(OutboxDepth, bool), AlertStoreError> {
        let depth = self.store.outbox_depth()?;
        let limit_ms = self.max_outbox_age_s as i64 * 1000;
        let late = depth.oldest_created_ms.is_some_and(|t| Utc::now().timestamp_millis() - t > limit_ms);
        Ok((depth, late))
    }
}
