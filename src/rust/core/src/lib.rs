//! The engine of the sygnet R package: a GAN for tabular data in pure Rust.
//!
//! - [`schema`]: the data contract (typed columns that round-trip R's classes);
//! - [`encoding`] and [`mixture`]: columns to network inputs and back;
//! - [`network`]: generator and critic; [`condition`]: conditional vectors;
//! - [`config`]: every setting, its default and its check; [`loss`]: the two losses;
//! - [`train`]: the training loop; [`engine`]: what an engine computes for it, with
//!   two engines behind it, [`cpu_step`] (hand-derived, CPU) and [`autograd`] (candle);
//! - [`sample`]: drawing rows; [`rejection`]: rejection sampling with a learned
//!   density ratio; [`model`]: model files;
//! - [`diagnostic`]: a quick propensity-score check of synthetic data;
//! - [`distance`]: Gower nearest neighbours, for disclosure-risk measures;
//! - [`privacy`]: differential privacy (clipping, noise, accountant);
//! - [`rng`]: the only source of randomness; [`parallel`]: thread pools; [`lanes`]:
//!   vectorised sums;
//!   [`device`]: CPU or CUDA.

pub mod autograd;
pub mod balance;
pub mod condition;
pub mod config;
pub mod cpu_step;
pub mod device;
pub mod diagnostic;
pub mod distance;
pub mod encoding;
pub mod engine;
pub mod error;
pub mod lanes;
pub mod loss;
pub mod mixture;
pub mod model;
pub mod network;
pub mod parallel;
pub mod privacy;
pub mod rejection;
pub mod rng;
pub mod sample;
pub mod schema;
pub mod tilt;
pub mod train;

pub use error::{Error, Result};
