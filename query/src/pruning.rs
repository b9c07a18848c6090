//! Partition pruning for the `readings`, `hourly_rollup` and period-summary tables: from the
//! query's filters, the range of days (`date` partition, or a summary's period column) and the
//! networks a scan can touch. Predicates on `ts` (or `hour`) are turned into date bounds, so
//! "last week" reads last week's partitions only. A [`PartitionBounds`] set as a session
//! extension ([`PartitionBounds::of_session`]) narrows every scan of the session the same way:
//! the period summaries compute one network-month through the ordinary views with it.

use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the filters allow, as inclusive bounds on the partition values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionBounds {
    /// Days since the Unix epoch.
    pub min_day: Option<i32>,
    pub max_day: Option<i32>,
    pub networks: Option<BTreeSet<String>>,
}

const DAY_MS: i64 = 86_400_000;

impl PartitionBounds {
    /// Bounds on the `date` partition (and `ts`, `hour`, `network`) from a scan's filters.
    pub fn from_filters(filters: &[Expr]) -> Self {
        Self::from_filters_on(filters, "date")
    }

    /// Bounds from a scan's filters, reading `day_column` (a Date32 column) as the day.
    pub fn from_filters_on(filters: &[Expr], day_column: &str) -> Self {
        let mut b = Self::default();
        for f in filters {
            b.absorb(f, day_column);
        }
        b
    }

    /// The bounds of one network over days `first..=last`.
    pub fn window(network: &str, first: i32, last: i32) -> Self {
        Self { min_day: Some(first), max_day: Some(last), networks: Some(BTreeSet::from([network.to_owned()])) }
    }

    /// The bounds the session narrows every scan to, if any (set with
    /// `SessionConfig::set_extension`).
    pub fn of_session(state: &dyn Session) -> Option<Arc<Self>> {
        state.config().get_extension::<Self>()
    }

    /// These bounds narrowed by the session's, if it sets any.
    pub fn within_session(mut self, state: &dyn Session) -> Self {
        if let Some(w) = Self::of_session(state) {
            if let Some(d) = w.min_day {
                self.lower(d);
            }
            if let Some(d) = w.max_day {
                self.upper(d);
            }
            if let Some(set) = &w.networks {
                self.networks = Some(match self.networks.take() {
                    Some(mine) => mine.intersection(set).cloned().collect(),
                    None => set.clone(),
                });
            }
        }
        self
    }

    pub fn admits(&self, network: Option<&str>, day: i32) -> bool {
        self.min_day.is_none_or(|m| day >= m)
            && self.max_day.is_none_or(|m| day <= m)
            && match (&self.networks, network) {
                (Some(set), Some(n)) => set.contains(n),
                _ => true,
            }
    }

    fn lower(&mut self, day: i32) {
        self.min_day = Some(self.min_day.map_or(day, |d| d.max(day)));
    }

    fn upper(&mut self, day: i32) {
        self.max_day = Some(self.max_day.map_or(day, |d| d.min(day)));
    }

    fn absorb(&mut self, expr: &Expr, day_column: &str) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.absorb(left, day_column);
                self.absorb(right, day_column);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if let Some((column, value, op)) = column_op_literal(left, *op, right) {
                    self.constrain(column, &value, op, day_column);
                }
            }
            Expr::Between(Between { expr, negated: false, low, high }) => {
                if let (Expr::Column(c), Expr::Literal(lo, _), Expr::Literal(hi, _)) = (expr.as_ref(), low.as_ref(), high.as_ref()) {
                    self.constrain(&c.name, lo, Operator::GtEq, day_column);
                    self.constrain(&c.name, hi, Operator::LtEq, day_column);
                }
            }
            Expr::InList(list) if !list.negated => {
                if let Expr::Column(c) = list.expr.as_ref()
                    && c.name == "network"
                {
                    let values: Option<BTreeSet<String>> = list
                        .list
                        .iter()
                        .map(|e| match e {
                            Expr::Literal(v, _) => utf8(v),
                            _ => None,
                        })
                        .collect();
                    if let Some(values) = values {
                        self.networks = Some(values);
                    }
                }
            }
            _ => {}
        }
    }

    fn constrain(&mut self, column: &str, value: &ScalarValue, op: Operator, day_column: &str) {
        match column {
            "ts" | "hour" if day_column == "date" => self.constrain_instant(value, op),
            // A day column compared with a timestamp (`night >= now() - INTERVAL '7 days'`)
            // is bounded like an instant: the bounds then admit the whole boundary day.
            c if c == day_column => match date_days(value) {
                Some(day) => self.constrain_day(day, op),
                None => self.constrain_instant(value, op),
            },
            "network" if op == Operator::Eq => {
                if let Some(n) = utf8(value) {
                    self.networks = Some(BTreeSet::from([n]));
                }
            }
            _ => {}
        }
    }

    fn constrain_instant(&mut self, value: &ScalarValue, op: Operator) {
        let Some((ms, ms_ceil)) = timestamp_ms(value) else { return };
        let day = ms.div_euclid(DAY_MS) as i32;
        match op {
            Operator::Gt | Operator::GtEq => self.lower(day),
            // ts < x: the last instant allowed is just before x (x rounded up to the ms).
            Operator::Lt => self.upper((ms_ceil - 1).div_euclid(DAY_MS) as i32),
            Operator::LtEq => self.upper(day),
            Operator::Eq => {
                self.lower(day);
                self.upper(day);
            }
            _ => {}
        }
    }

    fn constrain_day(&mut self, day: i32, op: Operator) {
        match op {
            Operator::Gt => self.lower(day + 1),
            Operator::GtEq => self.lower(day),
            Operator::Lt => self.upper(day - 1),
            Operator::LtEq => self.upper(day),
            Operator::Eq => {
                self.lower(day);
                self.upper(day);
            }
            _ => {}
        }
    }
}

/// `column op literal` or `literal op column` (flipped), looking through casts of the literal.
fn column_op_literal<'a>(left: &'a Expr, op: Operator, right: &'a Expr) -> Option<(&'a str, ScalarValue, Operator)> {
    match (strip_cast(left), strip_cast(right)) {
        (Expr::Column(c), Expr::Literal(v, _)) => Some((c.name.as_str(), v.clone(), op)),
        (Expr::Literal(v, _), Expr::Column(c)) => Some((c.name.as_str(), v.clone(), op.swap()?)),
        _ => None,
    }
}

fn strip_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_cast(&c.expr),
        Expr::TryCast(c) => strip_cast(&c.expr),
        other => other,
    }
}

/// A timestamp literal in milliseconds, rounded down and up (they differ for sub-ms literals).
fn timestamp_ms(v: &ScalarValue) -> Option<(i64, i64)> {
    let floor_ceil = |x: i64, per_ms: i64| (x.div_euclid(per_ms), x.div_euclid(per_ms) + i64::from(x.rem_euclid(per_ms) != 0));
    match v {
        ScalarValue::TimestampSecond(Some(s), _) => Some((s * 1000, s * 1000)),
        ScalarValue::TimestampMillisecond(Some(ms), _) => Some((*ms, *ms)),
        ScalarValue::TimestampMicrosecond(Some(us), _) => Some(floor_ceil(*us, 1000)),
        ScalarValue::TimestampNanosecond(Some(ns), _) => Some(floor_ceil(*ns, 1_000_000)),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            let d = chrono::DateTime::parse_from_rfc3339(s).ok()?;
            Some(floor_ceil(d.timestamp_nanos_opt()?, 1_000_000))
        }
        _ => None,
    }
}

fn date_days(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Date32(Some(d)) => Some(*d),
        ScalarValue::Date64(Some(ms)) => Some(ms.div_euclid(DAY_MS) as i32),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| (d - chrono::NaiveDate::default()).num_days() as i32)
        }
        _ => None,
    }
}

fn utf8(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Days since the Unix epoch of a `date` partition value.
pub fn day_number(date: chrono::NaiveDate) -> i32 {
    (date - chrono::NaiveDate::default()).num_days() as i32
}

/// The date of a day number (days since the Unix epoch): the inverse of [`day_number`].
pub fn date_of_day(day: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::default() + chrono::TimeDelta::days(i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn a_period_column_is_bounded_by_dates_and_by_timestamps() {
        let july_5 = ScalarValue::Date32(Some(20_274));
        let b = PartitionBounds::from_filters_on(&[col("night").gt(lit(july_5.clone()))], "night");
        assert_eq!((b.min_day, b.max_day), (Some(20_275), None));
        // `night >= now() - INTERVAL ...` reaches the scan as a timestamp: the day holding it.
        let noon = ScalarValue::TimestampMillisecond(Some(20_274 * DAY_MS + DAY_MS / 2), Some("UTC".into()));
        let b = PartitionBounds::from_filters_on(&[col("night").gt_eq(lit(noon.clone())), col("ts").lt(lit(noon))], "night");
        assert_eq!((b.min_day, b.max_day), (Some(20_274), None), "ts is not the period column");
    }

    #[test]
    fn ts_range_becomes_date_bounds() {
        let start = ScalarValue::TimestampMillisecond(Some(1_751_328_000_000), Some("UTC".into())); // 2025-07-01
        let end = ScalarValue::TimestampMillisecond(Some(1_751_328_000_000 + 2 * DAY_MS), Some("UTC".into()));
        let b = PartitionBounds::from_filters(&[col("ts").gt_eq(lit(start)).and(col("ts").lt(lit(end))), col("network").eq(lit("toulouse"))]);
        let d0 = (1_751_328_000_000 / DAY_MS) as i32;
        assert_eq!((b.min_day, b.max_day), (Some(d0), Some(d0 + 1)), "half-open end excludes the third day");
        assert!(b.admits(Some("toulouse"), d0) && !b.admits(Some("rennes"), d0) && !b.admits(Some("toulouse"), d0 + 2));
    }

    #[test]
    fn a_sub_millisecond_upper_bound_keeps_the_midnight_row() {
        // ts < 00:00:00.0003 admits a row at exactly 00:00:00.000 of that day.
        let midnight_us = 1_751_328_000_000_000i64;
        let b = PartitionBounds::from_filters(&[col("ts").lt(lit(ScalarValue::TimestampMicrosecond(Some(midnight_us + 300), Some("UTC".into()))))]);
        assert_eq!(b.max_day, Some((midnight_us / 1000 / DAY_MS) as i32));
    }
}
