//! Rows of a table (CSV or Parquet file, `ilot import`) validated exactly like a canonical
//! record: sensor identifier, measurement time and its window, physical limits, quantisation.
//! The differences are how values arrive (text cells or typed columns instead of JSON), that
//! `ts` as a number is Unix **milliseconds** (the convention of tabular exports), what the
//! archive declares for the whole file ([`TableFormat`]: time zone of local times, time format,
//! units), and that a row with a sensor and a time but no temperature is a [`TableRecord::Gap`]
//! (gridded archives write every station at every step), not a refusal.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::DecodeLimits;
use super::validate::{self, Invalid};
use crate::dead_letter::DeadLetterReason;
use crate::reading::Reading;

/// Unit of a table's temperature column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TemperatureUnit {
    #[default]
    Celsius,
    /// °C = K − 273.15, as SenML `K` live.
    Kelvin,
    /// °C = (°F − 32) × 5 / 9.
    Fahrenheit,
}

/// Unit of a table's relative-humidity column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HumidityUnit {
    #[default]
    Percent,
    /// 0–1 (FIWARE and others): % = fraction × 100.
    Fraction,
}

/// A unit name that is not one of a column's units.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unit {name:?}: expected {expected}")]
pub struct UnknownUnitName {
    pub name: String,
    pub expected: &'static str,
}

impl std::str::FromStr for TemperatureUnit {
    type Err = UnknownUnitName;

    /// `C`, `K` or `F` (any case; `Cel`, `degC`, `degF` too).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "c" | "cel" | "degc" | "celsius" => Ok(Self::Celsius),
            "k" | "kelvin" => Ok(Self::Kelvin),
            "f" | "degf" | "fahrenheit" => Ok(Self::Fahrenheit),
            _ => Err(UnknownUnitName { name: name.to_owned(), expected: "C, K or F" }),
        }
    }
}

impl std::str::FromStr for HumidityUnit {
    type Err = UnknownUnitName;

    /// `pct` (`%`, `%RH`) or `fraction`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "pct" | "%" | "%rh" | "percent" => Ok(Self::Percent),
            "fraction" | "1" => Ok(Self::Fraction),
            _ => Err(UnknownUnitName { name: name.to_owned(), expected: "pct or fraction" }),
        }
    }
}

impl TemperatureUnit {
    fn to_celsius(self, value: f64) -> f64 {
        match self {
            Self::Celsius => value,
            Self::Kelvin => value - 273.15,
            Self::Fahrenheit => (value - 32.0) * 5.0 / 9.0,
        }
    }
}

impl HumidityUnit {
    fn to_percent(self, value: f64) -> f64 {
        match self {
            Self::Percent => value,
            Self::Fraction => value * 100.0,
        }
    }
}

/// What a table declares once for all its rows (`ilot import --timezone --ts-format
/// --temperature-unit --humidity-unit`). The default reads ilot's own columns: RFC 3339 times
/// with their offset or Unix milliseconds, °C and %RH.
#[derive(Debug, Clone, Default)]
pub struct TableFormat {
    /// Zone of the times written without a UTC offset: text (`2017-06-01 14:00`), and Parquet
    /// timestamps without a time zone (read as UTC when `None`). A local time the zone repeats
    /// (clocks moved back) takes the earlier instant; one it skips (clocks moved forward) is an
    /// `invalid_timestamp`. Times with an offset, Parquet timestamps with a zone and Unix
    /// milliseconds are absolute and never shifted.
    pub timezone: Option<Tz>,
    /// A chrono format for every text time (`%d/%m/%Y %H:%M`); local unless it has an offset
    /// (`%z`). `None`: RFC 3339, or Unix milliseconds, or (with `timezone`) ISO 8601 without
    /// offset.
    pub ts_format: Option<String>,
    pub temperature_unit: TemperatureUnit,
    pub humidity_unit: HumidityUnit,
}

/// What a valid row holds.
#[derive(Debug, Clone, PartialEq)]
pub enum TableRecord {
    Reading(Reading),
    /// A sensor and a time without temperature: a hole in the archive, nothing to store.
    Gap { sensor_id: String, ts_ms: i64 },
}

impl TableRecord {
    pub fn sensor_id(&self) -> &str {
        match self {
            Self::Reading(r) => &r.sensor_id,
            Self::Gap { sensor_id, .. } => sensor_id,
        }
    }

    pub fn ts_ms(&self) -> i64 {
        match self {
            Self::Reading(r) => r.ts_ms,
            Self::Gap { ts_ms, .. } => *ts_ms,
        }
    }
}

/// A cell of a table as the file gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Absent column, empty cell or null.
    Missing,
    /// A typed number (Parquet).
    Number(f64),
    /// A typed integer (Parquet `ts` as Int64 ms, or a timestamp already in ms).
    Integer(i64),
    /// A Parquet timestamp without time zone, in ms: a wall-clock time, local to
    /// [`TableFormat::timezone`] (UTC without one).
    WallClock(i64),
    /// Text to parse (CSV, Parquet strings).
    Text(&'a str),
}

/// One row to import.
#[derive(Debug, Clone, Copy)]
pub struct TableRow<'a> {
    pub sensor_id: Cell<'a>,
    pub ts: Cell<'a>,
    pub temperature_c: Cell<'a>,
    pub humidity_pct: Cell<'a>,
    pub battery_v: Cell<'a>,
}

/// Why a row was refused: the dead-letter reason and the detail a human reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: DeadLetterReason,
    pub detail: String,
}

impl From<Invalid> for Rejected {
    fn from(invalid: Invalid) -> Self {
        Self { reason: invalid.reason(), detail: invalid.to_string() }
    }
}

/// Validate and quantise one row, in the order of a canonical record (sensor, time,
/// temperature, humidity, battery); the first failure is the reason. Values are converted from
/// the `format`'s units before the physical limits and quantisation. No temperature after a
/// valid sensor and time: a [`TableRecord::Gap`]. The reading gets `received_at_ms` and
/// `qc_flags = 0`.
pub fn decode_row(
    network: &str,
    row: &TableRow<'_>,
    received_at_ms: i64,
    limits: &DecodeLimits,
    format: &TableFormat,
) -> Result<TableRecord, Rejected> {
    validate::identifier("network", network)?;
    let sensor_id = match row.sensor_id {
        Cell::Missing => return Err(Invalid::Missing("sensor_id").into()),
        Cell::Text(text) => text.trim(),
        Cell::Number(_) | Cell::Integer(_) | Cell::WallClock(_) => {
            return Err(Invalid::WrongType { field: "sensor_id", expected: "a string", found: "a number".to_owned() }.into());
        }
    };
    validate::identifier("sensor", sensor_id)?;
    let ts_ms = validate::time_window(timestamp(row.ts, format)?, received_at_ms, limits)?;
    let Some(temperature) = number("temperature_c", row.temperature_c)? else {
        return Ok(TableRecord::Gap { sensor_id: sensor_id.to_owned(), ts_ms });
    };
    let temperature_centi_c = validate::temperature_c("temperature_c", format.temperature_unit.to_celsius(temperature))?;
    let humidity_deci_pct = number("humidity_pct", row.humidity_pct)?
        .map(|v| validate::humidity_pct("humidity_pct", format.humidity_unit.to_percent(v)))
        .transpose()?;
    let battery_mv = number("battery_v", row.battery_v)?.map(|v| validate::battery_v("battery_v", v)).transpose()?;
    Ok(TableRecord::Reading(Reading {
        network: network.to_owned(),
        sensor_id: sensor_id.to_owned(),
        ts_ms,
        temperature_centi_c,
        humidity_deci_pct,
        battery_mv,
        seq: None,
        received_at_ms,
        qc_flags: 0,
    }))
}

/// A station's coordinate or elevation (`ilot import --register-sensors`): a finite number, or
/// `None` when the cell is empty.
pub fn place_value(field: &'static str, cell: Cell<'_>) -> Result<Option<f64>, Rejected> {
    Ok(number(field, cell)?)
}

/// ISO 8601 local times without offset, tried when the table has a time zone.
const LOCAL_ISO_FORMATS: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];

/// `ts`: RFC 3339 text with its offset, or an integer of Unix milliseconds (text or typed), or
/// a local time per the `format` (see [`TableFormat`]).
fn timestamp(cell: Cell<'_>, format: &TableFormat) -> Result<i64, Invalid> {
    const FIELD: &str = "ts";
    match cell {
        Cell::Missing => Err(Invalid::Missing(FIELD)),
        Cell::Integer(ms) => Ok(ms),
        Cell::WallClock(ms) => match (format.timezone, DateTime::from_timestamp_millis(ms)) {
            (Some(zone), Some(wall)) => local_ms(FIELD, &wall.naive_utc(), zone, || wall.naive_utc().to_string()),
            _ => Ok(ms),
        },
        Cell::Text(text) if format.ts_format.is_some() => {
            let (text, pattern) = (text.trim(), format.ts_format.as_deref().unwrap_or_default());
            let bad = |why: String| Invalid::BadTime { field: FIELD, text: validate::excerpt(text), why };
            if let Ok(time) = DateTime::parse_from_str(text, pattern) {
                return Ok(time.timestamp_millis());
            }
            let naive = NaiveDateTime::parse_from_str(text, pattern).map_err(|e| bad(format!("expected the format {pattern:?} ({e})")))?;
            let zone = format.timezone.ok_or_else(|| bad("no UTC offset, and no time zone declared for the file".to_owned()))?;
            local_ms(FIELD, &naive, zone, || text.to_owned())
        }
        Cell::Number(value) if value.is_finite() && value.fract() == 0.0 => Ok(value as i64),
        Cell::Number(value) => Err(Invalid::WrongType {
            field: FIELD,
            expected: "an RFC 3339 time or an integer of Unix milliseconds",
            found: format!("the number {}", validate::Shown(value)),
        }),
        Cell::Text(text) => {
            let text = text.trim();
            let digits = text.strip_prefix('-').unwrap_or(text);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                text.parse::<i64>().map_err(|e| Invalid::BadTime {
                    field: FIELD,
                    text: validate::excerpt(text),
                    why: format!("Unix milliseconds out of range ({e})"),
                })
            } else {
                validate::rfc3339_ms(FIELD, text).or_else(|error| {
                    let zone = format.timezone.ok_or(error.clone())?;
                    let naive = LOCAL_ISO_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(text, f).ok()).ok_or(error)?;
                    local_ms(FIELD, &naive, zone, || text.to_owned())
                })
            }
        }
    }
}

/// A local time in `zone` as UTC milliseconds: a repeated time (clocks moved back) takes the
/// earlier instant, a skipped one (clocks moved forward) is refused.
fn local_ms(field: &'static str, naive: &NaiveDateTime, zone: Tz, text: impl FnOnce() -> String) -> Result<i64, Invalid> {
    match zone.from_local_datetime(naive) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => Ok(time.timestamp_millis()),
        LocalResult::None => Err(Invalid::BadTime {
            field,
            text: validate::excerpt(&text()),
            why: format!("this local time does not exist in {zone} (the clocks moved forward)"),
        }),
    }
}

/// A measured value: finite, from a typed number or from text (`24.3`, also `24,3`).
fn number(field: &'static str, cell: Cell<'_>) -> Result<Option<f64>, Invalid> {
    let value = match cell {
        Cell::Missing => return Ok(None),
        Cell::Number(value) => value,
        Cell::Integer(value) | Cell::WallClock(value) => value as f64,
        Cell::Text(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let parsed = text.parse::<f64>().or_else(|e| match text.split_once(',') {
                // A decimal comma (`;`-separated files from French spreadsheets).
                Some((int, frac)) if !text.contains('.') && !frac.contains(',') => format!("{int}.{frac}").parse::<f64>(),
                _ => Err(e),
            });
            match parsed {
                Ok(value) => value,
                Err(_) => {
                    return Err(Invalid::WrongType {
                        field,
                        expected: "a number",
                        found: format!("the text {:?}", validate::excerpt(text)),
                    });
                }
            }
        }
    };
    if value.is_finite() {
        Ok(Some(value))
    } else {
        let text = match cell {
            Cell::Text(text) => validate::excerpt(text.trim()),
            _ => value.to_string(),
        };
        Err(Invalid::NonFinite { field, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_751_371_800_000;

    fn row<'a>(sensor: &'a str, ts: &'a str, t: &'a str) -> TableRow<'a> {
        TableRow {
            sensor_id: Cell::Text(sensor),
            ts: Cell::Text(ts),
            temperature_c: Cell::Text(t),
            humidity_pct: Cell::Missing,
            battery_v: Cell::Text(""),
        }
    }

    fn decode(r: &TableRow<'_>, format: &TableFormat) -> Result<TableRecord, Rejected> {
        decode_row("tls", r, NOW, &DecodeLimits::default(), format)
    }

    fn reading(r: &TableRow<'_>, format: &TableFormat) -> Reading {
        match decode(r, format) {
            Ok(TableRecord::Reading(reading)) => reading,
            other => panic!("{other:?}"),
        }
    }

    fn reason(r: &TableRow<'_>) -> Option<DeadLetterReason> {
        decode(r, &TableFormat::default()).err().map(|e| e.reason)
    }

    fn local(timezone: &str, ts_format: Option<&str>) -> TableFormat {
        TableFormat { timezone: Some(timezone.parse().unwrap()), ts_format: ts_format.map(str::to_owned), ..TableFormat::default() }
    }

    #[test]
    fn rows_quantise_like_canonical_records() {
        let a = reading(&row("s1", "2025-07-01T12:05:00Z", "24.31"), &TableFormat::default());
        let b = reading(&row("s1", "1751371500000", "24,310000001"), &TableFormat::default());
        assert_eq!((a.ts_ms, a.temperature_centi_c, a.battery_mv), (1_751_371_500_000, 2431, None));
        assert_eq!(a, b);
    }

    #[test]
    fn a_row_without_temperature_is_a_gap_but_not_without_sensor_or_time() {
        let gap = decode(&row("s1", "2025-07-01T12:05:00Z", ""), &TableFormat::default());
        assert_eq!(gap, Ok(TableRecord::Gap { sensor_id: "s1".into(), ts_ms: 1_751_371_500_000 }));
        assert_eq!(reason(&TableRow { sensor_id: Cell::Missing, ..row("", "2025-07-01T12:05:00Z", "") }), Some(DeadLetterReason::MissingField));
        assert_eq!(reason(&TableRow { ts: Cell::Missing, ..row("s1", "", "") }), Some(DeadLetterReason::MissingField));
        assert_eq!(reason(&row("s1", "2035-07-01T12:05:00Z", "")), Some(DeadLetterReason::TimestampInFuture));
    }

    #[test]
    fn units_convert_before_the_limits_and_quantisation() {
        let kelvin = TableFormat { temperature_unit: TemperatureUnit::Kelvin, ..TableFormat::default() };
        assert_eq!(reading(&row("s1", "1751371500000", "297.46"), &kelvin).temperature_centi_c, 2431);
        let fahrenheit = TableFormat { temperature_unit: "F".parse().unwrap(), ..TableFormat::default() };
        assert_eq!(reading(&row("s1", "1751371500000", "75.2"), &fahrenheit).temperature_centi_c, 2400);
        let fraction = TableFormat { humidity_unit: "fraction".parse().unwrap(), ..TableFormat::default() };
        let r = TableRow { humidity_pct: Cell::Number(0.523), ..row("s1", "1751371500000", "20") };
        assert_eq!(reading(&r, &fraction).humidity_deci_pct, Some(523));
        let r = TableRow { humidity_pct: Cell::Text("52.3"), ..row("s1", "1751371500000", "20") };
        assert_eq!(decode(&r, &fraction).map_err(|e| e.reason), Err(DeadLetterReason::ImpossibleValue), "5230 %");
        assert_eq!(decode(&row("s1", "1751371500000", "24.3"), &kelvin).map_err(|e| e.reason), Err(DeadLetterReason::ImpossibleValue));
        assert!("X".parse::<TemperatureUnit>().is_err() && "%".parse::<HumidityUnit>() == Ok(HumidityUnit::Percent));
    }

    #[test]
    fn local_times_take_the_declared_zone_across_daylight_saving_changes() {
        let paris = local("Europe/Paris", None);
        let ts = |text: &str, format: &TableFormat| decode(&row("s1", text, "20"), format).map(|r| r.ts_ms());
        assert_eq!(ts("2025-07-01 14:05", &paris), Ok(1_751_371_500_000), "CEST, UTC+2");
        assert_eq!(ts("2025-07-01T14:05:00", &paris), Ok(1_751_371_500_000));
        assert_eq!(ts("2025-07-01T12:05:00Z", &paris), Ok(1_751_371_500_000), "an offset wins over the zone");
        assert_eq!(ts("1751371500000", &paris), Ok(1_751_371_500_000), "Unix ms are absolute");
        // 2024-10-27 02:30 happens twice in Paris: the earlier (CEST) instant.
        assert_eq!(ts("2024-10-27 02:30", &paris), Ok(1_729_989_000_000));
        // 2024-03-31 02:30 never happens in Paris.
        let skipped = decode(&row("s1", "2024-03-31 02:30", "20"), &paris).unwrap_err();
        assert_eq!(skipped.reason, DeadLetterReason::InvalidTimestamp);
        assert!(skipped.detail.contains("does not exist in Europe/Paris"), "{}", skipped.detail);
        assert_eq!(reason(&row("s1", "2025-07-01 14:05", "20")), Some(DeadLetterReason::InvalidTimestamp), "no zone declared");
        let french = local("Europe/Paris", Some("%d/%m/%Y %H:%M"));
        assert_eq!(ts("01/07/2025 14:05", &french), Ok(1_751_371_500_000));
        assert_eq!(decode(&row("s1", "2025-07-01 14:05", "20"), &french).map_err(|e| e.reason), Err(DeadLetterReason::InvalidTimestamp));
        let with_offset = TableFormat { ts_format: Some("%d/%m/%Y %H:%M %z".into()), ..TableFormat::default() };
        assert_eq!(ts("01/07/2025 14:05 +0200", &with_offset), Ok(1_751_371_500_000));
        let wall = TableRow { ts: Cell::WallClock(1_751_378_700_000), ..row("s1", "", "20") };
        assert_eq!(decode(&wall, &paris).map(|r| r.ts_ms()), Ok(1_751_371_500_000), "Parquet wall clock 14:05 in Paris");
        let wall = TableRow { ts: Cell::WallClock(1_751_371_500_000), ..wall };
        assert_eq!(decode(&wall, &TableFormat::default()).map(|r| r.ts_ms()), Ok(1_751_371_500_000), "UTC without a zone");
    }

    #[test]
    fn bad_rows_give_the_live_reasons() {
        use DeadLetterReason as R;
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "warm")), Some(R::WrongType));
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "NaN")), Some(R::NonFiniteValue));
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "150")), Some(R::ImpossibleValue));
        assert_eq!(reason(&row("s1", "yesterday", "20")), Some(R::InvalidTimestamp));
        assert_eq!(reason(&row("s1", "2035-07-01T12:05:00Z", "20")), Some(R::TimestampInFuture));
        assert_eq!(reason(&row("s1", "0", "20")), Some(R::TimestampTooOld));
        assert_eq!(reason(&row("s 1", "2025-07-01T12:05:00Z", "20")), Some(R::InvalidIdentifier));
        let detail = decode(&row("s1", "2025-07-01T12:05:00Z", "150"), &TableFormat::default()).unwrap_err().detail;
        assert_eq!(detail, "`temperature_c` = 150 °C is physically impossible (limits -90 to 70 °C)");
    }
}
