//! Search over a scenario's parameters: the `[search]` space, parallel
//! evaluation of candidates, the optimiser that stress searches and
//! calibration share, and sensitivity designs and estimators.

pub mod counterexample;
pub mod design;
pub mod evaluate;
pub mod optimize;
pub mod sensitivity;
pub mod space;
pub mod stress;
pub mod stress_dir;

pub use evaluate::{run_to_end, simulate};
pub use optimize::{Evaluation, Evaluator, OptimiseOptions, minimise};
pub use space::{Dim, Space};
