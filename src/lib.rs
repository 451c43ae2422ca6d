//! SparkQ: a local job queue for handing work to AI coding agents, kept as
//! plain files.
//!
//! Dependencies point one way: [`model`] (types, no I/O) ← [`config`] and
//! [`spool`] (the only code that touches the spool folders) ← [`queue`] (the
//! use cases, where every rule is decided) ← the front doors ([`cli`], and the
//! HTTP and MCP servers). A front door calls `queue` and nothing below it.

pub mod cli;
pub mod config;
pub mod http;
pub mod mcp;
pub mod model;
pub mod queue;
pub mod runtime;
pub mod scripts;
pub mod spool;
pub mod watch;
