pub mod compile;
pub mod error;
pub mod expr;
pub mod hash;
pub mod model;
