//! Which column of an imported file holds what: ilot's fields ([`ImportColumn`]) mapped to the
//! file's own column names (`ilot import --column ts=time`, or a `--columns` TOML file), the
//! others looked up under their own name. Resolved against each file's header before anything
//! is imported, so that a mapped column a file lacks stops the import at once.

use std::collections::BTreeMap;
use std::path::Path;

use super::ImportError;

/// What an import reads: the readings' fields, and the station's place for `--register-sensors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImportColumn {
    SensorId,
    Ts,
    TemperatureC,
    HumidityPct,
    BatteryV,
    Lon,
    Lat,
    ElevationM,
}

impl ImportColumn {
    pub const ALL: [ImportColumn; 8] = [
        Self::SensorId,
        Self::Ts,
        Self::TemperatureC,
        Self::HumidityPct,
        Self::BatteryV,
        Self::Lon,
        Self::Lat,
        Self::ElevationM,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::SensorId => "sensor_id",
            Self::Ts => "ts",
            Self::TemperatureC => "temperature_c",
            Self::HumidityPct => "humidity_pct",
            Self::BatteryV => "battery_v",
            Self::Lon => "lon",
            Self::Lat => "lat",
            Self::ElevationM => "elevation_m",
        }
    }

    fn required(self) -> bool {
        matches!(self, Self::SensorId | Self::Ts | Self::TemperatureC)
    }

    /// Whether it describes the station rather than a reading (read with `--register-sensors`).
    pub fn is_place(self) -> bool {
        matches!(self, Self::Lon | Self::Lat | Self::ElevationM)
    }

    fn parse(name: &str) -> Result<Self, ImportError> {
        Self::ALL.into_iter().find(|c| c.name() == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
            ImportError::Invalid(format!("no column {:?} to map: the targets are {}", name.trim(), names.join(", ")))
        })
    }

    /// Whether a file column of this name is the field when nothing maps it (any case; `sensor`
    /// for `sensor_id`).
    fn is_default_name(self, column: &str) -> bool {
        column.eq_ignore_ascii_case(self.name()) || (self == Self::SensorId && column.eq_ignore_ascii_case("sensor"))
    }
}

/// The file column of each mapped [`ImportColumn`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnMap(BTreeMap<ImportColumn, String>);

impl ColumnMap {
    /// `target=source` (`--column ts=time`); a later mapping of the same target replaces it.
    pub fn set(&mut self, mapping: &str) -> Result<(), ImportError> {
        let (target, source) = mapping
            .split_once('=')
            .filter(|(_, source)| !source.trim().is_empty())
            .ok_or_else(|| ImportError::Invalid(format!("column mapping {mapping:?}: expected TARGET=SOURCE, like ts=time")))?;
        self.0.insert(ImportColumn::parse(target)?, source.trim().to_owned());
        Ok(())
    }

    /// A mapping file: one `target = "source"` per line (`ts = "time"`); `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ImportError> {
        let table: BTreeMap<String, String> = toml::from_str(text)
            .map_err(|e| ImportError::Format { path: origin.to_owned(), detail: format!("column mapping: {e}") })?;
        let mut map = Self::default();
        for (target, source) in table {
            map.set(&format!("{target}={source}"))
                .map_err(|e| ImportError::Format { path: origin.to_owned(), detail: e.to_string() })?;
        }
        Ok(map)
    }

    pub fn maps(&self, column: ImportColumn) -> bool {
        self.0.contains_key(&column)
    }
}

/// Column positions in one file, by [`ImportColumn`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Columns([Option<usize>; 8]);

impl Columns {
    /// The positions in a header: mapped columns under their mapped name, the others under
    /// their own; a mapped column, or a required one (`sensor_id`, `ts`, `temperature_c`), that
    /// the header lacks is an error naming the file.
    pub(super) fn find<'n>(names: impl Iterator<Item = &'n str>, map: &ColumnMap, path: &Path) -> Result<Self, ImportError> {
        let names: Vec<&str> = names.map(|n| n.trim().trim_start_matches('\u{feff}')).collect();
        let mut found = Columns::default();
        let mut missing = Vec::new();
        for column in ImportColumn::ALL {
            let position = match map.0.get(&column) {
                Some(source) => names.iter().position(|n| n == source).or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(source))),
                None => names.iter().position(|n| column.is_default_name(n)),
            };
            found.0[column as usize] = position;
            if position.is_none() {
                match map.0.get(&column) {
                    Some(source) => missing.push(format!("{source:?} (mapped to {})", column.name())),
                    None if column.required() => missing.push(format!("{:?}", column.name())),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let shown: Vec<&str> = names.iter().take(30).copied().collect();
        Err(ImportError::Format {
            path: path.display().to_string(),
            detail: format!(
                "no column {} (needed: sensor_id, ts, temperature_c, under their own names or mapped with --column); the file has: {}{}",
                missing.join(", "),
                shown.join(", "),
                if names.len() > shown.len() { ", …" } else { "" }
            ),
        })
    }

    pub(super) fn get(&self, column: ImportColumn) -> Option<usize> {
        self.0[column as usize]
    }

    /// The same without the station's place (not read unless registering stations).
    pub(super) fn without_place(mut self) -> Self {
        for column in ImportColumn::ALL.into_iter().filter(|c| c.is_place()) {
            self.0[column as usize] = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(header: &[&str], map: &ColumnMap) -> Result<Columns, ImportError> {
        Columns::find(header.iter().copied(), map, Path::new("f.csv"))
    }

    #[test]
    fn mapped_columns_win_and_the_others_keep_their_names() {
        let mut map = ColumnMap::default();
        for m in ["sensor_id=p_id", "ts=time", "temperature_c=ta", "lon = lon"] {
            map.set(m).unwrap();
        }
        let c = find(&["p_id", "time", "ta", "humidity_pct", "lon", "m1"], &map).unwrap();
        use ImportColumn as C;
        assert_eq!([C::SensorId, C::Ts, C::TemperatureC, C::HumidityPct, C::Lon, C::Lat].map(|k| c.get(k)), [Some(0), Some(1), Some(2), Some(3), Some(4), None]);
        let c = find(&["\u{feff}Sensor", "TS", "Temperature_C"], &ColumnMap::default()).unwrap();
        assert_eq!((c.get(C::SensorId), c.get(C::Ts), c.get(C::TemperatureC)), (Some(0), Some(1), Some(2)));
    }

    #[test]
    fn a_missing_mapped_column_names_the_file_and_the_column() {
        let mut map = ColumnMap::default();
        map.set("ts=time").unwrap();
        map.set("elevation_m=z").unwrap();
        let e = find(&["sensor_id", "time", "temperature_c"], &map).unwrap_err().to_string();
        assert!(e.starts_with("f.csv: no column \"z\" (mapped to elevation_m)") && e.contains("the file has: sensor_id, time"), "{e}");
        let e = find(&["sensor_id", "ts"], &ColumnMap::default()).unwrap_err().to_string();
        assert!(e.contains("no column \"temperature_c\""), "{e}");
    }

    #[test]
    fn mappings_parse_from_flags_and_toml() {
        let mut map = ColumnMap::default();
        assert!(map.set("temperature=ta").unwrap_err().to_string().contains("the targets are sensor_id, ts"));
        assert!(map.set("ts").is_err() && map.set("ts=").is_err());
        let file = ColumnMap::from_toml("sensor_id = \"p_id\"\nts = \"time\"\n", "m.toml").unwrap();
        assert!(file.maps(ImportColumn::SensorId) && file.maps(ImportColumn::Ts) && !file.maps(ImportColumn::Lon));
        let e = ColumnMap::from_toml("colour = \"x\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml: ") && e.contains("colour"), "{e}");
    }
}
