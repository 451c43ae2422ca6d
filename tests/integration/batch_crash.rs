//! A batch is all or nothing across `kill -9` (issue 9, item 10): killed at
//! any moment, `enqueue --batch` leaves, once the next command has looked
//! at the stream, either every task of the batch queued or none of them.
//! Half the kills land right after the commit point, mid-publish.

use std::process::Stdio;
use std::time::Instant;

use crate::support::{Project, tier};

const LINES: usize = 300;

/// The batch file of `round`: `LINES` tasks tagged with the round.
fn batch_file(p: &Project, round: usize) -> String {
    let lines: String = (0..LINES)
        .map(|n| {
            format!("{{\"tool_name\": \"run-bash\", \"payload\": {{\"round\": {round}, \"n\": {n}}}}}\n")
        })
        .collect();
    p.write(&format!("batch-{round}.jsonl"), &lines)
        .display()
        .to_string()
}

/// How many queued tasks `round` left, read from the task files.
fn queued_of_round(p: &Project, round: usize) -> usize {
    let tag = format!("\"round\": {round},");
    p.files("s", "pending")
        .iter()
        .filter(|name| name.starts_with("tsk_"))
        .filter(|name| {
            std::fs::read_to_string(p.state_dir("s", "pending").join(name))
                .is_ok_and(|text| text.contains(&tag))
        })
        .count()
}

/// Staging folders left in the stream folder.
fn staging_folders(p: &Project) -> Vec<String> {
    std::fs::read_dir(p.spool().join("streams/s"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".batch-"))
        .collect()
}

/// Whether a staging folder holds the commit marker.
fn has_marker(p: &Project) -> bool {
    let stream = p.spool().join("streams/s");
    staging_folders(p)
        .iter()
        .any(|name| stream.join(name).join("PUBLISH").exists())
}

#[test]
fn a_batch_killed_at_any_moment_is_queued_whole_or_not_at_all() {
    let p = Project::with_stream("s");
    let seed = fastrand::u64(..);
    eprintln!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);

    // One uncut run gives the time a batch takes on this machine, now.
    let file = batch_file(&p, 0);
    let start = Instant::now();
    p.sparkq(["enqueue", "--stream", "s", "--batch", &file]).success();
    let full = start.elapsed();
    assert_eq!(queued_of_round(&p, 0), LINES);

    let mut outcomes = Vec::new();
    let mut mid_publish = 0;
    for round in 1..=tier(8, 20) {
        let file = batch_file(&p, round);
        let mut child = p
            .command(["enqueue", "--stream", "s", "--batch", &file])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn enqueue");
        // Odd rounds die at a random moment; even ones right after the
        // commit point, while the tasks are being moved into `pending/` (a
        // few milliseconds that random moments seldom hit).
        let start = Instant::now();
        if round % 2 == 1 {
            std::thread::sleep(full.mul_f64(rng.f64() * 1.2));
        } else {
            while child.try_wait().expect("poll enqueue").is_none() && !has_marker(&p) {}
        }
        let _ = child.kill();
        let _ = child.wait();
        let kill_at = start.elapsed();
        if round % 2 == 0 && !staging_folders(&p).is_empty() {
            mid_publish += 1;
        }

        // Any command that looks at the stream settles the batch.
        p.sparkq(["peek", "--stream", "s"]).success();
        let queued = queued_of_round(&p, round);
        assert!(
            queued == 0 || queued == LINES,
            "round {round}, killed after {kill_at:?} of {full:?}: {queued} of {LINES} tasks queued"
        );
        assert_eq!(staging_folders(&p), Vec::<String>::new(), "round {round}");
        outcomes.push(queued);
    }
    eprintln!(
        "queued per round: {outcomes:?} (a batch takes {full:?}; {mid_publish} killed while publishing)"
    );
}

#[test]
fn a_staged_batch_is_left_alone_while_its_writer_lives_and_doctor_settles_one_it_left() {
    let p = Project::with_stream("s");
    let stream = p.spool().join("streams/s");
    // What a writer killed after its commit point leaves: the marker and
    // some files not yet published, no lock held.
    let committed = stream.join(".batch-dead1.tmp");
    std::fs::create_dir(&committed).unwrap();
    let ids: Vec<String> = (0..3)
        .map(|_| sparkq::model::TaskId::generate().to_string())
        .collect();
    let queued = p.enqueue("s", "{}");
    let template =
        std::fs::read_to_string(p.state_dir("s", "pending").join(format!("{queued}.json"))).unwrap();
    for id in &ids {
        std::fs::write(
            committed.join(format!("{id}.json")),
            template.replace(&queued, id),
        )
        .unwrap();
    }
    std::fs::write(committed.join(".lock"), "").unwrap();
    std::fs::write(committed.join("PUBLISH"), "").unwrap();
    // And one killed before it: files, a lock, no marker.
    let uncommitted = stream.join(".batch-dead2.tmp");
    std::fs::create_dir(&uncommitted).unwrap();
    let lost = sparkq::model::TaskId::generate().to_string();
    std::fs::write(
        uncommitted.join(format!("{lost}.json")),
        template.replace(&queued, &lost),
    )
    .unwrap();
    std::fs::write(uncommitted.join(".lock"), "").unwrap();

    // And folders abandoned while being set up: a young one may still be
    // in its writer's hands, an old one is not.
    let young = stream.join(".new-batch-young");
    let old = stream.join(".new-batch-old");
    std::fs::create_dir(&young).unwrap();
    std::fs::create_dir(&old).unwrap();
    let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::open(&old)
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();

    p.sparkq(["doctor", "--fix"]).success();
    assert_eq!(staging_folders(&p), Vec::<String>::new());
    assert!(young.exists() && !old.exists());
    std::fs::remove_dir(&young).unwrap();
    let mut pending = p.files("s", "pending");
    pending.retain(|n| n.starts_with("tsk_"));
    let mut expected: Vec<String> = ids
        .iter()
        .chain([&queued])
        .map(|id| format!("{id}.json"))
        .collect();
    expected.sort();
    assert_eq!(pending, expected);
    assert_eq!(staging_folders(&p), Vec::<String>::new());

    // A folder whose lock is held belongs to a live writer: left alone.
    let live = stream.join(".batch-live.tmp");
    std::fs::create_dir(&live).unwrap();
    std::fs::write(
        live.join(format!("{lost}.json")),
        template.replace(&queued, &lost),
    )
    .unwrap();
    let lock = std::fs::File::create(live.join(".lock")).unwrap();
    lock.lock().unwrap();
    p.sparkq(["peek", "--stream", "s"]).success();
    assert_eq!(staging_folders(&p), [".batch-live.tmp"]);
    drop(lock);
    p.sparkq(["peek", "--stream", "s"]).success();
    assert_eq!(
        staging_folders(&p),
        Vec::<String>::new(),
        "discarded once its writer is gone"
    );
    assert!(!p.files("s", "pending").contains(&format!("{lost}.json")));
}
