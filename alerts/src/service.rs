//! The alerting of one process as its interfaces use it: [`Alerting::open`] holds the alert
//! store, saves the configured subscriptions and runs the evaluator and the deliverer; the HTTP
//! API and the SQL tables read alerts, events and CAP documents, and manage subscriptions,
//! rules and dead letters, through it. It owns the set of rules in force: the configured ones
//! and those an admin added through the API (kept in the store), which the evaluator follows.

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

/// Why the admin API could not add or remove a rule.
#[derive(Debug, thiserror::Error)]
pub enum RuleChangeError {
    #[error(transparent)]
    Invalid(#[from] crate::rule::RuleError),
    #[error("a rule with the id {0:?} exists already")]
    Exists(String),
    #[error("rule {0:?} is defined in the configuration: change it there")]
    Configured(String),
    #[error("rule {0:?} has alerts in force: it can be removed once they have cleared")]
    InForce(String),
    #[error("no rule {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] AlertStoreError),
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
    /// The configured rules (they cannot be changed through the API).
    configured: Vec<Rule>,
    /// Every rule in force: the configured ones, then those added through the API.
    rules: watch::Sender<Arc<Vec<Rule>>>,
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
        let mut rules = config.rules.clone();
        for rule in store.api_rules()? {
            if rules.iter().any(|r| r.common.id == rule.common.id) {
                tracing::warn!(rule = %rule.common.id, "a rule added through the API has the id of a configured rule: the configured one is used");
            } else {
                rules.push(rule);
            }
        }
        Ok(Arc::new(Self {
            store,
            configured: config.rules.clone(),
            rules: watch::channel(Arc::new(rules)).0,
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
        let evaluator = Arc::new(Evaluator::new(self.rules.subscribe(), self.store.clone(), queries, config.evaluation.clone(), self.deliveries.clone()));
        Ok(vec![tokio::spawn(deliverer.run(shutdown.clone())), tokio::spawn(evaluator.run(changes, shutdown))])
    }

    /// Every rule in force.
    pub fn rules(&self) -> Arc<Vec<Rule>> {
        self.rules.borrow().clone()
    }

    /// Whether `id` is a configured rule (not one added through the API).
    pub fn is_configured(&self, id: &str) -> bool {
        self.configured.iter().any(|r| r.common.id == id)
    }

    /// Add a rule (admin API; its query was tried by the caller): kept in the store, evaluated
    /// from the next round on.
    pub fn add_rule(&self, rule: Rule) -> Result<(), RuleChangeError> {
        rule.validate()?;
        let id = rule.common.id.clone();
        if self.rules().iter().any(|r| r.common.id == id) || !self.store.add_api_rule(&rule)? {
            return Err(RuleChangeError::Exists(id));
        }
        self.rules.send_modify(|rules| Arc::make_mut(rules).push(rule));
        Ok(())
    }

    /// Remove a rule added through the API, once it has no alert in force.
    pub fn remove_rule(&self, id: &str) -> Result<(), RuleChangeError> {
        if self.is_configured(id) {
            return Err(RuleChangeError::Configured(id.to_owned()));
        }
        if !self.rules().iter().any(|r| r.common.id == id) {
            return Err(RuleChangeError::NotFound(id.to_owned()));
        }
        if self.store.alerts(true)?.iter().any(|a| a.rule == id) {
            return Err(RuleChangeError::InForce(id.to_owned()));
        }
        self.store.remove_api_rule(id)?;
        self.rules.send_modify(|rules| Arc::make_mut(rules).retain(|r| r.common.id != id));
        Ok(())
    }

    fn wake_deliveries(&self) {
        self.deliveries.send_replace(());
    }

    /// Add a subscription (admin API): its URL checked against SSRF, its rules known, its
    /// secret given or generated (the caller shows it once: `secret.expose()`).
    pub fn add_subscription(&self, request: &SubscriptionRequest) -> Result<Subscription, SubscriptionError> {
        let rules = self.rules();
        let rule_ids: Vec<&str> = rules.iter().map(|r| r.common.id.as_str()).collect();
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
