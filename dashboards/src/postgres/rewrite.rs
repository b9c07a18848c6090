//! PostgreSQL idioms that clients send and DataFusion does not plan, rewritten before the
//! engine sees the statement (datafusion-postgres's parser already rewrites many; these are the
//! ones it leaves). Today: the array constructor `ARRAY(SELECT e FROM … ORDER BY o)`, which
//! psql's `\d+` sends, becomes the scalar subquery `(SELECT array_agg(e ORDER BY o) FROM …)`.
//! And psql's `\d+`
//! asks for `pg_class.reloptions` (storage options, its own and its TOAST table's), which
//! ilot's catalog has no column for, as no relation has options: `<relation>.reloptions` is
//! the NULL array it would hold, and an array built from unnesting it is that NULL array too
//! (DataFusion could not unnest an outer column in a subquery anyway).

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, OrderBy, OrderByExpr, OrderByKind, SelectItem, SetExpr, Statement,
    TableFactor, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// `statement` with the idioms above rewritten; anything else is left as it is.
pub fn rewrite(mut statement: Statement) -> Statement {
    let _ = visit_expressions_mut(&mut statement, |expr| {
        if let Some(replacement) = relation_options(expr).or_else(|| array_constructor(expr)) {
            *expr = replacement;
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// `ARRAY(SELECT e … [ORDER BY o])` as `(SELECT array_agg(e [ORDER BY o]) …)`, when the
/// subquery is a plain SELECT of one column (no WITH, DISTINCT, GROUP BY, HAVING or LIMIT,
/// which an aggregate would not keep: those are left for the engine to refuse).
fn array_constructor(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    if !function.name.to_string().eq_ignore_ascii_case("array") {
        return None;
    }
    let FunctionArguments::Subquery(query) = &function.args else { return None };
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(by, modifiers) if by.is_empty() && modifiers.is_empty());
    let plain = query.with.is_none() && query.limit_clause.is_none() && query.fetch.is_none() && select.distinct.is_none() && select.having.is_none();
    if !(plain && ungrouped) {
        return None;
    }
    let [item] = select.projection.as_slice() else { return None };
    let element = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.to_string(),
        _ => return None,
    };
    if let [table] = select.from.as_slice()
        && unnests_relation_options(&table.relation)
    {
        return parse_expr(NO_OPTIONS);
    }
    let from = select.from.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let filter = select.selection.as_ref().map(|w| format!(" WHERE {w}")).unwrap_or_default();
    // Inside the aggregate, `ORDER BY 1` would sort by the constant and an output alias would
    // not resolve: such orders are left for the engine to refuse.
    let alias = match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.as_str()),
        _ => None,
    };
    let resolvable = |by: &[OrderByExpr]| {
        !by.iter().any(|o| matches!(&o.expr, Expr::Value(_)) || matches!(&o.expr, Expr::Identifier(i) if Some(i.value.as_str()) == alias))
    };
    let order = match &query.order_by {
        None => String::new(),
        Some(order @ OrderBy { kind: OrderByKind::Expressions(by), .. }) if resolvable(by) => format!(" {order}"),
        Some(_) => return None,
    };
    parse_expr(&format!("(SELECT array_agg({element}{order}) FROM {from}{filter})"))
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

const NO_OPTIONS: &str = "CAST(NULL AS TEXT[])";

/// `<relation>.reloptions` as [`NO_OPTIONS`].
fn relation_options(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundIdentifier(parts) = expr else { return None };
    if parts.last()?.value.eq_ignore_ascii_case("reloptions") { parse_expr(NO_OPTIONS) } else { None }
}

/// `unnest(<relation>.reloptions)` in a FROM clause, before or after [`relation_options`].
fn unnests_relation_options(relation: &TableFactor) -> bool {
    let TableFactor::Table { name, args: Some(args), .. } = relation else { return false };
    let is_unnest = name.0.last().is_some_and(|part| part.to_string().eq_ignore_ascii_case("unnest"));
    let options = match args.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => relation_options(e).is_some() || e.to_string() == NO_OPTIONS,
        _ => false,
    };
    is_unnest && options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_array_constructor_becomes_an_aggregate_subquery() {
        let parse = |sql: &str| Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).unwrap().parse_statement().unwrap();
        let sql = "SELECT array(select rolname from pg_roles where oid > 10) AS roles FROM t";
        assert_eq!(rewrite(parse(sql)).to_string(), "SELECT (SELECT array_agg(rolname) FROM pg_roles WHERE oid > 10) AS roles FROM t");
        let ordered = "SELECT ARRAY(SELECT rolname FROM pg_roles ORDER BY oid DESC, rolname) FROM t";
        assert_eq!(rewrite(parse(ordered)).to_string(), "SELECT (SELECT array_agg(rolname ORDER BY oid DESC, rolname) FROM pg_roles) FROM t");
        for kept in [
            "SELECT ARRAY(SELECT rolname FROM pg_roles LIMIT 2)",
            "SELECT ARRAY(SELECT DISTINCT rolname FROM pg_roles)",
            "SELECT ARRAY(SELECT max(oid) FROM pg_roles GROUP BY rolname)",
            "SELECT ARRAY(SELECT rolname FROM pg_roles ORDER BY 1)",
            "SELECT ARRAY(SELECT upper(rolname) AS r FROM pg_roles ORDER BY r)",
        ] {
            assert_eq!(rewrite(parse(kept)).to_string(), parse(kept).to_string(), "left as it is: {kept}");
        }
        let psql = "SELECT array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ') FROM t";
        assert_eq!(rewrite(parse(psql)).to_string(), "SELECT array_to_string(CAST(NULL AS TEXT[]) || CAST(NULL AS TEXT[]), ', ') FROM t");
    }
}
