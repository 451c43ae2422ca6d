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
//! **Position-independent, on purpose.** Linking `-no-pie` would let the
//! linker fix the ~9,000 relative relocations the loader now applies, and
//! was measured twice: `perf stat -r 400`, interleaved, put `sparkq
//! --version` at 0.87 vs 0.95 ms CPU once and at 1.06 vs 1.06 ms (medians of
//! eight rounds under load 3) another time, with ~20 fewer page faults;
//! packed relocations (`-z pack-relative-relocs`) measured the same as
//! plain PIE. A gain that small and unsteady does not pay for giving up
//! ASLR of the executable's code in a process that also serves HTTP, so the
//! binary stays a PIE, as rustc and Debian build it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
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
