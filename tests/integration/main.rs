//! The one integration-test binary: each module is an area, and every test
//! spawns the real `sparkq` binary on a real temp project.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod background;
mod server_support;
mod support;
mod sync_support;
mod webdriver;

mod adoption;
mod bad_input;
mod batch_crash;
mod browser;
mod claim_in_flight;
mod claim_wait;
mod cli_basics;
mod config_cache;
mod crash;
mod disk_full;
mod doctor;
mod exactly_once;
mod fencing;
mod http_api;
mod http_limits;
mod http_safety;
mod http_server;
mod http_support;
mod index_race;
mod input_caps;
mod isolation;
mod json_shape;
mod list_size;
mod mcp;
mod mcp_lines;
mod numbers;
mod playbook;
mod readme;
mod requeue;
mod review_list;
mod review_outputs;
mod review_since;
mod run_stop;
mod server_lock;
mod setup_again;
mod spool_junk;
mod spool_junk_random;
mod spool_odd_places;
mod stale;
mod stream_deleted;
mod sync_command;
mod sync_git;
mod sync_live;
mod sync_live_check;
mod sync_rsync;
mod sync_window;
mod teardown;
mod watcher;
mod words;

// The web UI of the morning review (issue 11) and its seeded night.
mod night;
mod review_ui;
