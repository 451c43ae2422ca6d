//! SparkQ: a local job queue for handing work to AI coding agents, kept as
//! plain files.
//!
//! Dependencies point one way: [`model`] (types, no I/O) ← [`config`] and
//! [`spool`] (the only code that touches the spool folders) ← [`queue`] (the
//! use cases, where every rule is decided) ← the front doors ([`cli`], and the
//! HTTP and MCP servers). A front door calls `queue` and nothing below it.
//!
//! The library's API is what the binary, the benches and the integration
//! tests use: `cli`, `config`, `http`, `model`, `queue` and `runtime`. The
//! rest is `pub(crate)`, so the `unreachable_pub` lint flags any item
//! marked `pub` there that nothing outside could reach.

pub mod cli;
pub mod config;
pub mod http;
pub(crate) mod mcp;
pub mod model;
pub mod queue;
pub mod runtime;
pub(crate) mod scripts;
pub(crate) mod spool;
pub(crate) mod watch;
