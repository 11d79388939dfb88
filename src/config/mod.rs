//! Configuration: one pipeline shared by `serve`, `check-config` and tests.
//!
//! Embedded `config/default.toml` → optional file → `SWITCHBOARD__A__B`
//! environment overrides → typed sections (unknown keys collected, not just
//! the first) → secrets resolved from `*_file` keys → [`Settings::validate`].
//! Every problem found along the way is reported with its key path, all at
//! once, so an operator fixes a file in one pass.

pub mod changes;
mod load;
mod model;
mod validate;

pub use load::{valid_name as is_valid_name, Loader, Problem, Problems};
pub use model::*;
