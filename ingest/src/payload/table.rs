//! Rows of a table (CSV or Parquet file, `ilot import`) validated exactly like a canonical
//! record: sensor identifier, measurement time and its window, physical limits, quantisation.
//! The only differences are how values arrive (text cells or typed columns instead of JSON)
//! and that `ts` as a number is Unix **milliseconds** (the convention of tabular exports).

use super::DecodeLimits;
use super::validate::{self, Invalid};
use crate::dead_letter::DeadLetterReason;
use crate::reading::Reading;

/// A cell of a table as the file gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Absent column, empty cell or null.
    Missing,
    /// A typed number (Parquet).
    Number(f64),
    /// A typed integer (Parquet `ts` as Int64 ms, or a timestamp already in ms).
    Integer(i64),
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
/// temperature, humidity, battery); the first failure is the reason. The reading gets
/// `received_at_ms` and `qc_flags = 0`.
pub fn decode_row(network: &str, row: &TableRow<'_>, received_at_ms: i64, limits: &DecodeLimits) -> Result<Reading, Rejected> {
    validate::identifier("network", network)?;
    let sensor_id = match row.sensor_id {
        Cell::Missing => return Err(Invalid::Missing("sensor_id").into()),
        Cell::Text(text) => text.trim(),
        Cell::Number(_) | Cell::Integer(_) => {
            return Err(Invalid::WrongType { field: "sensor_id", expected: "a string", found: "a number".to_owned() }.into());
        }
    };
    validate::identifier("sensor", sensor_id)?;
    let ts_ms = validate::time_window(timestamp(row.ts)?, received_at_ms, limits)?;
    let temperature = validate::required("temperature_c", number("temperature_c", row.temperature_c)?)?;
    let temperature_centi_c = validate::temperature_c("temperature_c", temperature)?;
    let humidity_deci_pct =
        number("humidity_pct", row.humidity_pct)?.map(|v| validate::humidity_pct("humidity_pct", v)).transpose()?;
    let battery_mv = number("battery_v", row.battery_v)?.map(|v| validate::battery_v("battery_v", v)).transpose()?;
    Ok(Reading {
        network: network.to_owned(),
        sensor_id: sensor_id.to_owned(),
        ts_ms,
        temperature_centi_c,
        humidity_deci_pct,
        battery_mv,
        seq: None,
        received_at_ms,
        qc_flags: 0,
    })
}

/// `ts`: RFC 3339 text with its offset, or an integer of Unix milliseconds (text or typed).
fn timestamp(cell: Cell<'_>) -> Result<i64, Invalid> {
    const FIELD: &str = "ts";
    match cell {
        Cell::Missing => Err(Invalid::Missing(FIELD)),
        Cell::Integer(ms) => Ok(ms),
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
                validate::rfc3339_ms(FIELD, text)
            }
        }
    }
}

/// A measured value: finite, from a typed number or from text (`24.3`, also `24,3`).
fn number(field: &'static str, cell: Cell<'_>) -> Result<Option<f64>, Invalid> {
    let value = match cell {
        Cell::Missing => return Ok(None),
        Cell::Number(value) => value,
        Cell::Integer(value) => value as f64,
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

    fn reason(r: &TableRow<'_>) -> Option<DeadLetterReason> {
        decode_row("tls", r, NOW, &DecodeLimits::default()).err().map(|e| e.reason)
    }

    #[test]
    fn rows_quantise_like_canonical_records() {
        let a = decode_row("tls", &row("s1", "2025-07-01T12:05:00Z", "24.31"), NOW, &DecodeLimits::default()).unwrap();
        let b = decode_row("tls", &row("s1", "1751371500000", "24,310000001"), NOW, &DecodeLimits::default()).unwrap();
        assert_eq!((a.ts_ms, a.temperature_centi_c, a.battery_mv), (1_751_371_500_000, 2431, None));
        assert_eq!(a, b);
    }

    #[test]
    fn bad_rows_give_the_live_reasons() {
        use DeadLetterReason as R;
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "warm")), Some(R::WrongType));
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "NaN")), Some(R::NonFiniteValue));
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "150")), Some(R::ImpossibleValue));
        assert_eq!(reason(&row("s1", "2025-07-01T12:05:00Z", "")), Some(R::MissingField));
        assert_eq!(reason(&row("s1", "yesterday", "20")), Some(R::InvalidTimestamp));
        assert_eq!(reason(&row("s1", "2035-07-01T12:05:00Z", "20")), Some(R::TimestampInFuture));
        assert_eq!(reason(&row("s1", "0", "20")), Some(R::TimestampTooOld));
        assert_eq!(reason(&row("s 1", "2025-07-01T12:05:00Z", "20")), Some(R::InvalidIdentifier));
        let detail = decode_row("tls", &row("s1", "2025-07-01T12:05:00Z", "150"), NOW, &DecodeLimits::default()).unwrap_err().detail;
        assert_eq!(detail, "`temperature_c` = 150 °C is physically impossible (limits -90 to 70 °C)");
    }
}
