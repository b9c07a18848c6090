//! PostgreSQL's catalog for the PostgreSQL wire endpoint's clients: datafusion-pg-catalog's
//! `pg_catalog` schema and functions, and the comment functions psql's `\d+` calls that it
//! lacks (`col_description`, `obj_description`, `shobj_description`: NULL, as ilot's tables
//! carry no SQL comments; their documentation is docs/sql.md).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::prelude::SessionContext;

pub fn install(ctx: &SessionContext) -> Result<()> {
    datafusion_pg_catalog::setup_pg_catalog(ctx, crate::analytics::CATALOG, datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider)
        .map_err(|e| DataFusionError::Plan(format!("PostgreSQL catalog: {e}")))?;
    for (name, arities) in [("col_description", &[2][..]), ("obj_description", &[1, 2][..]), ("shobj_description", &[2][..])] {
        let signature = Signature::one_of(arities.iter().map(|n| TypeSignature::Any(*n)).collect(), Volatility::Immutable);
        ctx.register_udf(ScalarUDF::new_from_impl(NoComment { name, signature }));
    }
    Ok(())
}

/// A PostgreSQL comment function: NULL, no object has a comment.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NoComment {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for NoComment {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}
