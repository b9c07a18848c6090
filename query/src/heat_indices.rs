//! Heat indices as SQL scalar functions: `heat_index(t_c, rh)`, `humidex(t_c, rh)` and
//! `dew_point(t_c, rh)` (docs/domain.md §4, docs/sql.md "Functions").
//!
//! This module owns the pure math (`heat_index_c`, `humidex_c`, `humidex_from_dew_point_c`,
//! `dew_point_c`) and one generic DataFusion UDF (`BinaryF64Udf`) that applies a
//! `fn(f64, f64) -> Option<f64>` over Float64 Arrow arrays, registered by [`register`].
//!
//! These indices are **informational only**: they are offered to analysts and dashboards and are
//! never used for the canicule criterion, which depends on Tn/Tx alone (IBMn/IBMx thresholds).
//!
//! Conventions shared by the three functions: temperatures in °C, relative humidity in %;
//! NULL in → NULL out; RH outside (0, 100] or a non-finite input or result → NULL (not an error).

use std::hash::{Hash, Hasher};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, new_null_array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Magnus coefficient `a` (dimensionless), over water: Sonntag (1990), as given by the WMO
/// CIMO Guide (WMO-No. 8, Annex 4.B): `e_w(t) = 6.112 · exp(17.62 · t / (243.12 + t))` hPa.
pub const MAGNUS_A: f64 = 17.62;
/// Magnus coefficient `b`, °C (same source as [`MAGNUS_A`]; valid about −45 … 60 °C).
pub const MAGNUS_B_C: f64 = 243.12;

fn c_to_f(t_c: f64) -> f64 {
    t_c * 1.8 + 32.0
}

fn f_to_c(t_f: f64) -> f64 {
    (t_f - 32.0) / 1.8
}

/// `Some(v)` when `v` is finite, else `None`.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// RH in (0, 100] % and a finite temperature: the inputs all three indices accept.
fn valid_inputs(t_c: f64, rh: f64) -> bool {
    t_c.is_finite() && rh.is_finite() && rh > 0.0 && rh <= 100.0
}

/// NWS "simple" heat index (Steadman), °F in, °F out.
fn heat_index_simple_f(t_f: f64, rh: f64) -> f64 {
    0.5 * (t_f + 61.0 + (t_f - 68.0) * 1.2 + rh * 0.094)
}

/// Rothfusz regression with the NWS low- and high-humidity adjustments, °F in, °F out.
fn heat_index_rothfusz_f(t: f64, rh: f64) -> f64 {
    let mut hi = -42.379 + 2.04901523 * t + 10.14333127 * rh
        - 0.22475541 * t * rh
        - 0.00683783 * t * t
        - 0.05481717 * rh * rh
        + 0.00122874 * t * t * rh
        + 0.00085282 * t * rh * rh
        - 0.00000199 * t * t * rh * rh;
    if rh < 13.0 && (80.0..=112.0).contains(&t) {
        hi -= ((13.0 - rh) / 4.0) * ((17.0 - (t - 95.0).abs()) / 17.0).sqrt();
    }
    if rh > 85.0 && (80.0..=87.0).contains(&t) {
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0);
    }
    hi
}

/// NOAA heat index (NWS algorithm, <https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml>),
/// °C. Computes the simple formula in °F; when the mean of that and T is ≥ 80 °F, uses the
/// Rothfusz regression with the NWS adjustments instead. `None` for RH outside (0, 100].
pub fn heat_index_c(t_c: f64, rh: f64) -> Option<f64> {
    if !valid_inputs(t_c, rh) {
        return None;
    }
    let t_f = c_to_f(t_c);
    let simple = heat_index_simple_f(t_f, rh);
    let hi_f = if (simple + t_f) / 2.0 >= 80.0 { heat_index_rothfusz_f(t_f, rh) } else { simple };
    finite(f_to_c(hi_f))
}

/// Dew point, °C, by the Magnus formula with [`MAGNUS_A`] and [`MAGNUS_B_C`]:
/// `γ = ln(RH/100) + a·T/(b+T)`, `Td = b·γ/(a−γ)`. `None` for RH outside (0, 100].
pub fn dew_point_c(t_c: f64, rh: f64) -> Option<f64> {
    if !valid_inputs(t_c, rh) {
        return None;
    }
    let gamma = (rh / 100.0).ln() + MAGNUS_A * t_c / (MAGNUS_B_C + t_c);
    finite(MAGNUS_B_C * gamma / (MAGNUS_A - gamma))
}

/// Humidex (Environment Canada), °C, from the temperature and the dew point:
/// `T + 0.5555·(e − 10)`, `e = 6.11·exp(5417.7530·(1/273.16 − 1/Td_K))` hPa, `Td_K = Td + 273.15`.
/// No reporting threshold is applied.
pub fn humidex_from_dew_point_c(t_c: f64, td_c: f64) -> Option<f64> {
    if !t_c.is_finite() || !td_c.is_finite() {
        return None;
    }
    let e = 6.11 * (5417.7530 * (1.0 / 273.16 - 1.0 / (td_c + 273.15))).exp();
    finite(t_c + 0.5555 * (e - 10.0))
}

/// Humidex, °C, from temperature and relative humidity (dew point by [`dew_point_c`]).
/// `None` for RH outside (0, 100].
pub fn humidex_c(t_c: f64, rh: f64) -> Option<f64> {
    humidex_from_dew_point_c(t_c, dew_point_c(t_c, rh)?)
}

/// A scalar SQL function `name(Float64, Float64) -> Float64` applying `f` element-wise;
/// NULL in either argument, or `f` returning `None`, gives NULL.
#[derive(Debug)]
pub struct BinaryF64Udf {
    name: &'static str,
    f: fn(f64, f64) -> Option<f64>,
    signature: Signature,
}

impl BinaryF64Udf {
    pub fn new(name: &'static str, f: fn(f64, f64) -> Option<f64>) -> Self {
        Self { name, f, signature: Signature::exact(vec![DataType::Float64, DataType::Float64], Volatility::Immutable) }
    }
}

// Identity is the function name (one name, one function); comparing `fn` pointers is unreliable.
impl PartialEq for BinaryF64Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for BinaryF64Udf {}

impl Hash for BinaryF64Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// A Float64 argument, as an array or as a constant.
enum Operand<'a> {
    Array(&'a Float64Array),
    Scalar(Option<f64>),
}

fn operand<'a>(name: &str, v: &'a ColumnarValue) -> Result<Operand<'a>> {
    match v {
        ColumnarValue::Array(a) => match a.as_primitive_opt::<Float64Type>() {
            Some(a) => Ok(Operand::Array(a)),
            None => exec_err!("{name}: expected Float64 arguments, got {}", a.data_type()),
        },
        ColumnarValue::Scalar(ScalarValue::Float64(v)) => Ok(Operand::Scalar(*v)),
        ColumnarValue::Scalar(ScalarValue::Null) => Ok(Operand::Scalar(None)),
        ColumnarValue::Scalar(s) => exec_err!("{name}: expected Float64 arguments, got {}", s.data_type()),
    }
}

impl ScalarUDFImpl for BinaryF64Udf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("{} takes 2 arguments, got {}", self.name, args.args.len());
        };
        let f = self.f;
        let out: Float64Array = match (operand(self.name, a)?, operand(self.name, b)?) {
            (Operand::Scalar(x), Operand::Scalar(y)) => {
                let v = x.zip(y).and_then(|(x, y)| f(x, y));
                return Ok(ColumnarValue::Scalar(ScalarValue::Float64(v)));
            }
            (Operand::Array(x), Operand::Scalar(None)) | (Operand::Scalar(None), Operand::Array(x)) => {
                let nulls: ArrayRef = new_null_array(&DataType::Float64, x.len());
                return Ok(ColumnarValue::Array(nulls));
            }
            (Operand::Array(x), Operand::Scalar(Some(y))) => x.unary_opt(|x| f(x, y)),
            (Operand::Scalar(Some(x)), Operand::Array(y)) => y.unary_opt(|y| f(x, y)),
            (Operand::Array(x), Operand::Array(y)) => {
                if x.len() != y.len() {
                    return exec_err!("{}: argument arrays differ in length ({} vs {})", self.name, x.len(), y.len());
                }
                x.iter().zip(y.iter()).map(|(x, y)| f(x?, y?)).collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The three SQL functions: `heat_index`, `humidex`, `dew_point`.
pub fn udfs() -> [ScalarUDF; 3] {
    [
        ScalarUDF::new_from_impl(BinaryF64Udf::new("heat_index", heat_index_c)),
        ScalarUDF::new_from_impl(BinaryF64Udf::new("humidex", humidex_c)),
        ScalarUDF::new_from_impl(BinaryF64Udf::new("dew_point", dew_point_c)),
    ]
}

/// Register the heat-index functions with a session.
pub fn register(ctx: &SessionContext) {
    for udf in udfs() {
        ctx.register_udf(udf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round2(v: f64) -> f64 {
        (v * 100.0).round() / 100.0
    }

    /// `actual` rounds to `rounded` at 0.01 and is within 1e-9 of the full-precision `exact`.
    fn check(actual: Option<f64>, rounded: f64, exact: f64) {
        let v = actual.expect("a value");
        assert_eq!(round2(v), rounded, "{v} does not round to {rounded}");
        assert!((v - exact).abs() < 1e-9, "{v} vs {exact}");
    }

    #[test]
    fn heat_index_domain_vectors() {
        check(heat_index_c(32.0, 60.0), 37.07, 37.074284121777);
        check(heat_index_c(35.0, 40.0), 37.22, 37.216351055555);
        check(heat_index_c(30.0, 70.0), 35.04, 35.038017555555);
        // 80.6 °F, 90 %: the NWS high-humidity adjustment applies (+0.64 °F).
        check(heat_index_c(27.0, 90.0), 31.09, 31.090676964000);
    }

    #[test]
    fn heat_index_branches() {
        // Below the switch: the simple formula (68 °F, 50 % → 66.85 °F).
        check(heat_index_c(20.0, 50.0), 19.36, f_to_c(66.85));
        // T < 80 °F but mean(simple, T) ≥ 80 °F: the regression, without adjustment.
        let t_f = 79.0;
        assert!((heat_index_simple_f(t_f, 100.0) + t_f) / 2.0 >= 80.0);
        let v = heat_index_c(f_to_c(t_f), 100.0).unwrap();
        assert!((v - f_to_c(heat_index_rothfusz_f(t_f, 100.0))).abs() < 1e-9);
        // Low-humidity adjustment: 104 °F, 10 % → subtract 0.75·sqrt(8/17) °F.
        let plain = -42.379 + 2.04901523 * 104.0 + 10.14333127 * 10.0 - 0.22475541 * 1040.0 - 0.00683783 * 10816.0
            - 0.05481717 * 100.0
            + 0.00122874 * 10816.0 * 10.0
            + 0.00085282 * 104.0 * 100.0
            - 0.00000199 * 10816.0 * 100.0;
        let adjusted = plain - 0.75 * (8.0_f64 / 17.0).sqrt();
        assert!((heat_index_c(40.0, 10.0).unwrap() - f_to_c(adjusted)).abs() < 1e-9);
    }

    #[test]
    fn humidex_domain_vector() {
        check(humidex_from_dew_point_c(30.0, 20.0), 37.57, 37.569777526339);
        // Through RH: the RH that gives Td = 20 °C at 30 °C by the same Magnus constants.
        let rh = 100.0 * (MAGNUS_A * 20.0 / (MAGNUS_B_C + 20.0) - MAGNUS_A * 30.0 / (MAGNUS_B_C + 30.0)).exp();
        assert!((dew_point_c(30.0, rh).unwrap() - 20.0).abs() < 1e-9);
        check(humidex_c(30.0, rh), 37.57, 37.569777526339);
    }

    #[test]
    fn dew_point_values_and_domain() {
        assert!((dew_point_c(25.0, 100.0).unwrap() - 25.0).abs() < 1e-9);
        // 30 °C, 55 %: 19.97 °C.
        assert_eq!(round2(dew_point_c(30.0, 55.0).unwrap()), 19.97);
        assert_eq!(dew_point_c(20.0, 0.0), None);
        assert_eq!(dew_point_c(20.0, -5.0), None);
        assert_eq!(dew_point_c(20.0, 100.1), None);
        assert_eq!(dew_point_c(f64::NAN, 50.0), None);
        assert_eq!(humidex_c(30.0, 120.0), None);
        assert_eq!(heat_index_c(30.0, 0.0), None);
    }

    async fn sql_f64s(sql: &str) -> Vec<Option<f64>> {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in &batches {
            assert_eq!(b.schema().field(0).data_type(), &DataType::Float64);
            out.extend(b.column(0).as_primitive::<Float64Type>().iter());
        }
        out
    }

    #[tokio::test]
    async fn sql_scalar_calls() {
        let one = |v: Vec<Option<f64>>| v.into_iter().next().flatten().map(round2);
        assert_eq!(one(sql_f64s("SELECT heat_index(32.0, 60.0)").await), Some(37.07));
        assert_eq!(one(sql_f64s("SELECT heat_index(35, 40)").await), Some(37.22));
        assert_eq!(one(sql_f64s("SELECT dew_point(30.0, 55.0)").await), Some(19.97));
        assert_eq!(one(sql_f64s("SELECT humidex(30.0, 55.0)").await), Some(37.55));
    }

    #[tokio::test]
    async fn sql_over_arrays_with_nulls() {
        let sql = "SELECT heat_index(t, rh) FROM (VALUES \
            (32.0, 60.0), (NULL, 60.0), (30.0, NULL), (27.0, 90.0), (30.0, 150.0)) AS v(t, rh)";
        let got: Vec<Option<f64>> = sql_f64s(sql).await.into_iter().map(|v| v.map(round2)).collect();
        assert_eq!(got, vec![Some(37.07), None, None, Some(31.09), None]);
        // Array with a scalar, and a NULL literal.
        let sql = "SELECT dew_point(t, 100.0), humidex(t, NULL) FROM (VALUES (25.0), (NULL)) AS v(t)";
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let b = &batches[0];
        let td = b.column(0).as_primitive::<Float64Type>();
        assert!((td.value(0) - 25.0).abs() < 1e-9);
        assert!(td.is_null(1));
        assert_eq!(b.column(1).null_count(), 2);
        assert_eq!(sql_f64s("SELECT heat_index(NULL, 50.0)").await, vec![None]);
        assert_eq!(sql_f64s("SELECT dew_point(20.0, 0.0)").await, vec![None]);
    }

    #[test]
    fn vectorised_invoke_array_array() {
        let udf = ScalarUDF::new_from_impl(BinaryF64Udf::new("heat_index", heat_index_c));
        let t: ArrayRef = Arc::new(Float64Array::from(vec![Some(32.0), None, Some(35.0)]));
        let rh: ArrayRef = Arc::new(Float64Array::from(vec![Some(60.0), Some(50.0), Some(40.0)]));
        let field = |n: &str| Arc::new(datafusion::arrow::datatypes::Field::new(n, DataType::Float64, true));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(t), ColumnarValue::Array(rh)],
                arg_fields: vec![field("t"), field("rh")],
                number_rows: 3,
                return_field: field("out"),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(out) = out else { panic!("expected an array") };
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(round2(out.value(0)), 37.07);
        assert!(out.is_null(1));
        assert_eq!(round2(out.value(2)), 37.22);
    }
}
