//! The registry in SQL: `sensors`, `networks` and `uhi_reference_sensors`, built from one
//! registry snapshot at each scan, so an admin change is visible to the next query.

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result;
use ilot_ingest::registry::{Registry, RegistryHandle};
use std::sync::Arc;

use crate::snapshot_table::SnapshotTable;

/// Which registry table.
#[derive(Debug, Clone, Copy)]
pub enum RegistryTableKind {
    Sensors,
    Networks,
    ReferenceSensors,
}

/// The registry table `kind`, rebuilt from the registry's snapshot at each scan.
pub fn registry_table(registry: Arc<RegistryHandle>, kind: RegistryTableKind) -> SnapshotTable {
    SnapshotTable::new(kind.name(), kind.schema(), move || kind.batch(&registry.snapshot()))
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn float(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, false)
}

impl RegistryTableKind {
    /// The table's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            RegistryTableKind::Sensors => "sensors",
            RegistryTableKind::Networks => "networks",
            RegistryTableKind::ReferenceSensors => "uhi_reference_sensors",
        }
    }

    fn schema(self) -> SchemaRef {
        Arc::new(Schema::new(match self {
            RegistryTableKind::Sensors => vec![
                text("network", false),
                text("sensor_id", false),
                text("name", true),
                float("lat"),
                float("lon"),
                float("elevation_m"),
                text("lcz", true),
                Field::new("lcz_code", DataType::Int32, true),
                text("role", false),
                float("height_m"),
                text("shield", true),
                int("cadence_s"),
                text("insee", true),
                text("departement", true),
                text("provider", true),
                text("licence", true),
            ],
            RegistryTableKind::Networks => vec![
                text("network", false),
                text("display_name", true),
                text("departement", true),
                text("timezone", false),
                Field::new("crowdsourced", DataType::Boolean, false),
                text("crowdqc_level", false),
                text("reference_mode", false),
                text("reference_sensors", false),
                text("night_mode", false),
                int("night_start_utc_hour"),
                int("night_end_utc_hour"),
                float("tn_threshold_c"),
                float("tx_threshold_c"),
                text("thresholds_source", true),
                text("ibm_alignment", false),
                text("unknown_sensors", false),
            ],
            RegistryTableKind::ReferenceSensors => vec![text("network", false), text("sensor_id", false)],
        }))
    }

    fn batch(self, r: &Registry) -> Result<RecordBatch> {
        fn strings<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
            Arc::new(v.collect::<StringArray>())
        }
        fn floats(v: impl Iterator<Item = Option<f64>>) -> ArrayRef {
            Arc::new(v.collect::<Float64Array>())
        }
        let columns: Vec<ArrayRef> = match self {
            RegistryTableKind::Sensors => {
                let s = &r.sensors;
                vec![
                    strings(s.iter().map(|s| Some(s.network.as_str()))),
                    strings(s.iter().map(|s| Some(s.sensor_id.as_str()))),
                    strings(s.iter().map(|s| s.name.as_deref())),
                    floats(s.iter().map(|s| s.lat)),
                    floats(s.iter().map(|s| s.lon)),
                    floats(s.iter().map(|s| s.elevation_m)),
                    Arc::new(s.iter().map(|s| s.lcz.map(|l| l.label())).collect::<StringArray>()),
                    Arc::new(s.iter().map(|s| s.lcz.map(|l| i32::from(l.code()))).collect::<Int32Array>()),
                    strings(s.iter().map(|s| Some(s.role.as_str()))),
                    floats(s.iter().map(|s| s.height_m)),
                    strings(s.iter().map(|s| s.shield.as_deref())),
                    Arc::new(s.iter().map(|s| s.cadence_s() as i32).collect::<Int32Array>()),
                    strings(s.iter().map(|s| s.insee.as_deref())),
                    strings(s.iter().map(|s| s.departement.as_deref())),
                    strings(s.iter().map(|s| s.provider.as_deref())),
                    strings(s.iter().map(|s| s.licence.as_deref())),
                ]
            }
            RegistryTableKind::Networks => {
                let names = r.network_names();
                let n: Vec<_> = names.iter().map(|name| (name, r.settings(name), r.reference_sensors(name))).collect();
                let thresholds: Vec<_> = n.iter().map(|(_, s, _)| s.thresholds()).collect();
                vec![
                    strings(n.iter().map(|(name, _, _)| Some(name.as_str()))),
                    strings(n.iter().map(|(_, s, _)| s.display_name.as_deref())),
                    strings(n.iter().map(|(_, s, _)| s.departement.as_deref())),
                    strings(n.iter().map(|(_, s, _)| Some(s.timezone.as_str()))),
                    Arc::new(n.iter().map(|(_, s, _)| Some(s.crowdsourced)).collect::<BooleanArray>()),
                    strings(n.iter().map(|(_, s, _)| Some(s.crowdqc_level.as_str()))),
                    strings(n.iter().map(|(_, s, _)| Some(s.reference_mode.as_str()))),
                    Arc::new(n.iter().map(|(_, _, refs)| Some(refs.join(","))).collect::<StringArray>()),
                    strings(n.iter().map(|(_, s, _)| Some(s.night_mode.as_str()))),
                    Arc::new(n.iter().map(|(_, s, _)| i32::from(s.night_start_utc_hour)).collect::<Int32Array>()),
                    Arc::new(n.iter().map(|(_, s, _)| i32::from(s.night_end_utc_hour)).collect::<Int32Array>()),
                    floats(thresholds.iter().map(|t| t.as_ref().map(|t| t.tn_threshold_c))),
                    floats(thresholds.iter().map(|t| t.as_ref().map(|t| t.tx_threshold_c))),
                    strings(thresholds.iter().map(|t| t.as_ref().map(|t| t.source.as_str()))),
                    strings(n.iter().map(|(_, s, _)| Some(s.ibm_alignment.as_str()))),
                    strings(n.iter().map(|(_, s, _)| Some(match s.unknown_sensors {
                        ilot_ingest::registry::UnknownSensorPolicy::Flag => "flag",
                        ilot_ingest::registry::UnknownSensorPolicy::DeadLetter => "dead_letter",
                    }))),
                ]
            }
            RegistryTableKind::ReferenceSensors => {
                let pairs: Vec<(String, String)> =
                    r.network_names().into_iter().flat_map(|n| r.reference_sensors(&n).into_iter().map(move |s| (n.clone(), s))).collect();
                vec![
                    strings(pairs.iter().map(|(n, _)| Some(n.as_str()))),
                    strings(pairs.iter().map(|(_, s)| Some(s.as_str()))),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }
}
