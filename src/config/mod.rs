//! Owns reading ecosystem files: YAML or JSON text → validated [`AppSpec`] list, or every problem
//! in the file at once, each with its file, line, column and field.

pub mod spec;

pub use spec::AppSpec;
