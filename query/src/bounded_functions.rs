//! SQL functions that could build a value larger than memory, replaced by bounded versions.
//!
//! DataFusion's memory pool sees what operators buffer (sorts, joins, aggregates), not what a
//! scalar function allocates for its result: `repeat('x', 1e9)`, `array_repeat(1, 3e8)` or
//! `range(1e9)` would allocate gigabytes in one call, before any limit or deadline could act.
//! Each function below is registered under its own name (and aliases) as a wrapper that
//! estimates, **before** calling the original, how many bytes it will produce for the batch
//! at hand, and refuses beyond [`MAX_FUNCTION_OUTPUT_BYTES`]; every wrapper also checks the
//! size actually produced, which bounds the functions that only combine their inputs
//! (`concat`, arrays appended together) — whose inputs are bounded the same way.
//! `||` between strings is an operator, not a function: an analyzer rule wraps each one in
//! `checked_size(…)`, a pass-through that applies the same check to what it produced, so a chain
//! `v || v || …` fails at its first oversized step.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{cast, kernels::length::length};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type, IntervalMonthDayNanoType, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, LogicalPlan, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// Most bytes one function call may produce for one batch of rows.
pub const MAX_FUNCTION_OUTPUT_BYTES: u64 = 64 << 20;

/// How a function's output size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(s, n)`: Σ len(s) × n.
    Repeat,
    /// `lpad`/`rpad(s, n[, fill])`: Σ n characters, up to 4 bytes each.
    Pad,
    /// `array_repeat(e, n)` / `array_resize(a, n[, e])`: Σ n elements of the size of argument `element`.
    Elements { element: usize },
    /// `range` / `generate_series(start, stop[, step])` (or `(stop)`): Σ (stop − start) / step elements.
    Series,
    /// `replace(s, from, to)`, `regexp_replace(s, re, to[, flags])`: at most one replacement
    /// per position: Σ (len(s) + 1) × len(to) + len(s).
    Replace { replacement: usize },
    /// Bounded by its inputs (`concat`, array concatenation): only the produced size is checked.
    Inputs,
}

const BOUNDED: &[(&str, Growth)] = &[
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("array_repeat", Growth::Elements { element: 0 }),
    ("array_resize", Growth::Elements { element: 2 }),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("replace", Growth::Replace { replacement: 2 }),
    ("regexp_replace", Growth::Replace { replacement: 2 }),
    ("concat", Growth::Inputs),
    ("concat_ws", Growth::Inputs),
    ("array_concat", Growth::Inputs),
    ("array_append", Growth::Inputs),
    ("array_prepend", Growth::Inputs),
];

/// Replace the session's growth functions by their bounded versions, and bound `||`.
pub fn register(ctx: &SessionContext) -> Result<()> {
    for (name, growth) in BOUNDED {
        let original = ctx.udf(name)?;
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded { original: original.as_ref().clone(), growth: *growth }));
    }
    ctx.add_analyzer_rule(Arc::new(BoundStringConcat { checked: Arc::new(ScalarUDF::new_from_impl(CheckedSize::default())) }));
    Ok(())
}

fn check_produced(name: &str, output: &ColumnarValue) -> Result<()> {
    let produced = match output {
        ColumnarValue::Array(a) => a.get_array_memory_size() as u64,
        ColumnarValue::Scalar(s) => s.size() as u64,
    };
    if produced > MAX_FUNCTION_OUTPUT_BYTES { Err(too_large(name, produced)) } else { Ok(()) }
}

fn too_large(name: &str, bytes: u64) -> DataFusionError {
    DataFusionError::Execution(format!(
        "{name} would produce about {} MiB for one batch of rows; at most {} MiB (docs/sql.md, \"Limits\")",
        bytes >> 20,
        MAX_FUNCTION_OUTPUT_BYTES >> 20
    ))
}

/// `checked_size(x)`: `x`, refused when larger than [`MAX_FUNCTION_OUTPUT_BYTES`] per batch.
/// Named after its argument, so wrapping changes no column name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedSize {
    signature: Signature,
}

impl Default for CheckedSize {
    fn default() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for CheckedSize {
    fn name(&self) -> &str {
        "checked_size"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(args[0].schema_name().to_string())
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = args.args.swap_remove(0);
        check_produced("||", &value)?;
        Ok(value)
    }
}

/// Wraps every `||` of the plan in `checked_size`.
#[derive(Debug)]
struct BoundStringConcat {
    checked: Arc<ScalarUDF>,
}

impl AnalyzerRule for BoundStringConcat {
    fn name(&self) -> &str {
        "bound_string_concat"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let is_checked = |e: &Expr| matches!(e, Expr::ScalarFunction(f) if f.func.name() == "checked_size");
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|expr| {
                expr.transform_up(|e| match e {
                    Expr::BinaryExpr(ref b) if b.op == Operator::StringConcat => Ok(Transformed::yes(self.checked.call(vec![e]))),
                    // Analysed twice (a view inside a query): one check is enough.
                    Expr::ScalarFunction(mut f) if f.func.name() == "checked_size" && is_checked(&f.args[0]) => {
                        Ok(Transformed::yes(f.args.swap_remove(0)))
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })
        .data()
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    original: ScalarUDF,
    growth: Growth,
}


impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.original.name()
    }
    fn aliases(&self) -> &[String] {
        self.original.aliases()
    }
    fn signature(&self) -> &Signature {
        self.original.signature()
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.original.inner().schema_name(args)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.original.inner().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.original.inner().return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.original.inner().coerce_types(arg_types)
    }
    fn short_circuits(&self) -> bool {
        self.original.inner().short_circuits()
    }
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.original.inner().output_ordering(inputs)
    }
    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.original.inner().preserves_lex_ordering(inputs)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.original.inner().documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = if args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) { 1 } else { args.number_rows };
        let estimate = estimate(self.growth, &args.args, rows)?;
        let name = format!("{}()", self.original.name());
        if estimate > MAX_FUNCTION_OUTPUT_BYTES {
            return Err(too_large(&name, estimate));
        }
        let output = self.original.inner().invoke_with_args(args)?;
        check_produced(&name, &output)?;
        Ok(output)
    }
}

/// Upper bound of the bytes `growth` produces for `rows` rows of `args` (0 when unknown
/// beforehand: the produced size is checked after).
fn estimate(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let total = match growth {
        Growth::Inputs => 0,
        Growth::Repeat => sum_products(&byte_lengths(&args[0], rows)?, &ints(&args[1], rows)?, 1),
        Growth::Pad => ints(&args[1], rows)?.iter().map(|n| n.unwrap_or(0).max(0) as u64 * 4).fold(0, u64::saturating_add),
        Growth::Elements { element } => {
            let per_element = args.get(element).map_or(8, |e| element_bytes(e, rows)).max(8);
            ints(&args[1], rows)?.iter().map(|n| n.unwrap_or(0).max(0) as u64).fold(0, u64::saturating_add).saturating_mul(per_element)
        }
        Growth::Series => series_elements(args, rows)?.saturating_mul(8),
        Growth::Replace { replacement } => {
            let subject = byte_lengths(&args[0], rows)?;
            let to = args.get(replacement).map(|a| byte_lengths(a, rows)).transpose()?.unwrap_or_default();
            let positions: Vec<Option<i64>> = subject.iter().map(|l| l.map(|l| l + 1)).collect();
            sum_products(&positions, &to, 1).saturating_add(subject.iter().map(|l| l.unwrap_or(0) as u64).sum())
        }
    };
    Ok(total)
}

/// Σ a × b over rows (nulls and negatives count 0), saturating.
fn sum_products(a: &[Option<i64>], b: &[Option<i64>], scale: u64) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.unwrap_or(0).max(0) as u64).saturating_mul(y.unwrap_or(0).max(0) as u64))
        .fold(0u64, u64::saturating_add)
        .saturating_mul(scale)
}

/// One value per row (a scalar repeated), as an array.
fn rows_of(arg: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    Ok(match arg {
        ColumnarValue::Array(a) => a.clone(),
        ColumnarValue::Scalar(s) => s.to_array_of_size(rows.min(1))?,
    })
}

/// Per-row integers of an argument; a scalar is one value repeated `rows` times.
fn ints(arg: &ColumnarValue, rows: usize) -> Result<Vec<Option<i64>>> {
    let values = cast(&rows_of(arg, rows)?, &DataType::Int64)?;
    let values = values.as_primitive::<Int64Type>();
    Ok(repeat_scalar(arg, values.iter().collect(), rows))
}

/// Per-row byte lengths of a string or binary argument.
fn byte_lengths(arg: &ColumnarValue, rows: usize) -> Result<Vec<Option<i64>>> {
    let array = rows_of(arg, rows)?;
    let lengths = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            length(&array)?
        }
        _ => return Ok(vec![Some(16); rows]),
    };
    ints(&ColumnarValue::Array(lengths), rows).map(|v| repeat_scalar(arg, v, rows))
}

fn repeat_scalar(arg: &ColumnarValue, values: Vec<Option<i64>>, rows: usize) -> Vec<Option<i64>> {
    match (arg, values.first()) {
        (ColumnarValue::Scalar(_), Some(v)) => vec![*v; rows],
        _ => values,
    }
}

/// Bytes of one element value (an array argument: its average per row).
fn element_bytes(arg: &ColumnarValue, rows: usize) -> u64 {
    match arg {
        ColumnarValue::Scalar(s) => s.size() as u64,
        ColumnarValue::Array(a) => a.get_array_memory_size() as u64 / rows.max(1) as u64,
    }
}

/// Σ elements `range`/`generate_series` would produce, from integer, date or timestamp
/// bounds and an integer or interval step.
fn series_elements(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let (start, stop) = match args {
        [stop] => (vec![Some(0); rows], positions(stop, rows)?),
        [start, stop, ..] => (positions(start, rows)?, positions(stop, rows)?),
        [] => return Ok(0),
    };
    let step = match args.get(2) {
        Some(step) => steps(step, rows)?,
        None => {
            let unit = if matches!(args.last().map(ColumnarValue::data_type), Some(DataType::Int64 | DataType::Int32)) { 1 } else { NS_PER_DAY };
            vec![Some(unit); rows]
        }
    };
    let mut total = 0u64;
    for ((a, b), s) in start.iter().zip(&stop).zip(&step) {
        if let (Some(a), Some(b), Some(s)) = (a, b, s)
            && *s != 0
        {
            total = total.saturating_add((b.abs_diff(*a) / s.unsigned_abs()).saturating_add(1));
        }
    }
    Ok(total)
}

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Integers as they are; dates and timestamps in nanoseconds.
fn positions(arg: &ColumnarValue, rows: usize) -> Result<Vec<Option<i64>>> {
    match arg.data_type() {
        DataType::Date32 | DataType::Date64 => {
            let days = cast(&cast(&rows_of(arg, rows)?, &DataType::Date32)?, &DataType::Int32)?;
            ints(&ColumnarValue::Array(days), rows)
                .map(|v| repeat_scalar(arg, v.into_iter().map(|d| d.map(|d| d.saturating_mul(NS_PER_DAY))).collect(), rows))
        }
        DataType::Timestamp(_, _) => {
            let ns = cast(&rows_of(arg, rows)?, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            ints(&ColumnarValue::Array(ns), rows).map(|v| repeat_scalar(arg, v, rows))
        }
        _ => ints(arg, rows),
    }
}

/// Integer steps as they are; interval steps in nanoseconds (a month counted as 28 days, so the
/// estimate errs on the high side).
fn steps(arg: &ColumnarValue, rows: usize) -> Result<Vec<Option<i64>>> {
    if !matches!(arg.data_type(), DataType::Interval(_)) {
        return ints(arg, rows);
    }
    let intervals = cast(&rows_of(arg, rows)?, &DataType::Interval(IntervalUnit::MonthDayNano))?;
    let ns = intervals
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|v| {
            v.map(|v| {
                (i64::from(v.months) * 28 * NS_PER_DAY).saturating_add(i64::from(v.days) * NS_PER_DAY).saturating_add(v.nanoseconds)
            })
        })
        .collect();
    Ok(repeat_scalar(arg, ns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
        ctx.sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn generators_refuse_before_allocating_and_ordinary_calls_work() {
        let ctx = SessionContext::new();
        register(&ctx).unwrap();
        for bomb in [
            "SELECT length(repeat('x', 1000000000))",
            "SELECT length(lpad('x', 1000000000))",
            "SELECT cardinality(array_repeat(1, 300000000))",
            "SELECT count(*) FROM (SELECT unnest(range(1000000000)))",
            "SELECT cardinality(generate_series(1, 200000000))",
            "SELECT cardinality(range(DATE '1970-01-01', DATE '9999-12-31', INTERVAL '1 second'))",
            "SELECT cardinality(array_resize([1], 1000000000))",
            "SELECT length(replace(repeat('ab', 20000000), '', repeat('c', 100)))",
            "SELECT length(repeat(s, 1000)) FROM (SELECT repeat('x', 100000) AS s)",
            "SELECT length(repeat('x', 10000 + x % 2)) FROM range(100000) AS t(x)",
            "SELECT length(v || v || v || v || v || v) FROM (SELECT repeat('x', 30000000) AS v)",
        ] {
            let err = run(&ctx, bomb).await.expect_err(bomb).to_string();
            assert!(err.contains("MiB for one batch of rows"), "{bomb}: {err}");
        }
        let ok = run(&ctx, "SELECT repeat('ab', 3), lpad('7', 3, '0'), cardinality(range(10)), cardinality(generate_series(DATE '2025-07-01', DATE '2025-07-31', INTERVAL '1 day')), concat('a', NULL, 'b'), replace('a.b', '.', '-')")
            .await
            .unwrap();
        let line = datafusion::arrow::util::pretty::pretty_format_batches(&ok).unwrap().to_string();
        assert!(line.contains("| abab") && line.contains("007") && line.contains("| 10 ") && line.contains("| 31 ") && line.contains("a-b"), "{line}");
        let named = run(&ctx, "SELECT 'a' || 'b' AS ab, 'c' || NULL").await.unwrap();
        assert_eq!(named[0].schema().field(0).name(), "ab");
        assert!(named[0].column(1).is_null(0), "|| keeps its NULL semantics");
    }
}
