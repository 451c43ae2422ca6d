//! The one integration-test binary: each module is an area, and every test
//! spawns the real `sparkq` binary on a real temp project.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod support;

mod adoption;
mod bad_input;
mod cli_basics;
mod crash;
mod exactly_once;
mod json_shape;
mod mcp;
mod readme;
mod stale;
