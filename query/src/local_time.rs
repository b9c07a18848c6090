//! Local-time calendar functions for dashboards, right across daylight-saving changes:
//! `local_date(ts, tz)` (the civil date of an instant in an IANA zone) and
//! `local_day_start(ts, tz)` (the UTC instant at which that civil day began: 23 hours before the
//! next one on the spring-forward day, 25 on the fall-back day in Europe/Paris).
//!
//! Climate indicators stay in UTC (domain.md §2); these functions are for showing people
//! "today" in their own time. They avoid `date_bin`/`date_trunc` with a zone, which have open
//! DST bugs in DataFusion (apache/datafusion #10308, #10602).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Civil date of `ts_ms` in `tz`.
pub fn local_date(ts_ms: i64, tz: Tz) -> Option<NaiveDate> {
    Some(DateTime::<Utc>::from_timestamp_millis(ts_ms)?.with_timezone(&tz).date_naive())
}

/// UTC instant (ms) at which the civil day containing `ts_ms` began in `tz`.
pub fn local_day_start_ms(ts_ms: i64, tz: Tz) -> Option<i64> {
    let midnight = local_date(ts_ms, tz)?.and_hms_opt(0, 0, 0)?;
    // Midnight itself may be skipped by a DST change in some zones: the day then starts at the
    // first instant that exists.
    (0..=120)
        .find_map(|minutes| tz.from_local_datetime(&(midnight + chrono::Duration::minutes(minutes))).earliest())
        .map(|d| d.timestamp_millis())
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    Date,
    DayStart,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalTimeUdf {
    kind: Kind,
    signature: Signature,
}

impl LocalTimeUdf {
    fn new(kind: Kind) -> Self {
        let sig = |tz: DataType| TypeSignature::Exact(vec![utc_ms(), tz]);
        Self { kind, signature: Signature::one_of(vec![sig(DataType::Utf8), sig(DataType::Utf8View)], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for LocalTimeUdf {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Date => "local_date",
            Kind::DayStart => "local_day_start",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Date => DataType::Date32,
            Kind::DayStart => utc_ms(),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts, zone] = args.args.as_slice() else {
            return exec_err!("{} takes (ts, time_zone)", self.name());
        };
        let zone = match zone {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)) | ScalarValue::Utf8View(Some(z))) => z.clone(),
            _ => return exec_err!("{}: the time zone must be a constant such as 'Europe/Paris'", self.name()),
        };
        let Ok(tz) = zone.parse::<Tz>() else {
            return exec_err!("{}: unknown time zone {zone:?} (use an IANA name such as 'Europe/Paris')", self.name());
        };
        let ts = ts.to_array(args.number_rows)?;
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let days_since_epoch = |d: NaiveDate| (d - NaiveDate::default()).num_days() as i32;
        let out: ArrayRef = match self.kind {
            Kind::Date => Arc::new(ts.iter().map(|t| local_date(t?, tz).map(days_since_epoch)).collect::<Date32Array>()),
            Kind::DayStart => {
                Arc::new(ts.iter().map(|t| local_day_start_ms(t?, tz)).collect::<TimestampMillisecondArray>().with_timezone("UTC"))
            }
        };
        debug_assert_eq!(out.len(), args.number_rows);
        Ok(ColumnarValue::Array(out))
    }
}

/// Register `local_date` and `local_day_start` with a session.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(LocalTimeUdf::new(Kind::Date)));
    ctx.register_udf(ScalarUDF::new_from_impl(LocalTimeUdf::new(Kind::DayStart)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    async fn sql(q: &str) -> String {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(q).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// Hourly instants from `from` (inclusive) to `to` (exclusive), as a SQL table `h(ts)`.
    fn hours(from: &str, to: &str) -> String {
        format!(
            "SELECT CAST(unnest(generate_series(TIMESTAMP '{from}', TIMESTAMP '{to}' - INTERVAL '1 hour', INTERVAL '1 hour')) AS TIMESTAMP(3)) AT TIME ZONE 'UTC' AS ts"
        )
    }

    #[tokio::test]
    async fn the_spring_forward_day_has_23_hours_and_the_fall_back_day_25() {
        for (from, to, day, hours_in_day) in [
            ("2025-03-29T12:00:00", "2025-03-31T12:00:00", "2025-03-30", 23),
            ("2025-10-25T12:00:00", "2025-10-27T12:00:00", "2025-10-26", 25),
        ] {
            let q = format!(
                "SELECT count(*) AS n FROM ({}) h WHERE local_date(ts, 'Europe/Paris') = DATE '{day}'",
                hours(from, to)
            );
            let out = sql(&q).await;
            assert!(out.contains(&format!("| {hours_in_day} ")), "{day}: {out}");
        }
    }

    #[test]
    fn local_days_start_at_local_midnight_in_utc() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let ms = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        assert_eq!(local_day_start_ms(ms("2025-03-30T12:00:00Z"), paris), Some(ms("2025-03-29T23:00:00Z")));
        assert_eq!(local_day_start_ms(ms("2025-03-31T12:00:00Z"), paris), Some(ms("2025-03-30T22:00:00Z")));
        assert_eq!(local_day_start_ms(ms("2025-10-26T12:00:00Z"), paris), Some(ms("2025-10-25T22:00:00Z")));
        assert_eq!(local_day_start_ms(ms("2025-10-27T12:00:00Z"), paris), Some(ms("2025-10-26T23:00:00Z")));
        // 23:30 UTC on 29 March is already 30 March in Paris.
        assert_eq!(local_date(ms("2025-03-29T23:30:00Z"), paris), NaiveDate::from_ymd_opt(2025, 3, 30));
    }

    #[tokio::test]
    async fn an_unknown_zone_is_a_clear_error() {
        let ctx = SessionContext::new();
        register(&ctx);
        let err = ctx
            .sql("SELECT local_date(CAST(now() AS TIMESTAMP(3)) AT TIME ZONE 'UTC', 'Mars/Olympus')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown time zone"), "{err}");
    }
}
