//! The registry store: organizations, developers, products, apps and keys in SQLite.
