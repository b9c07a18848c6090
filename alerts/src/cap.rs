//! OASIS CAP 1.2 renderings of alert events, for public-warning aggregators (MeteoAlarm's
//! conventions): one `<alert>` per event (`Alert` for a raise, `Update` and `Cancel` with
//! `references` to every earlier message of the same alert), an `<info>` in French and one in
//! English, MeteoAlarm's `awareness_level` and `awareness_type` parameters, and the commune's
//! INSEE code as the area's geocode. Times are written `+00:00` with whole seconds (the CAP
//! 1.2 schema refuses `Z` and fractions). ilot is not an alerting authority: every document
//! says so, and its `certainty` is `Observed`.

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use serde_json::Value;

use crate::level::Level;

/// An earlier message of the same alert, for `references`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub identifier: String,
    pub sent: DateTime<Utc>,
}

/// CAP's time format: `2026-07-18T06:05:00+00:00`.
pub fn cap_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

/// The CAP document of one stored event payload (see `payload`), with the earlier messages of
/// its alert. `sender` is the configured CAP sender (`alerts.cap.sender`).
pub fn render(payload: &Value, earlier: &[Reference], sender: &str) -> String {
    let data = &payload["data"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let level: Level = data["level"].as_str().and_then(|l| l.parse().ok()).unwrap_or(Level::Green);
    let previous: Level = data["previous_level"].as_str().and_then(|l| l.parse().ok()).unwrap_or(Level::Green);
    let status = s(&data["status"]);
    let msg_type = match status.as_str() {
        "raised" => "Alert",
        "cleared" => "Cancel",
        _ => "Update",
    };
    let sent = parse_time(&data["issued"]).unwrap_or_default();
    let heat = data["category"] == "heat";
    // The level the document describes: a cancel describes what ends.
    let shown = if msg_type == "Cancel" { previous } else { level };
    let mut xml = String::with_capacity(4096);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n");
    let mut element = |indent: &str, name: &str, value: &str| {
        xml.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape(value)));
    };
    element("  ", "identifier", &s(&data["event_id"]));
    element("  ", "sender", sender);
    element("  ", "sent", &cap_time(sent));
    element("  ", "status", "Actual");
    element("  ", "msgType", msg_type);
    element("  ", "scope", "Public");
    element("  ", "note", "ilot: observations of a municipal sensor network, not an official warning.");
    if msg_type != "Alert" && !earlier.is_empty() {
        let references: Vec<String> = earlier.iter().map(|r| format!("{sender},{},{}", r.identifier, cap_time(r.sent))).collect();
        element("  ", "references", &references.join(" "));
    }
    element("  ", "incidents", &s(&data["alert_id"]));
    for (language, key, event_name) in [
        ("fr-FR", "fr", if heat { "Chaleur (observation ilot)" } else { "État des capteurs (ilot)" }),
        ("en-GB", "en", if heat { "Heat (ilot observation)" } else { "Sensor health (ilot)" }),
    ] {
        xml.push_str("  <info>\n");
        let mut element = |name: &str, value: &str| xml.push_str(&format!("    <{name}>{}</{name}>\n", escape(value)));
        element("language", language);
        element("category", if heat { "Met" } else { "Infra" });
        element("event", event_name);
        element("responseType", if msg_type == "Cancel" { "AllClear" } else { "Monitor" });
        element("urgency", if msg_type == "Cancel" { "Past" } else { "Immediate" });
        element("severity", if msg_type == "Cancel" { "Minor" } else { shown.cap_severity() });
        element("certainty", "Observed");
        for (name, value) in [("onset", &data["onset"]), ("expires", &data["expires"])] {
            if let Some(t) = parse_time(value) {
                element(name, &cap_time(t));
            }
        }
        element("senderName", "ilot");
        let summary = s(&data["summary"][key]);
        let headline: String = summary.chars().take(160).collect();
        element("headline", &headline);
        element("description", &format!("{summary} {}", s(&data["source"][key])));
        let mut parameter = |name: &str, value: &str| {
            xml.push_str(&format!("    <parameter>\n      <valueName>{}</valueName>\n      <value>{}</value>\n    </parameter>\n", escape(name), escape(value)));
        };
        if heat {
            parameter("awareness_level", if msg_type == "Cancel" { Level::Green.awareness_level() } else { shown.awareness_level() });
            parameter("awareness_type", "5; high-temperature");
        }
        parameter("ilot_rule", &s(&data["rule"]["id"]));
        parameter("ilot_sequence", &data["sequence"].to_string());
        xml.push_str("    <area>\n");
        let area = &data["area"];
        let mut desc = s(&area["id"]);
        if let Some(network) = area["network"].as_str().filter(|n| *n != desc) {
            desc = format!("{desc} ({network})");
        }
        xml.push_str(&format!("      <areaDesc>{}</areaDesc>\n", escape(&desc)));
        if let Some(insee) = area["insee"].as_str() {
            xml.push_str(&format!("      <geocode>\n        <valueName>INSEE</valueName>\n        <value>{}</value>\n      </geocode>\n", escape(insee)));
        }
        xml.push_str("    </area>\n  </info>\n");
    }
    xml.push_str("</alert>\n");
    xml
}

#[cfg(test)]
mod tests;
