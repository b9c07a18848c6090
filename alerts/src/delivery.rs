//! Webhook delivery: the outbox drained to each subscription's endpoint, one event at a time
//! per endpoint (in order), every attempt signed again (`signature`), retried on the schedule
//! (`retry`) with the endpoint's `Retry-After` honoured, given up after the last retry (a dead
//! letter an admin may replay), and the subscription disabled when its endpoint answers
//! 410 Gone. Only 2xx is success; redirects are failures and never followed. Every connection
//! goes to addresses the [`OutboundPolicy`] allows, checked after resolution; environment
//! proxies are not used (they would resolve the name themselves).
//!
//! Delivery is at least once, with the same `webhook-id` at every attempt: a crash after the
//! endpoint accepted an event but before the store recorded it sends it again, and receivers
//! drop it by its id, as Standard Webhooks asks them to.

use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::alert_store::{AlertStore, AlertStoreError, Delivery};
use crate::outbound_url::OutboundPolicy;
use crate::retry::{RetrySchedule, parse_retry_after};
use crate::subscription::Subscription;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Seconds to wait for an endpoint's answer (GitHub's 10 s).
    pub timeout_s: u64,
    /// Seconds before each retry; its length is the number of retries before a dead letter.
    pub retry_schedule_s: RetrySchedule,
    /// Accept `http://` endpoints (see [`OutboundPolicy`]).
    pub allow_http: bool,
    /// Non-public networks webhooks may go to (see [`OutboundPolicy`]).
    pub allowed_networks: Vec<ipnet::IpNet>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self { timeout_s: 10, retry_schedule_s: RetrySchedule::default(), allow_http: false, allowed_networks: Vec::new() }
    }
}

impl DeliveryConfig {
    pub fn policy(&self) -> OutboundPolicy {
        OutboundPolicy { allow_http: self.allow_http, allowed_networks: self.allowed_networks.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Store(#[from] AlertStoreError),
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 410 Gone: the receiver asks never to be sent anything again.
    Gone,
    /// Anything else: try again later (`retry_after_s` from the endpoint, if it said).
    Failed { error: String, retry_after_s: Option<u64> },
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Gone => "gone",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// The resolver of the webhook client: names resolve only to allowed addresses.
struct CheckedResolver(OutboundPolicy);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends the outbox's events to their subscriptions' endpoints.
pub struct Deliverer {
    store: Arc<AlertStore>,
    config: DeliveryConfig,
    client: reqwest::Client,
    /// Changes when deliveries are queued or subscriptions change.
    wake: watch::Receiver<()>,
}

impl Deliverer {
    pub fn new(store: Arc<AlertStore>, config: DeliveryConfig, wake: watch::Receiver<()>) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(config.timeout_s))
            .user_agent(concat!("ilot-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver(config.policy())))
            .build()?;
        Ok(Self { store, config, client, wake })
    }

    /// One attempt of `delivery` to `subscription`, signed for this moment.
    pub async fn attempt(&self, subscription: &Subscription, delivery: &Delivery, now: DateTime<Utc>) -> Outcome {
        let timestamp = now.timestamp();
        let signature = subscription.secret.sign(&delivery.event_id, timestamp, delivery.body.as_bytes());
        let sent = self
            .client
            .post(subscription.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) if response.status() == reqwest::StatusCode::GONE => Outcome::Gone,
            Ok(response) => {
                let retry_after_s = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, now));
                let status = response.status();
                let error = if status.is_redirection() { format!("HTTP {status}: redirects are not followed") } else { format!("HTTP {status}") };
                Outcome::Failed { error, retry_after_s }
            }
            Err(e) => Outcome::Failed { error: describe(&e), retry_after_s: None },
        };
        metrics::counter!("ilot_webhook_attempts_total", "outcome" => outcome.label()).increment(1);
        outcome
    }

    /// Run blocking store work (SQLite, fsync on commit) off the async threads.
    async fn in_store<T: Send + 'static>(&self, work: impl FnOnce(&AlertStore) -> Result<T, AlertStoreError> + Send + 'static) -> Result<T, AlertStoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store)).await.expect("alert store work does not panic")
    }

    /// Record an attempt's outcome; false when the subscription is now disabled.
    async fn record(&self, subscription: &Subscription, delivery: &Delivery, outcome: Outcome, now: DateTime<Utc>) -> Result<bool, AlertStoreError> {
        let outbox_id = delivery.outbox_id;
        match outcome {
            Outcome::Delivered => {
                self.in_store(move |store| store.delivered(outbox_id, now)).await?;
                Ok(true)
            }
            Outcome::Gone => {
                // Only the origin: a URL may carry a token in its path or query.
                tracing::warn!(subscription = %subscription.id, endpoint = %subscription.url.origin().ascii_serialization(), "the endpoint answered 410 Gone: subscription disabled");
                let id = subscription.id.clone();
                self.in_store(move |store| store.disable_subscription(&id, "the endpoint answered HTTP 410 Gone")).await?;
                Ok(false)
            }
            Outcome::Failed { error, retry_after_s } => {
                let attempts = delivery.attempts + 1;
                let retry_at = self.config.retry_schedule_s.next(attempts, now, retry_after_s, rand::random_range(-1.0..=1.0));
                match retry_at {
                    Some(at) => tracing::info!(subscription = %subscription.id, event = %delivery.event_id, attempts, %error, retry_at = %at, "webhook delivery failed; will retry"),
                    None => tracing::warn!(subscription = %subscription.id, event = %delivery.event_id, attempts, %error, "webhook delivery failed for the last time: dead letter"),
                }
                self.in_store(move |store| store.failed(outbox_id, &error, retry_at, now)).await?;
                Ok(true)
            }
        }
    }

    /// Deliver until `shutdown`: one worker per active subscription, restarted when the
    /// subscription changes, stopped when it goes or is disabled.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut workers: BTreeMap<String, (Subscription, tokio::task::JoinHandle<()>)> = BTreeMap::new();
        let mut wake = self.wake.clone();
        loop {
            match self.in_store(|store| store.outbox_depth()).await {
                Ok(depth) => {
                    metrics::gauge!("ilot_alert_outbox_pending").set(depth.pending as f64);
                    let age_s = depth.oldest_created_ms.map_or(0.0, |t| (Utc::now().timestamp_millis() - t) as f64 / 1000.0);
                    metrics::gauge!("ilot_alert_outbox_oldest_age_seconds").set(age_s);
                }
                Err(e) => tracing::error!(error = %e, "reading the outbox depth"),
            }
            match self.in_store(|store| store.subscriptions()).await {
                Ok(subscriptions) => {
                    let active: Vec<Subscription> = subscriptions.into_iter().filter(|s| s.disabled.is_none()).collect();
                    workers.retain(|id, (running, worker)| {
                        let keep = !worker.is_finished() && active.iter().any(|s| &s.id == id && s == running);
                        if !keep {
                            worker.abort();
                        }
                        keep
                    });
                    for subscription in active {
                        if !workers.contains_key(&subscription.id) {
                            let worker = tokio::spawn(self.clone().endpoint_worker(subscription.clone(), shutdown.clone()));
                            workers.insert(subscription.id.clone(), (subscription, worker));
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the webhook subscriptions"),
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = woken(&mut wake) => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        for (_, (_, worker)) in workers {
            worker.abort();
        }
    }

    /// Deliver one subscription's events in order, until it is disabled.
    async fn endpoint_worker(self: Arc<Self>, subscription: Subscription, mut shutdown: watch::Receiver<bool>) {
        let mut wake = self.wake.clone();
        loop {
            let id = subscription.id.clone();
            let next = self.in_store(move |store| store.next_delivery(&id)).await.unwrap_or_else(|e| {
                tracing::error!(subscription = %subscription.id, error = %e, "reading the outbox");
                None
            });
            let now = Utc::now();
            let wait_ms = next.as_ref().map_or(1000, |d| (d.next_attempt_ms - now.timestamp_millis()).clamp(0, 1000));
            if let Some(delivery) = next.as_ref().filter(|_| wait_ms == 0) {
                let outcome = self.attempt(&subscription, delivery, now).await;
                match self.record(&subscription, delivery, outcome, Utc::now()).await {
                    Ok(true) => continue,
                    Ok(false) => return,
                    Err(e) => tracing::error!(subscription = %subscription.id, error = %e, "recording a delivery attempt"),
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = woken(&mut wake) => {}
                _ = tokio::time::sleep(Duration::from_millis(wait_ms.max(100) as u64)) => {}
            }
        }
    }
}

/// Resolves when `wake` changes; never when its sender is gone (the timers take over).
pub(crate) async fn woken<T>(wake: &mut watch::Receiver<T>) {
    if wake.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A transport error with its causes (reqwest's own message says little: "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
