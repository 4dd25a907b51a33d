//! Output: Arrow schemas, streaming Parquet writers, the results directory
//! and its manifest. Only this module knows about Parquet.

pub mod dataset;
pub mod manifest;
pub mod runs;
pub mod sink;
pub mod tables;

pub use dataset::{DatasetWriter, Layout, WriteStats, manifest_name};
pub use manifest::Manifest;
