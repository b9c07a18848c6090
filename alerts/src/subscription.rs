//! A webhook subscription: where to send which alerts, signed with which secret; and a
//! subscription as asked for (configuration or admin API), checked into one.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::level::Level;
use crate::outbound_url::{OutboundPolicy, UrlRefused};
use crate::signature::{SecretError, WebhookSecret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_…`, or the configuration's key for subscriptions from the configuration file.
    pub id: String,
    pub url: Url,
    /// The rule ids it wants; empty: every rule.
    pub rules: Vec<String>,
    /// The areas it wants; empty: every area.
    pub areas: Vec<String>,
    /// Events of alerts below this level are not sent, unless the subscription already
    /// received an event of the same alert (so it hears about its de-escalation and clear).
    pub min_level: Level,
    pub secret: WebhookSecret,
    /// Why deliveries stopped (the endpoint answered 410 Gone, say); `None`: active.
    pub disabled: Option<String>,
}

impl Subscription {
    /// Whether an event of `rule` about `area` at `level` is for this subscription, before the
    /// "already received this alert" exception.
    pub fn wants(&self, rule: &str, area: &str, level: Level) -> bool {
        (self.rules.is_empty() || self.rules.iter().any(|r| r == rule))
            && (self.areas.is_empty() || self.areas.iter().any(|a| a == area))
            && level >= self.min_level
    }

    /// What the admin API shows: everything but the secret.
    pub fn view(&self) -> SubscriptionView {
        SubscriptionView {
            id: self.id.clone(),
            url: self.url.to_string(),
            rules: self.rules.clone(),
            areas: self.areas.clone(),
            min_level: self.min_level,
            disabled: self.disabled.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub rules: Vec<String>,
    pub areas: Vec<String>,
    pub min_level: Level,
    pub disabled: Option<String>,
}

/// A subscription as asked for: `[alerts.subscriptions.<id>]` in the configuration, or the
/// body of `POST /api/admin/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub url: String,
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub areas: Vec<String>,
    #[serde(default = "yellow")]
    pub min_level: Level,
    /// `whsec_…` (Standard Webhooks); never logged. Required in the configuration; generated
    /// (and answered once) by the admin API when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn yellow() -> Level {
    Level::Yellow
}

/// Why a requested subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionRefused {
    #[error(transparent)]
    Url(#[from] UrlRefused),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("required: a whsec_… secret the receiver verifies deliveries with")]
    NoSecret,
    #[error("no rule {0:?}")]
    UnknownRule(String),
}

impl SubscriptionRefused {
    /// The request's field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Url(_) => "url",
            Self::Secret(_) | Self::NoSecret => "secret",
            Self::UnknownRule(_) => "rules",
        }
    }
}

impl SubscriptionRequest {
    /// Check it and make subscription `id` of it: the URL against `policy` (SSRF), the rules
    /// among `rule_ids`, the secret given (or a new one when `generate_secret`).
    pub fn check(&self, id: String, policy: &OutboundPolicy, rule_ids: &[&str], generate_secret: bool) -> Result<Subscription, SubscriptionRefused> {
        let url = policy.check_url(&self.url)?;
        if let Some(rule) = self.rules.iter().find(|r| !rule_ids.contains(&r.as_str())) {
            return Err(SubscriptionRefused::UnknownRule(rule.clone()));
        }
        let secret = match &self.secret {
            Some(text) => WebhookSecret::parse(text)?,
            None if generate_secret => WebhookSecret::generate(),
            None => return Err(SubscriptionRefused::NoSecret),
        };
        Ok(Subscription { id, url, rules: self.rules.clone(), areas: self.areas.clone(), min_level: self.min_level, secret, disabled: None })
    }
}
