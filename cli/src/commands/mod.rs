//! One file per command.

pub mod doctor;
pub mod get;
pub mod invalidate;
pub mod keys;
pub mod stats;
pub mod top;
