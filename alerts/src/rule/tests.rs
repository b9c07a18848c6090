//! Rule settings: read from TOML as an operator writes them, checked, rendered into SQL.

use super::*;

fn rules(text: &str) -> Result<Vec<Rule>, toml::de::Error> {
    #[derive(Deserialize)]
    struct File {
        rules: Vec<Rule>,
    }
    toml::from_str::<File>(text).map(|f| f.rules)
}

#[test]
fn rules_read_from_toml_with_their_kinds_defaults() {
    let parsed = rules(
        r#"
        [[rules]]
        id = "canicule-toulouse"
        kind = "observed_canicule"
        networks = ["toulouse"]

        [[rules]]
        id = "heat-35"
        kind = "instantaneous_heat"
        yellow_c = 35.0
        orange_c = 38.0
        min_sensors = 3
        area = "network"
        clear_after_s = 7200

        [[rules]]
        id = "health"
        kind = "sensor_health"
        "#,
    )
    .unwrap();
    assert_eq!(parsed[0].kind, RuleKind::ObservedCanicule { yellow_margin_c: 1.0, clear_margin_c: 0.5 });
    assert_eq!(parsed[0].timing().clear_after_s, 24 * 3600);
    assert_eq!((parsed[1].common.min_sensors, parsed[1].common.area, parsed[1].timing().clear_after_s), (3, AreaGrouping::Network, 7200));
    assert!(matches!(parsed[1].kind, RuleKind::InstantaneousHeat { duration_min: 60, red_c: None, heat_index: false, .. }));
    assert_eq!(parsed[2].category(), Category::SensorHealth);
    for rule in &parsed {
        rule.validate().unwrap();
    }
}

#[test]
fn a_typo_an_unknown_kind_and_bad_settings_are_refused_with_the_key() {
    let typo = rules("[[rules]]\nid = \"x\"\nkind = \"observed_canicule\"\nyelow_margin_c = 2.0\n").unwrap_err().to_string();
    assert!(typo.contains("yelow_margin_c"), "{typo}");
    let kind = rules("[[rules]]\nid = \"x\"\nkind = \"canicule\"\n").unwrap_err().to_string();
    assert!(kind.contains("canicule"), "{kind}");
    let bad = |text: &str| rules(text).unwrap().remove(0).validate().unwrap_err().to_string();
    assert!(bad("[[rules]]\nid = \"Bad Id\"\nkind = \"sensor_health\"\n").contains("rule id"));
    assert!(bad("[[rules]]\nid = \"x\"\nkind = \"sensor_health\"\nnetworks = [\"a'); DROP\"]\n").contains("not a network name"));
    assert!(bad("[[rules]]\nid = \"x\"\nkind = \"instantaneous_heat\"\nyellow_c = 35.0\norange_c = 30.0\n").contains("increasing"));
    assert!(bad("[[rules]]\nid = \"x\"\nkind = \"strong_uhi_night\"\nlevel = \"green\"\n").contains("level"));
    assert!(bad("[[rules]]\nid = \"x\"\nkind = \"sensor_health\"\nmin_sensors = 0\n").contains("min_sensors"));
}

#[test]
fn every_placeholder_of_every_template_is_filled() {
    let all = rules(
        r#"
        [[rules]]
        id = "a"
        kind = "observed_canicule"
        [[rules]]
        id = "b"
        kind = "instantaneous_heat"
        yellow_c = 35.0
        heat_index = true
        networks = ["toulouse", "rennes"]
        [[rules]]
        id = "c"
        kind = "strong_uhi_night"
        [[rules]]
        id = "d"
        kind = "sensor_health"
        "#,
    )
    .unwrap();
    for rule in all {
        let sql = rule.sql(1_752_494_400_000);
        assert!(!sql.contains('{') && !sql.contains('}'), "{}: {sql}", rule.common.id);
        assert!(sql.contains("1752494400000"), "{}", rule.common.id);
    }
}

#[test]
fn day_rules_close_once_a_day_and_reading_rules_never() {
    let canicule = rules("[[rules]]\nid = \"a\"\nkind = \"observed_canicule\"\n").unwrap().remove(0);
    let at = |d: u32, h: u32| chrono::NaiveDate::from_ymd_opt(2026, 7, d).unwrap().and_hms_opt(h, 0, 0).unwrap().and_utc();
    assert_eq!(canicule.closings_between(at(14, 6), at(16, 7)), [at(15, 6), at(16, 6)]);
    assert_eq!(canicule.closings_between(at(14, 5), at(14, 6)), [at(14, 6)]);
    assert!(canicule.closings_between(at(14, 6), at(15, 5)).is_empty());
    // A long gap is cut to the days the rule's query can still change.
    assert_eq!(canicule.closings_between(at(1, 0), at(30, 12)).len(), 9);
    let health = rules("[[rules]]\nid = \"h\"\nkind = \"sensor_health\"\n").unwrap().remove(0);
    assert!(health.closings_between(at(1, 0), at(30, 0)).is_empty());
}
