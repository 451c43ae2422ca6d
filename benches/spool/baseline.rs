//! The bare baseline: the physical limit of SparkQ's design on this file
//! system. A plain loop of create-temp, rename, read, write result, unlink,
//! with the same fsync rule as the spool's atomic write (flush the temp file
//! before the rename, the folder after it), and nothing else: no lock, no
//! listing, no JSON.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::stats::Round;

/// About the size of a queued task file.
const TASK_BYTES: &[u8] = &[b'x'; 700];
/// What the "result" write adds to it.
const RESULT_BYTES: &[u8] = &[b'y'; 200];

/// Runs `ops` cycles split over `threads` threads in fresh folders under
/// `root`; each cycle is timed.
pub(crate) fn run(root: &Path, threads: usize, ops: usize, fsync: bool) -> Round {
    let pending = root.join("pending");
    let done = root.join("done");
    for dir in [&pending, &done] {
        fs::create_dir_all(dir).expect("create baseline folders");
    }
    let start = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (pending, done) = (&pending, &done);
                scope.spawn(move || {
                    (0..ops / threads)
                        .map(|i| {
                            let began = Instant::now();
                            cycle(pending, done, &format!("t{t}-{i}"), fsync).expect("baseline cycle");
                            began.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("baseline thread"))
            .collect()
    });
    Round {
        samples,
        wall: start.elapsed(),
    }
}

/// One task's life in the cheapest possible form.
fn cycle(pending: &Path, done: &Path, name: &str, fsync: bool) -> std::io::Result<()> {
    let task = pending.join(format!("{name}.json"));
    write_atomic(pending, &task, TASK_BYTES, fsync)?;
    let mut bytes = fs::read(&task)?;
    bytes.extend_from_slice(RESULT_BYTES);
    write_atomic(done, &done.join(format!("{name}.json")), &bytes, fsync)?;
    fs::remove_file(&task)
}

fn write_atomic(dir: &Path, target: &Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    let file_name = target.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let temp = dir.join(format!(".{file_name}.tmp"));
    let mut file = File::create_new(&temp)?;
    file.write_all(bytes)?;
    if fsync {
        file.sync_data()?;
    }
    drop(file);
    fs::rename(&temp, target)?;
    if fsync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
