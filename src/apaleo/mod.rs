//! apaleo: a platform without a client API. The vocabulary ([`crate::model::apaleo`], shared
//! with the config, the backend, the registry and the stand-in), the plan made from
//! the config, the record of what a person confirmed and the verification results
//! ([`plan`]), the dashboard steps of each change ([`steps`]) and their renderings
//! ([`render`]). Pure: no I/O, no HTTP (that is `backend/apaleo`), no secret values.

mod fields;
pub mod plan;
pub mod render;
pub mod steps;
