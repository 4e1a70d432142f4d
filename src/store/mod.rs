//! Owns the SQLite database (placeholder while the store is written).
