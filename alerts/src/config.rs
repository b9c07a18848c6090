//! `[alerts]`: whether this process evaluates alerts, where their state lives, the rules, the
//! webhook subscriptions given in the configuration, delivery and evaluation settings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::delivery::DeliveryConfig;
use crate::evaluator::EvaluationConfig;
use crate::rule::{Rule, RuleError};
use crate::subscription::{Subscription, SubscriptionRefused, SubscriptionRequest};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate the rules and deliver the alerts in this process. Exactly one process of a
    /// deployment does (its alert store is held while it runs).
    pub enabled: bool,
    /// The alert store (SQLite). Default: `_ilot/alerts.sqlite` in a local data directory;
    /// required with an object store (`storage.url`).
    pub state_file: Option<PathBuf>,
    pub rules: Vec<Rule>,
    /// Webhook subscriptions from the configuration, by id (added or replaced at each start).
    pub subscriptions: BTreeMap<String, SubscriptionRequest>,
    pub delivery: DeliveryConfig,
    pub evaluation: EvaluationConfig,
    /// The CAP `<sender>`: an address that names the city's service (no spaces or commas).
    pub cap_sender: String,
    /// `/healthz` is degraded while an undelivered event is older than this (seconds).
    pub max_outbox_age_s: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            state_file: None,
            rules: Vec::new(),
            subscriptions: BTreeMap::new(),
            delivery: DeliveryConfig::default(),
            evaluation: EvaluationConfig::default(),
            cap_sender: "ilot@localhost".into(),
            max_outbox_age_s: 3600,
        }
    }
}

/// A setting of `[alerts]` that cannot work, named by its key.
#[derive(Debug)]
pub enum AlertsConfigError {
    Rule(RuleError),
    DuplicateRule(String),
    Subscription { id: String, refused: SubscriptionRefused },
    CapSender(String),
}

impl std::fmt::Display for AlertsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key(), self.reason())
    }
}

impl std::error::Error for AlertsConfigError {}

impl From<RuleError> for AlertsConfigError {
    fn from(e: RuleError) -> Self {
        Self::Rule(e)
    }
}

impl AlertsConfigError {
    /// The key as written in `ilot.toml`.
    pub fn key(&self) -> String {
        match self {
            Self::Rule(_) | Self::DuplicateRule(_) => "alerts.rules".into(),
            Self::Subscription { id, refused } => format!("alerts.subscriptions.{id}.{}", refused.field()),
            Self::CapSender(_) => "alerts.cap_sender".into(),
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Self::Rule(e) => e.to_string(),
            Self::DuplicateRule(id) => format!("two rules have the id {id:?}"),
            Self::Subscription { refused, .. } => refused.to_string(),
            Self::CapSender(sender) => format!("{sender:?} must be non-empty, without spaces, commas, '<' or '&'"),
        }
    }
}

impl AlertsConfig {
    /// Check everything, and return the configured subscriptions ready to store.
    pub fn validate(&self) -> Result<Vec<Subscription>, AlertsConfigError> {
        let mut ids = std::collections::BTreeSet::new();
        for rule in &self.rules {
            rule.validate()?;
            if !ids.insert(rule.common.id.as_str()) {
                return Err(AlertsConfigError::DuplicateRule(rule.common.id.clone()));
            }
        }
        if self.cap_sender.is_empty() || self.cap_sender.contains([' ', ',', '<', '&']) {
            return Err(AlertsConfigError::CapSender(self.cap_sender.clone()));
        }
        let (policy, rule_ids): (_, Vec<&str>) = (self.delivery.policy(), ids.into_iter().collect());
        self.subscriptions
            .iter()
            .map(|(id, request)| request.check(id.clone(), &policy, &rule_ids, false).map_err(|refused| AlertsConfigError::Subscription { id: id.clone(), refused }))
            .collect()
    }
}
