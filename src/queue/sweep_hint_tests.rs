//! The hint file: what it keeps, what it refuses, and when a claim or a
//! listing in it is trusted (see `sweep_hint`).

use super::*;

fn at(micros: u64) -> Timestamp {
    Timestamp::from_system(UNIX_EPOCH + Duration::from_micros(micros))
}

/// A runtime folder of its own, and the stream `a` whose hint is kept
/// there.
struct Fixture {
    dir: tempfile::TempDir,
    runtime: RuntimeDir,
    stream: Name,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let runtime = RuntimeDir::under(dir.path(), false, dir.path(), "project");
        Fixture {
            dir,
            runtime,
            stream: Name::parse("a").unwrap(),
        }
    }

    /// The hint as a sweep loads it.
    fn load(&self) -> SweepHint {
        SweepHint::load(&self.runtime, &self.stream)
    }

    /// Saves `known` as a sweep whose listing is `listed` would.
    fn save(&self, listed: Listed, known: &[(TaskId, Known)]) {
        self.load().save(&self.runtime, listed, &refs(known));
    }

    fn listed_of(&self) -> Option<Listed> {
        SweepHint::listed_of(&self.runtime, &self.stream)
    }
}

/// `known` as `save` takes it.
fn refs(known: &[(TaskId, Known)]) -> Vec<(&TaskId, Known)> {
    known.iter().map(|(id, k)| (id, *k)).collect()
}

/// What `hint` knows, with owned ids.
fn entries(hint: &SweepHint) -> Vec<(TaskId, Known)> {
    hint.known
        .iter()
        .map(|(range, k)| (TaskId::parse(&hint.text[range.clone()]).unwrap(), *k))
        .collect()
}

/// A listing at `at`, with no claim left to die.
fn listed_at(at: Timestamp) -> Listed {
    Listed { at, next_dead: None }
}

/// A hint holding `known`, as a load of its file would make it.
fn hint_of(known: &[(TaskId, Known)]) -> SweepHint {
    let text = render(listed_at(at(1)), &refs(known));
    SweepHint {
        stream: None,
        known: parse(&text).unwrap().1,
        text,
    }
}

#[test]
fn a_saved_hint_reads_back_whole() {
    let f = Fixture::new();
    let mut known: Vec<(TaskId, Known)> = (0..40u64)
        .map(|n| {
            let k = Known {
                ino: 1000 + n,
                stale_at: at(1_789_999_999_500_000 + n),
                dead_at: at(1_790_000_000_000_000 + n),
                read_at: at(1_789_999_999_000_000),
            };
            (TaskId::generate(), k)
        })
        .collect();
    known.sort_by(|a, b| a.0.cmp(&b.0));
    let listed = Listed {
        at: at(1_789_999_999_000_000),
        next_dead: Some(at(1_790_000_000_000_000)),
    };
    f.save(listed, &known);
    let back = f.load();
    assert_eq!(entries(&back), known);
    assert_eq!(f.listed_of(), Some(listed));
    for (id, k) in &known {
        let claim = ClaimedFile {
            id: id.clone(),
            ino: k.ino,
        };
        assert_eq!(back.trusted(&claim, k.read_at), Some(*k), "found by its id");
    }
    // Out of order is not what a sweep writes.
    known.swap(0, 1);
    f.save(listed, &known);
    assert_eq!(f.load().len(), 0);
}

#[test]
fn a_write_killed_midway_leaves_one_temp_file_that_the_next_reuses() {
    let f = Fixture::new();
    f.runtime.create().unwrap();
    let temp = f.runtime.claims_hint_temp("a");
    // What a writer killed with -9 halfway through leaves.
    std::fs::write(&temp, "sparkq-claims 3\nlisted 1 -\n12 3").unwrap();
    let k = Known {
        ino: 9,
        stale_at: at(1_500_000),
        dead_at: at(2_000_000),
        read_at: at(1_000_000),
    };
    let known = vec![(TaskId::generate(), k)];
    let listed = listed_at(at(1_000_000));
    f.save(listed, &known);
    assert_eq!(entries(&f.load()), known);
    let names: Vec<String> = std::fs::read_dir(f.runtime.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["a.claims".to_owned()],
        "the temp file was renamed into place"
    );
    // A folder where the temp file goes: no hint is written, the last
    // one stays, and nothing fails.
    std::fs::create_dir(&temp).unwrap();
    let other = vec![(TaskId::generate(), k)];
    f.save(listed, &other);
    assert_eq!(entries(&f.load()), known);
}

#[test]
fn a_hint_too_big_to_load_is_not_written() {
    let f = Fixture::new();
    let k = Known {
        ino: u64::MAX,
        stale_at: at(1_790_000_000_000_000),
        dead_at: at(1_790_000_000_000_000),
        read_at: at(1_790_000_000_000_000),
    };
    let mut known: Vec<(TaskId, Known)> = (0..120_000).map(|_| (TaskId::generate(), k)).collect();
    known.sort_by(|a, b| a.0.cmp(&b.0));
    known.dedup_by(|a, b| a.0 == b.0);
    let listed = listed_at(at(1_790_000_000_000_000));
    f.save(listed, &known);
    assert!(!f.runtime.claims_hint("a").exists(), "never written, never read");
    known.truncate(1_000);
    f.save(listed, &known);
    assert_eq!(f.load().len(), 1_000);
}

#[test]
fn a_torn_or_foreign_hint_is_empty() {
    let f = Fixture::new();
    let known = vec![(
        TaskId::generate(),
        Known {
            ino: 7,
            stale_at: at(1_500_000),
            dead_at: at(2_000_000),
            read_at: at(1_000_000),
        },
    )];
    let listed = Listed {
        at: at(900_000),
        next_dead: Some(at(2_000_000)),
    };
    f.save(listed, &known);
    let path = f.runtime.dir().join("a.claims");
    let whole = std::fs::read_to_string(&path).unwrap();
    assert!(parse(&whole).is_some());
    let head_end = whole.match_indices('\n').nth(1).unwrap().0 + 1;
    // Cut anywhere short of the end: never taken as a hint, and its
    // listing is not taken either unless that line is whole.
    for cut in 0..whole.len() {
        assert!(
            parse(&whole[..cut]).is_none(),
            "cut at {cut}: {:?}",
            &whole[..cut]
        );
        std::fs::write(&path, &whole[..cut]).unwrap();
        assert_eq!(f.listed_of(), (cut >= head_end).then_some(listed), "cut at {cut}");
    }
    for bad in [
        whole.replace(HEADER, "sparkq-claims 2"),
        whole.replace("end 1", "end 2"),
        whole.replace(" 2000000 ", " -5 "),
        whole.replace("listed 900000 2000000", "listed 900000"),
        whole.replace("listed 900000 2000000", "listed 900000 2000000 7"),
        whole.replace("listed 900000 2000000", "listed x 2000000"),
        format!("{whole}extra\n"),
    ] {
        assert!(parse(&bad).is_none(), "{bad:?}");
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(f.load().len(), 0, "{bad:?}");
    }
    std::fs::write(&path, &whole).unwrap();
    // A link in its place is not followed.
    std::fs::remove_file(&path).unwrap();
    let elsewhere = f.dir.path().join("elsewhere");
    std::fs::write(&elsewhere, &whole).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    assert_eq!(f.load().len(), 0);
}

#[test]
fn a_listing_spares_the_next_only_within_a_second_and_before_a_death() {
    let listed_at = at(10_000_000_000);
    let later = |millis| listed_at.saturating_add(Duration::from_millis(millis));
    let listed = Listed {
        at: listed_at,
        next_dead: Some(later(400)),
    };
    assert!(listed.spares(listed_at));
    assert!(listed.spares(later(399)));
    assert!(!listed.spares(later(400)), "a claim it saw may be dead");
    let quiet = Listed {
        at: listed_at,
        next_dead: None,
    };
    assert!(quiet.spares(later(999)));
    assert!(!quiet.spares(later(1000)), "a second on, it lists again");
    let before = Timestamp::from_system(listed_at.to_system() - Duration::from_millis(1));
    assert!(!quiet.spares(before), "a clock set back: it lists again");
}

#[test]
fn a_claim_is_trusted_only_unchanged_fresh_and_alive() {
    let claim = ClaimedFile {
        id: TaskId::generate(),
        ino: 42,
    };
    let read_at = at(10_000_000_000);
    let dead_at = read_at.saturating_add(Duration::from_secs(30));
    let hint = hint_of(&[(
        claim.id.clone(),
        Known {
            ino: 42,
            stale_at: read_at,
            dead_at,
            read_at,
        },
    )]);
    let later = |secs| read_at.saturating_add(Duration::from_secs(secs));
    assert!(hint.trusted(&claim, later(0)).is_some());
    assert!(
        hint.trusted(&claim, dead_at).is_some(),
        "dead only after its time"
    );
    assert!(hint.trusted(&claim, later(31)).is_none(), "dead: read again");
    let renamed = ClaimedFile {
        id: claim.id.clone(),
        ino: 43,
    };
    assert!(
        hint.trusted(&renamed, later(1)).is_none(),
        "a new file: read again"
    );
    let other = ClaimedFile {
        id: TaskId::generate(),
        ino: 42,
    };
    assert!(hint.trusted(&other, later(1)).is_none(), "another task");
    let long = hint_of(&[(
        claim.id.clone(),
        Known {
            ino: 42,
            stale_at: later(1800),
            dead_at: later(3600),
            read_at,
        },
    )]);
    assert!(long.trusted(&claim, later(59)).is_some());
    assert!(
        long.trusted(&claim, later(60)).is_none(),
        "trusted for a minute at most"
    );
    let before = Timestamp::from_system(read_at.to_system() - Duration::from_secs(1));
    assert!(
        long.trusted(&claim, before).is_none(),
        "a clock set back: read again"
    );
}
