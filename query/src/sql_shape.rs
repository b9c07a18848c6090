//! How deep analyst SQL may nest, checked on the parsed statement before DataFusion plans it.
//!
//! Planning, optimising and evaluating an expression recurse once per level: `1+1+…+1` with a
//! few thousand terms parses without recursion (the parser is iterative on left-deep chains) and
//! then overflows a thread's stack further on. DataFusion's recursion protection and the query
//! threads' large stacks make that survivable; this check makes it a clear error, before any
//! work: at most [`MAX_EXPRESSION_DEPTH`] nested expression levels and
//! [`MAX_SET_OPERANDS`] selects chained by `UNION`/`INTERSECT`/`EXCEPT` in one query. Nesting
//! through parentheses and subqueries is bounded by the parser's own limit
//! (`sql_parser.recursion_limit`). Once planned, [`check_plan`] refuses the one plan shape
//! whose memory DataFusion does not account for.

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, Visit, Visitor};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::sorts::sort::SortExec;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Deepest expression nesting accepted (a generated dashboard query stays in the tens).
pub const MAX_EXPRESSION_DEPTH: usize = 1_000;
/// Most selects one set operation chain may combine.
pub const MAX_SET_OPERANDS: usize = 1_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("the query nests expressions more than {MAX_EXPRESSION_DEPTH} levels deep (e.g. a chain of that many operators); split it")]
    TooDeep,
    #[error("the query combines more than {MAX_SET_OPERANDS} selects with UNION/INTERSECT/EXCEPT; split it")]
    TooManySetOperands,
    #[error("the SQL text is longer than {limit} bytes; split it")]
    TooLong { limit: usize },
    #[error("the query sorts rows that carry no column (e.g. ORDER BY random() over a bare range): its memory cannot be bounded; select a column")]
    SortWithoutColumns,
}

/// Refuse a physical plan DataFusion cannot bound: a sort whose input rows have no column
/// reserves nothing from the memory pool (it is charged by the size of its input) while its
/// sort keys take gigabytes, in one computation no deadline can interrupt.
pub fn check_plan(plan: &Arc<dyn ExecutionPlan>) -> Result<(), ShapeError> {
    let mut pending = vec![plan.clone()];
    while let Some(node) = pending.pop() {
        if let Some(sort) = node.downcast_ref::<SortExec>()
            && sort.input().schema().fields().is_empty()
        {
            return Err(ShapeError::SortWithoutColumns);
        }
        pending.extend(node.children().into_iter().cloned());
    }
    Ok(())
}

/// Refuse a statement whose expressions or set operations exceed the limits.
pub fn check(statement: &Statement) -> Result<(), ShapeError> {
    let mut visitor = Depth { depth: 0 };
    let flow = match statement {
        Statement::Statement(s) => s.visit(&mut visitor),
        Statement::Explain(e) => return check(&e.statement),
        Statement::CopyTo(c) => match &c.source {
            datafusion::sql::parser::CopyToSource::Query(q) => q.visit(&mut visitor),
            datafusion::sql::parser::CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        Statement::CreateExternalTable(_) | Statement::Reset(_) => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Depth {
    depth: usize,
}

impl Visitor for Depth {
    type Break = ShapeError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<ShapeError> {
        // Counted without recursion, before the visitor descends into the chain.
        let mut operands = 0usize;
        let mut pending = vec![query.body.as_ref()];
        while let Some(set) = pending.pop() {
            match set {
                SetExpr::SetOperation { left, right, .. } => pending.extend([left.as_ref(), right.as_ref()]),
                _ => operands += 1,
            }
            if operands + pending.len() > MAX_SET_OPERANDS {
                return ControlFlow::Break(ShapeError::TooManySetOperands);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<ShapeError> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH { ControlFlow::Break(ShapeError::TooDeep) } else { ControlFlow::Continue(()) }
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<ShapeError> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn shape(sql: &str) -> Result<(), ShapeError> {
        let statement = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
        check(&statement)
    }

    #[test]
    fn long_chains_are_refused_and_ordinary_queries_pass() {
        // On a query thread's stack, as in the product: dropping a 10,000-level AST recurses too.
        let checks = std::thread::Builder::new().stack_size(crate::executor::QUERY_THREAD_STACK_BYTES).spawn(run_checks).unwrap();
        checks.join().unwrap();
    }

    fn run_checks() {
        let chain = |n: usize, op: &str| vec!["1"; n].join(op);
        assert_eq!(shape(&format!("SELECT {}", chain(900, "+"))), Ok(()));
        assert_eq!(shape(&format!("SELECT {}", chain(10_000, "+"))), Err(ShapeError::TooDeep));
        assert_eq!(shape(&format!("SELECT 1 WHERE {}", chain(10_000, " = 1 OR 1"))), Err(ShapeError::TooDeep));
        assert_eq!(shape(&format!("EXPLAIN SELECT {}", chain(10_000, " || "))), Err(ShapeError::TooDeep));
        assert_eq!(shape(&vec!["SELECT 1"; 500].join(" UNION ALL ")), Ok(()));
        assert_eq!(shape(&vec!["SELECT 1"; 5_000].join(" UNION ALL ")), Err(ShapeError::TooManySetOperands));
        let in_list = (0..20_000).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert_eq!(shape(&format!("SELECT count(*) FROM t WHERE x IN ({in_list})")), Ok(()));
    }
}
