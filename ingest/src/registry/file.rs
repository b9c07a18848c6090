//! Sensor lists read from files: CSV (`,` or `;` separated, UTF-8 with or without BOM, one
//! column per [`Sensor`] field) or a GeoJSON FeatureCollection of Points (coordinates
//! `[lon, lat]` or `[lon, lat, elevation]`, the other fields as properties; a null geometry for
//! a station without coordinates). The formats are documented in `docs/registry.md`.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;

use super::sensor::Sensor;

#[derive(Debug, thiserror::Error)]
pub enum SensorFileError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{origin}, record {record}: {detail}")]
    Record { origin: String, record: usize, detail: String },
    #[error("{origin}: not a GeoJSON FeatureCollection: {detail}")]
    GeoJson { origin: String, detail: String },
}

/// The sensors of a file, chosen by its content (a `{` first means GeoJSON).
pub fn read_sensors(path: &Path) -> Result<Vec<Sensor>, SensorFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SensorFileError::Io { path: path.display().to_string(), source })?;
    parse_sensors(&text, &path.display().to_string())
}

/// The sensors of a document (CSV or GeoJSON text); `origin` names it in errors.
pub fn parse_sensors(text: &str, origin: &str) -> Result<Vec<Sensor>, SensorFileError> {
    let text = text.trim_start_matches('\u{feff}');
    let sensors = if text.trim_start().starts_with('{') { parse_geojson(text, origin)? } else { parse_csv(text, origin)? };
    for (i, s) in sensors.iter().enumerate() {
        s.validate().map_err(|detail| SensorFileError::Record { origin: origin.into(), record: i + 1, detail })?;
    }
    Ok(sensors)
}

fn parse_csv(text: &str, origin: &str) -> Result<Vec<Sensor>, SensorFileError> {
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() { b';' } else { b',' };
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
        .deserialize::<Sensor>()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| SensorFileError::Record { origin: origin.into(), record: i + 1, detail: e.to_string() }))
        .collect()
}

#[derive(Deserialize)]
struct FeatureCollection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    geometry: Option<Geometry>,
    #[serde(default)]
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Vec<f64>,
}

fn parse_geojson(text: &str, origin: &str) -> Result<Vec<Sensor>, SensorFileError> {
    let fc: FeatureCollection =
        serde_json::from_str(text).map_err(|e| SensorFileError::GeoJson { origin: origin.into(), detail: e.to_string() })?;
    if fc.kind != "FeatureCollection" {
        return Err(SensorFileError::GeoJson { origin: origin.into(), detail: format!("type is {:?}", fc.kind) });
    }
    fc.features
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let err = |detail: String| SensorFileError::Record { origin: origin.into(), record: i + 1, detail };
            let mut props = f.properties;
            // A feature with a null geometry is a station without coordinates.
            if let Some(g) = f.geometry {
                if g.kind != "Point" || !(2..=3).contains(&g.coordinates.len()) {
                    return Err(err(format!("geometry must be a Point [lon, lat(, z)], found {} with {} coordinates", g.kind, g.coordinates.len())));
                }
                props.insert("lon".into(), g.coordinates[0].into());
                props.insert("lat".into(), g.coordinates[1].into());
                if let Some(z) = g.coordinates.get(2) {
                    props.entry("elevation_m").or_insert((*z).into());
                }
            }
            serde_json::from_value(Value::Object(props)).map_err(|e| err(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SensorRole;

    #[test]
    fn csv_with_bom_semicolons_and_empty_fields() {
        let text = "\u{feff}network;sensor_id;name;lat;lon;elevation_m;lcz;role;cadence_s\n\
                    rennes;melesse;Melesse;48.205030;-1.681340;;D;rural;600\n\
                    rennes;thabor;Thabor;48.114990;-1.666190;45;2;urban;\n";
        let s = parse_sensors(text, "t.csv").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].role, s[0].lcz.unwrap().label(), s[0].cadence_s()), (SensorRole::Rural, "D".to_string(), 600));
        assert_eq!((s[1].elevation_m, s[1].cadence_s()), (Some(45.0), 300));
    }

    #[test]
    fn geojson_points_with_elevation() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[1.444,43.6045,146]},
             "properties":{"network":"toulouse","sensor_id":"tls-001","lcz":"2","role":"urban","insee":"31555","departement":"31"}}]}"#;
        let s = parse_sensors(text, "t.geojson").unwrap();
        assert_eq!((s[0].lat, s[0].lon, s[0].elevation_m), (Some(43.6045), Some(1.444), Some(146.0)));
        assert_eq!(s[0].insee.as_deref(), Some("31555"));
    }

    #[test]
    fn stations_without_coordinates_are_accepted_in_csv_and_geojson() {
        let s = parse_sensors("network,sensor_id,lat,lon,elevation_m\nberlin,7,,,34\nberlin,8,52.5,13.4,\n", "x.csv").unwrap();
        assert_eq!((s[0].lat, s[0].lon, s[0].elevation_m), (None, None, Some(34.0)));
        assert_eq!(parse_sensors("network,sensor_id\nberlin,7\n", "x.csv").unwrap()[0].lat, None, "no coordinate columns");
        let e = parse_sensors("network,sensor_id,lat,lon\nberlin,7,52.5,\n", "x.csv").unwrap_err();
        assert!(e.to_string().contains("both lat and lon"), "{e}");
        let text = r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":{"network":"berlin","sensor_id":"7"}}]}"#;
        assert_eq!(parse_sensors(text, "x.geojson").unwrap()[0].lon, None);
    }

    #[test]
    fn bad_records_name_the_record_and_the_problem() {
        let e = parse_sensors("network,sensor_id,lat,lon\nrennes,a,48.1,-1.6\nrennes,b,148.1,-1.6\n", "x.csv").unwrap_err();
        assert!(e.to_string().contains("x.csv, record 2") && e.to_string().contains("out of range"), "{e}");
        let e = parse_sensors("network,sensor_id,lat,lon,colour\nrennes,a,48.1,-1.6,red\n", "x.csv").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = parse_sensors("network,sensor_id,lat,lon,lcz\nrennes,a,48.1,-1.6,Z\n", "x.csv").unwrap_err();
        assert!(e.to_string().contains("LCZ"), "{e}");
    }

    #[test]
    fn the_rennes_network_file_reads_with_a_network_column_added() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/uhi-validation/rennes_run_stations_2018.csv");
        let raw = std::fs::read_to_string(path).unwrap();
        let mut lines = raw.trim_start_matches('\u{feff}').lines();
        let _header = lines.next();
        let text: String = std::iter::once("sensor_id;lat;lon;network".to_string())
            .chain(lines.filter(|l| !l.trim().is_empty()).map(|l| format!("{l};rennes")))
            .collect::<Vec<_>>()
            .join("\n");
        let sensors = parse_sensors(&text, path).unwrap();
        assert!(sensors.len() >= 20, "{}", sensors.len());
        assert!(sensors.iter().any(|s| s.sensor_id == "Melesse" && s.lat.is_some_and(|lat| (lat - 48.20503).abs() < 1e-9)));
    }
}
