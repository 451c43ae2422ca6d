//! The one integration-test binary: each module is an area, and every test
//! spawns the real `sparkq` binary on a real temp project.

#![allow(unreachable_pub)]

mod support;
mod sync_support;

mod cli_basics;
mod doctor;
mod sync_git;
mod sync_rsync;
