//! The alert as delivered: a documented JSON event (`docs/alert-event.schema.json`) in the
//! Standard Webhooks shape `{type, timestamp, data}`, with a short summary in French and in
//! English. Every payload says what the level was computed from (the rule's evidence: values,
//! thresholds, window, stations, completeness, QC level) and that it is ilot's observation,
//! never the official Météo-France vigilance.

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use crate::level::Level;
use crate::lifecycle::{AlertEvent, Change, ClearReason, UpdateReason};
use crate::rule::{Category, Rule, RuleKind};

/// What every heat alert says about where it comes from.
pub const DISCLAIMER_FR: &str = "Observation du réseau de capteurs de la ville, calculée par ilot : ce n'est pas la vigilance officielle de Météo-France.";
pub const DISCLAIMER_EN: &str = "Observed by the city's sensor network and computed by ilot: this is not the official Météo-France heat vigilance.";

/// `heat.alert.raised`, `sensor.health.cleared` …
pub fn event_type(rule: &Rule, change: &Change) -> String {
    let family = match rule.category() {
        Category::Heat => "heat.alert",
        Category::SensorHealth => "sensor.health",
    };
    let verb = match change {
        Change::Raised => "raised",
        Change::Updated { .. } => "updated",
        Change::Cleared { .. } => "cleared",
    };
    format!("{family}.{verb}")
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Keys of the evidence that describe the area rather than the indicators.
const AREA_KEYS: [&str; 4] = ["network", "insee", "departement", "sensors"];

/// The JSON body delivered for `event` of `rule` about `area`.
pub fn payload(rule: &Rule, area: &str, event: &AlertEvent) -> Value {
    let observation = &event.observation;
    let mut indicators = match &observation.evidence {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut area_json = Map::new();
    area_json.insert("id".into(), area.into());
    for key in AREA_KEYS {
        if let Some(v) = indicators.remove(key) {
            area_json.insert(key.into(), v);
        }
    }
    if let Some(value) = observation.value {
        indicators.insert("value".into(), json!(value));
    }
    let (status, reasons, clear_reason) = match &event.change {
        Change::Raised => ("raised", Vec::new(), None),
        Change::Updated { reasons } => ("updated", reasons.clone(), None),
        Change::Cleared { reason } => ("cleared", Vec::new(), Some(*reason)),
    };
    let correction = reasons.iter().any(|r| matches!(r, UpdateReason::LateData { .. })) || clear_reason == Some(ClearReason::Retracted);
    let (fr, en) = summary(rule, area, event, &area_json, &indicators);
    json!({
        "type": event_type(rule, &event.change),
        "timestamp": time(event.issued),
        "data": {
            "alert_id": event.alert_id,
            "event_id": crate::alert_store::event_id(&event.alert_id, event.seq),
            "sequence": event.seq,
            "status": status,
            "reasons": reasons,
            "clear_reason": clear_reason,
            "correction": correction,
            "category": rule.category(),
            "rule": { "id": rule.common.id, "kind": rule.kind_name(), "title": rule.common.title },
            "level": event.level,
            "previous_level": event.previous_level,
            "local_level": event.level,
            "official_level": Value::Null,
            "area": area_json,
            "period": observation.period,
            "onset": time(event.onset),
            "issued": time(event.issued),
            "expires": time(event.expires),
            "trend": event.trend,
            "indicators": indicators,
            "summary": { "fr": fr, "en": en },
            "source": { "fr": DISCLAIMER_FR, "en": DISCLAIMER_EN },
        }
    })
}

fn number(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key).and_then(Value::as_f64) {
        Some(v) => format!("{v:.1}"),
        None => "?".into(),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

fn count(map: &Map<String, Value>, key: &str) -> usize {
    map.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

fn level_fr(level: Level) -> &'static str {
    match level {
        Level::Green => "vert",
        Level::Yellow => "jaune",
        Level::Orange => "orange",
        Level::Red => "rouge",
    }
}

/// One or two sentences, French then English.
fn summary(rule: &Rule, area: &str, event: &AlertEvent, area_json: &Map<String, Value>, indicators: &Map<String, Value>) -> (String, String) {
    let (lf, le) = (level_fr(event.level), event.level.as_str());
    let sensors = count(area_json, "sensors");
    let (fr, en) = match &rule.kind {
        RuleKind::ObservedCanicule { .. } => {
            let (ibmn, sn, ibmx, sx) = (number(indicators, "ibmn_max_c"), number(indicators, "tn_threshold_c"), number(indicators, "ibmx_max_c"), number(indicators, "tx_threshold_c"));
            let (from, to) = (text(indicators, "window_start"), text(indicators, "window_end"));
            (
                format!("Canicule observée, niveau {lf}, zone {area} : IBMn {ibmn} °C (seuil {sn}), IBMx {ibmx} °C (seuil {sx}), du {from} au {to}, {sensors} capteur(s) au critère."),
                format!("Observed heat wave, level {le}, area {area}: IBMn {ibmn} °C (threshold {sn}), IBMx {ibmx} °C (threshold {sx}), {from} to {to}, {sensors} sensor(s) meeting the criterion."),
            )
        }
        RuleKind::InstantaneousHeat { duration_min, .. } => (
            format!("Forte chaleur, niveau {lf}, zone {area} : {} °C ou plus depuis {duration_min} min à {sensors} capteur(s).", number(indicators, "value")),
            format!("High heat, level {le}, area {area}: {} °C or more for {duration_min} min at {sensors} sensor(s).", number(indicators, "value")),
        ),
        RuleKind::StrongUhiNight { .. } => {
            let (night, uhi, threshold) = (event.observation.period.as_deref().unwrap_or("?"), number(indicators, "value"), number(indicators, "threshold_c"));
            (
                format!("Îlot de chaleur nocturne fort, niveau {lf}, zone {area}, nuit du {night} : UHImax {uhi} °C (seuil {threshold}) à {sensors} capteur(s)."),
                format!("Strong night-time heat island, level {le}, area {area}, night of {night}: UHImax {uhi} °C (threshold {threshold}) at {sensors} sensor(s)."),
            )
        }
        RuleKind::SensorHealth { .. } => {
            let (silent, stuck, battery) = (text(indicators, "silent_sensors"), text(indicators, "stuck_sensors"), text(indicators, "low_battery_sensors"));
            (
                format!("{sensors} capteur(s) à vérifier sur le réseau {area} — silencieux : {silent} ; valeur bloquée : {stuck} ; batterie faible : {battery}."),
                format!("{sensors} sensor(s) to check on network {area} — silent: {silent}; stuck: {stuck}; low battery: {battery}."),
            )
        }
        RuleKind::Custom { .. } => (
            format!("Règle {}, niveau {lf}, zone {area} : valeur {}.", rule.common.id, number(indicators, "value")),
            format!("Rule {}, level {le}, area {area}: value {}.", rule.common.id, number(indicators, "value")),
        ),
    };
    match &event.change {
        Change::Cleared { reason } => {
            let (why_fr, why_en) = match reason {
                ClearReason::BelowThreshold => ("les indicateurs sont repassés sous les seuils", "the indicators are back below the thresholds"),
                ClearReason::NoData => ("plus de données de la zone", "no more data from the area"),
                ClearReason::Retracted => ("des données tardives montrent que le critère n'était pas atteint", "late data show the criterion was not met"),
            };
            let before = event.previous_level;
            (format!("Fin de l'alerte ({} → vert) : {why_fr}. {fr}", level_fr(before)), format!("Alert ended ({before} → green): {why_en}. {en}"))
        }
        _ if rule.category() == Category::Heat => (format!("{fr} {DISCLAIMER_FR}"), format!("{en} {DISCLAIMER_EN}")),
        _ => (fr, en),
    }
}

#[cfg(test)]
pub(crate) mod tests;
