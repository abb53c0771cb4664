//! The model as plain data: layer kinds, shapes, shape arithmetic, parameter counts and the
//! coupling structure of structured pruning. No syn types here, so everything is unit-tested
//! directly; the derive parses into this IR, checks it, then expands it.
//!
//! Rewrites that change a model's structure (prune widths, fold BatchNorm, factorize Linear) are
//! meant to be functions `Model -> Result<Model, _>` over this IR.

pub mod coupling;
pub mod groups;
pub mod layer;
pub mod model;
pub mod rewrite;
pub mod shape;

pub use coupling::Coupling;
pub use groups::Group;
pub use layer::{Activation, LayerKind, Window};
pub use model::{Layer, Model, Step};
pub use shape::Shape;
