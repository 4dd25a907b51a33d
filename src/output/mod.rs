//! Output: Arrow schemas, streaming Parquet writers, the results directory
//! and its manifest. Only this module knows about Parquet.

pub mod columns;
pub mod dataset;
pub mod diagram;
pub mod lock;
pub mod manifest;
pub mod properties;
pub mod rundir;
pub mod runs;
pub mod sink;
pub mod tables;

pub use dataset::{DatasetWriter, Layout, WriteStats, manifest_name};
pub use manifest::Manifest;
