//! apaleo: a platform without a client API. The vocabulary ([`model`]), the plan made from
//! the config, the record of what a person confirmed and the verification results
//! ([`plan`]), the dashboard steps of each change ([`steps`]) and their renderings
//! ([`render`]). Pure: no I/O, no HTTP (that is `backend/apaleo`), no secret values.

mod fields;
pub mod model;
pub mod plan;
pub mod render;
pub mod steps;

/// The "developer" apaleo secrets are filed under in the secrets store
/// (`<secrets.dir>/<account>/apaleo/<client code>/<secret id>.age`).
pub const STORE_DEVELOPER: &str = "apaleo";
