//! Link-time choices for the `sparkq` binary; nothing is generated.
//!
//! **No libgcc_s.so at start-up.** Rust's standard library on Linux/glibc
//! links the unwinder as the shared `libgcc_s.so.1`, and loading it is a
//! fixed cost of every process: the loader opens and maps it, and its
//! constructor probes the CPU with `cpuid` (a trap to the hypervisor on a
//! VM), which perf put at more time than all of `sparkq --version`'s
//! own code. A one-shot `sparkq claim` is a short process, so that is worth
//! avoiding: a linker script named `libgcc_s.so` in a folder searched first
//! points `-lgcc_s` at the static unwinder `libgcc_eh.a` of the same GCC
//! (what `gcc -static-libgcc` does). Panics and backtraces work as before.
//! If the compiler has no `libgcc_eh.a`, or when cross-compiling, nothing
//! changes.
//!
//! **No relocations at start-up.** As a position-independent executable
//! (rustc's default), the binary carries ~9,100 relative relocations (the
//! addresses in vtables and other static tables) that the loader patches
//! in every process before `main`, copying ~40 pages of
//! `.data.rel.ro`/`.got` on write. Linked with `-no-pie` the linker fixes
//! them at link time instead: `perf stat -r 400` put `sparkq --version` at
//! 0.87 instead of 0.95 ms CPU and 160 instead of 181 page faults. The cost
//! is that the executable's own code loads at a fixed address (no ASLR for
//! it; shared libraries, stack and heap stay randomized); the crate forbids
//! `unsafe` code, so that weighs less than for C. Only the `sparkq` binary
//! is linked so (not tests or benches), and only for Linux/glibc.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    // The host's compiler is asked below: when cross-compiling its
    // libgcc_eh.a is for the wrong machine, so leave the link alone.
    if var("TARGET") != var("HOST") {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let Ok(out) = Command::new(cc).arg("-print-file-name=libgcc_eh.a").output() else {
        return;
    };
    let eh = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Without the file, the compiler prints the bare name back.
    if !out.status.success() || !eh.is_absolute() || !eh.is_file() {
        return;
    }
    let dir = PathBuf::from(var("OUT_DIR")).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create a folder in OUT_DIR");
    std::fs::write(dir.join("libgcc_s.so"), format!("INPUT({})\n", eh.display()))
        .expect("write the libgcc_s.so linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}
