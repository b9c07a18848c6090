//! Tests of `ilot sim`: registry files read back, scenario files over the flags.

use super::*;

#[test]
fn the_registry_reads_back_both_registry_files_with_every_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimConfig { city: "dijon".into(), network: Some("dijon-sim".into()), sensors: 25, cadence_s: 600, readings_per_sensor: Some(1), ..SimConfig::default() };
    let fleet = Fleet::new(sim).unwrap();
    for name in ["fleet.csv", "fleet.geojson", "fleet.json"] {
        let path = dir.path().join(name);
        write_registry_file(&fleet, &path).unwrap();
        let sensors = ilot_ingest::registry::read_sensors(&path).unwrap();
        assert_eq!(sensors.len(), 25, "{name}");
        for (read, simulated) in sensors.iter().zip(fleet.sensors()) {
            let role = match simulated.role {
                ilot_firmware_sim::SensorRole::Urban => ilot_ingest::registry::SensorRole::Urban,
                ilot_firmware_sim::SensorRole::RuralReference => ilot_ingest::registry::SensorRole::Rural,
            };
            let expected = ilot_ingest::registry::Sensor {
                network: "dijon-sim".into(),
                sensor_id: simulated.id.clone(),
                name: Some(format!("Simulated {} (LCZ {})", simulated.id, simulated.lcz.label())),
                lat: Some(simulated.lat),
                lon: Some(simulated.lon),
                elevation_m: None,
                lcz: ilot_ingest::registry::Lcz::parse(simulated.lcz.label()),
                role,
                height_m: None,
                shield: None,
                cadence_s: Some(600),
                insee: None,
                departement: Some("21".into()),
                provider: Some(ilot_firmware_sim::REGISTRY_PROVIDER.into()),
                licence: None,
            };
            assert_eq!(*read, expected, "{name}");
        }
    }
    assert!(std::fs::read_to_string(dir.path().join("fleet.json")).unwrap().starts_with('{'), "GeoJSON");
}

fn flags(scenario_file: Option<PathBuf>) -> FleetArgs {
    FleetArgs { city: "paris".into(), sensors: 12, readings_per_sensor: None, seed: 4, scenario_file }
}

const PACE: Pace = Pace { acceleration: 60.0, days_back: 1 };

/// The shipped examples cannot drift from the format: each one builds a fleet.
#[test]
fn every_shipped_scenario_file_builds_a_fleet() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-sim/scenarios");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("toml"), "{}", path.display());
        let config = flags(Some(path.clone())).sim_config(PACE).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        Fleet::new(config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn a_scenario_file_wins_over_the_flags_which_give_what_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = |text: &str| {
        let path = dir.path().join(format!("{}.toml", text.len()));
        std::fs::write(&path, text).unwrap();
        flags(Some(path)).sim_config(PACE)
    };
    let now = chrono::Utc::now();
    let config = file("city = \"rennes\"\ndays_back = 2\ncadence_s = 600\n[faults]\nspike_rate = 0.01\n").unwrap();
    assert_eq!((config.city.as_str(), config.sensors, config.seed, config.acceleration), ("rennes", 12, 4, 60.0));
    assert_eq!(config.faults.spike_rate, 0.01);
    let days_back = (now - config.start).num_minutes();
    assert!((2 * 1440..2 * 1440 + 5).contains(&days_back), "{days_back}");
    // Up to now at the file's cadence: two days of 10-minute steps.
    assert!((287..=288).contains(&config.readings_per_sensor.unwrap()), "{:?}", config.readings_per_sensor);
    // Without `days_back`, the flag's; an absolute start runs up to now unless told otherwise.
    let config = file("sensors = 30\n").unwrap();
    assert!((1440..1445).contains(&(now - config.start).num_minutes()));
    assert_eq!((config.city.as_str(), config.sensors, config.readings_per_sensor), ("paris", 30, Some(288)));
    let start = now - chrono::Duration::hours(10);
    let config = file(&format!("start = \"{}\"\n", start.to_rfc3339())).unwrap();
    assert_eq!((config.start.timestamp(), config.readings_per_sensor), (start.timestamp(), Some(120)));
    let config = file(&format!("start = \"{}\"\nreadings_per_sensor = 3\n", start.to_rfc3339())).unwrap();
    assert_eq!(config.readings_per_sensor, Some(3));
    for (text, error) in [
        ("days_back = 2\nstart = \"2025-07-01T00:00:00Z\"\n", "not both"),
        ("citty = \"rennes\"\n", "citty"),
        ("[faults]\nspike = 0.1\n", "spike"),
    ] {
        let e = format!("{:#}", file(text).unwrap_err());
        assert!(e.contains("scenario file") && e.contains(error), "{text}: {e}");
    }
}
