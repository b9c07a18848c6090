//! The fleet as a sensor-registry file: the CSV or GeoJSON ilot's registry reads
//! (`docs/registry.md`, "Sensor files"), so that a service can know the simulated stations
//! (position, Local Climate Zone, urban or rural reference, cadence, département) and compute
//! their heat island.
//!
//! Plain text out: the simulator does not depend on the service.

use crate::{Fleet, SensorRole, SimSensor};

/// Columns of a registry sensor file, in the documented order.
pub const REGISTRY_CSV_COLUMNS: [&str; 15] = [
    "network",
    "sensor_id",
    "name",
    "lat",
    "lon",
    "elevation_m",
    "lcz",
    "role",
    "height_m",
    "shield",
    "cadence_s",
    "insee",
    "departement",
    "provider",
    "licence",
];

/// What the `provider` column says of simulated stations.
pub const REGISTRY_PROVIDER: &str = "ilot-firmware-sim";

/// The registry attributes the simulator knows of one sensor, written alike in both formats.
struct RegistryEntry<'a> {
    sensor: &'a SimSensor,
    name: String,
    role: &'static str,
}

impl Fleet {
    fn registry_entries(&self) -> impl Iterator<Item = RegistryEntry<'_>> {
        self.sensors().iter().map(|sensor| RegistryEntry {
            sensor,
            name: format!("Simulated {} (LCZ {})", sensor.id, sensor.lcz.label()),
            role: match sensor.role {
                SensorRole::Urban => "urban",
                SensorRole::RuralReference => "rural",
            },
        })
    }

    /// The fleet's sensors as a registry CSV file (`,`-separated, header row, one line per
    /// sensor in id order, `\n` line ends), under the fleet's network (the one in its topics).
    ///
    /// Rural references get role `rural` (the default UHI reference of their network), urban
    /// sensors `urban`; `lcz` is the class label (`2`, `D`), `cadence_s` the configured
    /// cadence and `departement` the city's. The simulator models no terrain, mounting or
    /// commune: `elevation_m`, `height_m`, `shield`, `insee` and `licence` are left empty.
    pub fn registry_csv(&self) -> String {
        let network = self.network();
        let cadence = self.config.cadence_s.to_string();
        let departement = self.climate.city().departement;
        let mut out = REGISTRY_CSV_COLUMNS.join(",");
        out.push('\n');
        for entry in self.registry_entries() {
            let (lat, lon) = (format!("{:.5}", entry.sensor.lat), format!("{:.5}", entry.sensor.lon));
            let fields = [
                network,
                &entry.sensor.id,
                &entry.name,
                &lat,
                &lon,
                "",
                entry.sensor.lcz.label(),
                entry.role,
                "",
                "",
                &cadence,
                "",
                departement,
                REGISTRY_PROVIDER,
                "",
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// The same sensors and attributes as [`Fleet::registry_csv`], as a GeoJSON
    /// FeatureCollection (RFC 7946): one `Point` feature per sensor, `coordinates`
    /// `[lon, lat]`, the other columns as `properties` (`cadence_s` a number, the others
    /// strings; the columns the CSV leaves empty are left out).
    pub fn registry_geojson(&self) -> String {
        let network = self.network();
        let departement = self.climate.city().departement;
        let features: Vec<serde_json::Value> = self
            .registry_entries()
            .map(|entry| {
                serde_json::json!({
                    "type": "Feature",
                    "geometry": { "type": "Point", "coordinates": [entry.sensor.lon, entry.sensor.lat] },
                    "properties": {
                        "network": network,
                        "sensor_id": entry.sensor.id,
                        "name": entry.name,
                        "lcz": entry.sensor.lcz.label(),
                        "role": entry.role,
                        "cadence_s": self.config.cadence_s,
                        "departement": departement,
                        "provider": REGISTRY_PROVIDER,
                    },
                })
            })
            .collect();
        let collection = serde_json::json!({ "type": "FeatureCollection", "features": features });
        format!("{collection:#}\n")
    }
}

/// RFC 4180 quoting, only where needed.
fn csv_field(value: &str) -> String {
    if value.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use chrono::{TimeZone, Utc};

    fn fleet(city: &str, network: Option<&str>) -> Fleet {
        Fleet::new(SimConfig {
            city: city.into(),
            network: network.map(str::to_owned),
            sensors: 20,
            readings_per_sensor: Some(1),
            start: Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap(),
            cadence_s: 600,
            seed: 3,
            ..SimConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn header_matches_the_documented_columns() {
        let csv = fleet("toulouse", None).registry_csv();
        assert_eq!(
            csv.lines().next().unwrap(),
            "network,sensor_id,name,lat,lon,elevation_m,lcz,role,height_m,shield,cadence_s,insee,departement,provider,licence"
        );
        // Exactly the columns of the table in docs/registry.md (when the workspace's docs are
        // there: not in a packaged crate). The table lists `lat`, `lon` first, as required.
        let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/registry.md");
        if let Ok(doc) = std::fs::read_to_string(doc) {
            let mut documented: Vec<&str> = doc
                .lines()
                .skip_while(|l| !l.starts_with("## Sensor files"))
                .skip_while(|l| !l.starts_with("| column"))
                .skip(2)
                .take_while(|l| l.starts_with('|'))
                .flat_map(|l| l.split('|').nth(1).unwrap_or_default().split(','))
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            documented.sort_unstable();
            let mut ours = REGISTRY_CSV_COLUMNS.to_vec();
            ours.sort_unstable();
            assert_eq!(documented, ours, "docs/registry.md columns");
        }
    }

    #[test]
    fn one_row_per_sensor_with_role_lcz_and_departement() {
        let fleet = fleet("Vitré", Some("vitre-test"));
        let csv = fleet.registry_csv();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), fleet.sensors().len());
        for (row, sensor) in rows.iter().zip(fleet.sensors()) {
            assert_eq!(row.len(), REGISTRY_CSV_COLUMNS.len(), "{row:?}");
            let field = |name: &str| {
                row[REGISTRY_CSV_COLUMNS
                    .iter()
                    .position(|c| *c == name)
                    .unwrap()]
            };
            assert_eq!(field("network"), "vitre-test");
            assert_eq!(field("sensor_id"), sensor.id);
            assert_eq!(field("lat").parse::<f64>().unwrap(), sensor.lat);
            assert_eq!(field("lon").parse::<f64>().unwrap(), sensor.lon);
            assert_eq!(field("lcz"), sensor.lcz.label());
            let role = if sensor.role == SensorRole::RuralReference {
                "rural"
            } else {
                "urban"
            };
            assert_eq!(field("role"), role);
            assert_eq!(field("cadence_s"), "600");
            assert_eq!(field("departement"), "35");
            assert_eq!(field("provider"), REGISTRY_PROVIDER);
            assert_eq!(field("elevation_m"), "");
        }
        assert_eq!(rows.iter().filter(|r| r[7] == "rural").count(), 2);
        assert_eq!(
            rows.iter()
                .filter(|r| r[7] == "rural" && r[6] == "D")
                .count(),
            2
        );
    }

    #[test]
    fn geojson_has_one_point_per_sensor_with_the_csv_attributes() {
        let fleet = fleet("rennes", None);
        let doc: serde_json::Value = serde_json::from_str(&fleet.registry_geojson()).unwrap();
        assert_eq!(doc["type"], "FeatureCollection");
        let features = doc["features"].as_array().unwrap();
        assert_eq!(features.len(), fleet.sensors().len());
        for (feature, sensor) in features.iter().zip(fleet.sensors()) {
            assert_eq!(feature["geometry"]["type"], "Point");
            assert_eq!(feature["geometry"]["coordinates"], serde_json::json!([sensor.lon, sensor.lat]));
            let properties = &feature["properties"];
            assert_eq!(properties["network"], "rennes");
            assert_eq!(properties["sensor_id"], sensor.id.as_str());
            assert_eq!(properties["lcz"], sensor.lcz.label());
            assert_eq!(properties["cadence_s"], 600);
            assert_eq!(properties["departement"], "35");
            // Only documented columns, and none the CSV leaves empty.
            for key in properties.as_object().unwrap().keys() {
                assert!(REGISTRY_CSV_COLUMNS.contains(&key.as_str()), "{key}");
                assert!(!["lat", "lon", "elevation_m", "height_m", "shield", "insee", "licence"].contains(&key.as_str()), "{key}");
            }
        }
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(csv_field("tls-001"), "tls-001");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
