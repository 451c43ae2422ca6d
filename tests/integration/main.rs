//! The one integration-test binary: each module is an area, and every test
//! spawns the real `sparkq` binary on a real temp project.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod background;
mod support;

mod claim_wait;
mod cli_basics;
mod playbook;
mod run_stop;
mod watcher;
