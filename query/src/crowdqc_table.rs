//! The `crowdqc` table: the CrowdQC+ results `ilot qc` stored, one Parquet file per network and
//! UTC month (`qc/crowdqc/network=…/month=…/`), listed at each query so a new run is seen at
//! once. Columns: the file columns of [`crate::crowdqc::job::file_schema`] plus `network` and
//! `month` (`YYYY-MM`) from the path.

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use std::sync::Arc;

/// The `crowdqc` table over the store registered at `store_url`.
pub fn crowdqc_table(store_url: &ObjectStoreUrl) -> Result<Arc<ListingTable>> {
    let url = ListingTableUrl::parse(format!("{}{}/", store_url.as_str(), ilot_ingest::layout::CROWDQC_DIR))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("network".into(), DataType::Utf8), ("month".into(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(crate::crowdqc::job::file_schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}
