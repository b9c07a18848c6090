//! From an MQTT message to WAL entries: find the topic template it matches, resolve network
//! and sensor (SensorThings datastreams through the configured mapping), decode the payload and
//! run the single-reading quality checks, apply the registry's unknown-sensor policy. Never
//! fails: what cannot be read becomes a dead letter.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{IntakeConfig, MqttConfig};
use crate::layout::valid_network;
use crate::payload::{self, DecodeLimits, Origin};
use crate::qc::{self, RangeLimits};
use crate::registry::RegistryHandle;
use crate::topic::{TopicTemplate, TopicTemplateError};
use crate::wal::WalEntry;
use crate::DeadLetterReason;

pub struct Router {
    templates: Vec<TopicTemplate>,
    datastreams: BTreeMap<String, (String, String)>,
    limits: DecodeLimits,
    qc: RangeLimits,
    registry: Arc<RegistryHandle>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("topic template {template:?}: {source}")]
    Template { template: String, source: TopicTemplateError },
    #[error("datastream {id:?} maps to {target:?}; expected \"network/sensor\"")]
    Datastream { id: String, target: String },
}

impl Router {
    pub fn new(mqtt: &MqttConfig, intake: &IntakeConfig, registry: Arc<RegistryHandle>) -> Result<Self, RouterError> {
        let templates = mqtt
            .topics
            .iter()
            .map(|t| TopicTemplate::parse(t).map_err(|source| RouterError::Template { template: t.clone(), source }))
            .collect::<Result<_, _>>()?;
        let datastreams = mqtt
            .datastreams
            .iter()
            .map(|(id, target)| match target.split_once('/') {
                Some((n, s)) if valid_network(n) && !s.is_empty() => Ok((id.clone(), (n.to_owned(), s.to_owned()))),
                _ => Err(RouterError::Datastream { id: id.clone(), target: target.clone() }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { templates, datastreams, limits: intake.decode_limits(), qc: intake.qc.clone(), registry })
    }

    /// The step and persistence thresholds of a network (`[intake.qc.history]` with the
    /// network's own `qc` keys).
    pub fn history_limits(&self, network: &str) -> crate::qc::HistoryLimits {
        self.registry.snapshot().qc_limits(network, &self.qc).history
    }

    /// MQTT subscription filters for the templates.
    pub fn filters(&self) -> Vec<String> {
        self.templates.iter().map(TopicTemplate::subscription_filter).collect()
    }

    /// Decode one message into the entries to log.
    pub fn route(&self, topic: &str, payload: &[u8], received_at_ms: i64) -> Vec<WalEntry> {
        let refuse = |reason, detail: String| {
            vec![WalEntry::DeadLetter(payload::dead_letter(topic, payload, received_at_ms, reason, detail, &self.limits))]
        };
        let Some(m) = self.templates.iter().find_map(|t| t.match_topic(topic)) else {
            return refuse(DeadLetterReason::TopicMismatch, format!("topic {topic:?} matches no configured template"));
        };
        let (network, sensor) = match (&m.datastream, &m.network, &m.sensor) {
            (Some(ds), _, _) => match self.datastreams.get(ds) {
                Some((n, s)) => (n.clone(), Some(s.clone())),
                None => return refuse(DeadLetterReason::UnknownDatastream, format!("datastream {ds:?} is not mapped to a sensor in [mqtt.datastreams]")),
            },
            (None, Some(n), s) => (n.clone(), s.clone()),
            (None, None, _) => return refuse(DeadLetterReason::TopicMismatch, format!("topic {topic:?} does not name a network")),
        };
        if !valid_network(&network) {
            return refuse(DeadLetterReason::InvalidIdentifier, format!("network {network:?}: use 1-64 of [A-Za-z0-9._-]"));
        }
        let registry = self.registry.snapshot();
        let senml_names = registry.network(&network).map(|n| &n.senml_names);
        let origin = Origin { topic, network: &network, sensor: sensor.as_deref(), senml_names, received_at_ms };
        let mut decoded = payload::decode(&origin, payload, &self.limits);
        let mut unknown = Vec::new();
        decoded.readings.retain_mut(|r| match qc::admit(r, &self.qc, &registry) {
            Ok(()) => true,
            Err(detail) => {
                unknown.push(detail);
                false
            }
        });
        let mut entries: Vec<WalEntry> = decoded.dead_letters.into_iter().map(WalEntry::DeadLetter).collect();
        entries.extend(unknown.into_iter().map(|detail| {
            WalEntry::DeadLetter(payload::dead_letter(topic, payload, received_at_ms, DeadLetterReason::UnknownSensor, detail, &self.limits))
        }));
        if !decoded.readings.is_empty() {
            entries.push(WalEntry::Readings(decoded.readings));
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let mut mqtt = MqttConfig::default();
        mqtt.datastreams.insert("42".into(), "toulouse/tls-042".into());
        Router::new(&mqtt, &IntakeConfig::default(), RegistryHandle::in_memory(Default::default())).unwrap()
    }

    fn reasons(entries: &[WalEntry]) -> Vec<&'static str> {
        entries
            .iter()
            .filter_map(|e| match e {
                WalEntry::DeadLetter(d) => Some(d.reason.code()),
                WalEntry::Readings(_) | WalEntry::StuckRun(_) => None,
            })
            .collect()
    }

    #[test]
    fn topics_resolve_to_network_and_sensor_or_are_refused() {
        let r = router();
        assert_eq!(r.filters(), vec!["ilot/+/+/reading", "v1.1/+/Observations"]);
        let now = chrono::Utc::now();
        let ts = (now - chrono::Duration::minutes(5)).to_rfc3339();
        let body = format!(r#"{{"ts":"{ts}","temperature_c":61.0,"humidity_pct":102}}"#);
        let entries = r.route("ilot/toulouse/tls-001/reading", body.as_bytes(), now.timestamp_millis());
        match &entries[..] {
            [WalEntry::Readings(rs)] => {
                assert_eq!((rs[0].network.as_str(), rs[0].sensor_id.as_str()), ("toulouse", "tls-001"));
                assert_eq!(rs[0].qc_flags, qc::RANGE | qc::HUMIDITY_RANGE | qc::UNKNOWN_SENSOR, "suspicious values are kept and flagged");
            }
            other => panic!("{other:?}"),
        }
        let obs = format!(r#"{{"phenomenonTime":"{ts}","result":21.5}}"#);
        match &r.route("v1.1/Datastreams(42)/Observations", obs.as_bytes(), now.timestamp_millis())[..] {
            [WalEntry::Readings(rs)] => assert_eq!(rs[0].sensor_id, "tls-042"),
            other => panic!("{other:?}"),
        }
        let at = now.timestamp_millis();
        assert_eq!(reasons(&r.route("v1.1/Datastreams(7)/Observations", obs.as_bytes(), at)), ["unknown_datastream"]);
        assert_eq!(reasons(&r.route("elsewhere/x", body.as_bytes(), at)), ["topic_mismatch"]);
        assert_eq!(reasons(&r.route("ilot/../tls-001/reading", body.as_bytes(), at)), ["invalid_identifier"]);
    }
}
