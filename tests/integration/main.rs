//! The one integration-test binary: each module is an area, and every test
//! spawns the real `sparkq` binary on a real temp project.

#![allow(unreachable_pub)]

mod server_support;
mod support;
mod webdriver;

mod browser;
mod http_api;
mod http_safety;
mod http_server;
mod http_support;

mod cli_basics;
