//! A watch on a folder tree that hears of changes only: files and folders
//! created, written, renamed or removed.
//!
//! `notify`'s recursive inotify watch also asks for every open of every
//! file (`IN_OPEN`), so a long-lived process that reads task files (a page
//! of 50 tasks, a claim) wakes its own watcher once per file it opens, and
//! twice with two watchers. This watch asks the kernel for changes only.
//!
//! Folders created inside the tree are watched as they appear. A kernel
//! queue that overflowed, or a watch that could not be added, is reported
//! as [`TreeEvent::Lost`]: the receiver must assume anything changed.
//!
//! [`watch_folders`] watches a few folders only (not below them), the same
//! way: a waiting `claim --wait` hears of arrivals without its own reads of
//! the stream waking it.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd, poll};

/// What a [`TreeWatch`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeEvent<'a> {
    /// Something changed at this path (the entry may be gone by now).
    Changed(&'a Path),
    /// Events were lost: anything in the tree may have changed.
    Lost,
}

/// Changes only: no opens, reads or closes of files not written.
const CHANGES: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF);

/// A running watch; dropping it stops the watching thread.
///
/// The thread sleeps in `poll` on the inotify descriptor and on this
/// eventfd, with no timeout: an idle watch costs no wake-ups (a waiting
/// `claim --wait` or `sparkq watch` may idle for hours). Dropping the
/// watch writes to the eventfd, which wakes the thread to end.
#[derive(Debug)]
pub struct TreeWatch {
    stop: Arc<OwnedFd>,
}

impl TreeWatch {
    /// Starts `tree.run` on a thread of its own.
    fn start<F>(tree: Tree, on: F, lost: bool) -> std::io::Result<TreeWatch>
    where
        F: FnMut(TreeEvent<'_>) + Send + 'static,
    {
        let stop = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("sparkq-watch".to_owned())
            .spawn(move || tree.run(&stopped, on, lost))?;
        Ok(TreeWatch { stop })
    }
}

impl Drop for TreeWatch {
    fn drop(&mut self) {
        // Can fail only if the counter is full, and then it is not zero:
        // the thread wakes either way.
        let _ = rustix::io::write(&*self.stop, &1u64.to_ne_bytes());
    }
}

/// Watches `root` and every folder below it, calling `on` on a thread of
/// its own for each change. Fails if `root` cannot be watched (no inotify
/// instance or watch left); a folder below that cannot be watched is
/// reported as [`TreeEvent::Lost`].
pub(crate) fn watch_tree<F>(root: &Path, on: F) -> std::io::Result<TreeWatch>
where
    F: FnMut(TreeEvent<'_>) + Send + 'static,
{
    watch_tree_paced(root, None, on)
}

/// Like [`watch_tree`], for a receiver that looks each changed path up
/// rather than reading the event (the index): after each batch of events
/// the watching thread pauses for `pause`, so that the changes of that
/// time arrive as one batch, and within a batch each path is reported
/// once (looked up after every change of the batch happened, it is found
/// as the last of them left it). A busy spool then wakes the thread once
/// per pause, not once per change, and on a machine with few cores it
/// takes less time from the processes making the changes.
pub(crate) fn watch_tree_paced<F>(
    root: &Path,
    pause: Option<std::time::Duration>,
    on: F,
) -> std::io::Result<TreeWatch>
where
    F: FnMut(TreeEvent<'_>) + Send + 'static,
{
    let mut tree = Tree::new(true)?;
    tree.pause = pause;
    tree.add(root, true)?;
    // Folders below: a failure here is a lost event, not a failed start.
    let mut lost = false;
    for folder in subfolders(root) {
        lost |= tree.add(&folder, false).is_err();
    }
    TreeWatch::start(tree, on, lost)
}

/// A running watch of a few folders; dropping it stops the watching
/// thread.
#[derive(Debug)]
pub(crate) struct FolderWatch {
    _running: TreeWatch,
    watches: Watches,
    folders: Folders,
}

impl FolderWatch {
    /// Watches `folder` too (again, after it was replaced).
    pub(crate) fn add(&self, folder: &Path) -> std::io::Result<()> {
        add_watch(&mut self.watches.clone(), &self.folders, folder, false)
    }
}

/// Watches each of `folders` (not the folders below them), calling `on` on
/// a thread of its own for each change in them or to them. Fails if one
/// cannot be watched.
pub(crate) fn watch_folders<F>(folders: &[&Path], on: F) -> std::io::Result<FolderWatch>
where
    F: FnMut(TreeEvent<'_>) + Send + 'static,
{
    let tree = Tree::new(false)?;
    for folder in folders {
        tree.add(folder, false)?;
    }
    let (watches, known) = (tree.inotify.watches(), tree.folders.clone());
    Ok(FolderWatch {
        _running: TreeWatch::start(tree, on, false)?,
        watches,
        folders: known,
    })
}

/// The watched folders by watch, shared with whoever adds watches, which
/// holds it across the add: an event of a new watch is read only once the
/// folder is known.
type Folders = Arc<Mutex<HashMap<WatchDescriptor, PathBuf>>>;

fn add_watch(watches: &mut Watches, folders: &Folders, folder: &Path, root: bool) -> std::io::Result<()> {
    let mask = if root {
        CHANGES
    } else {
        CHANGES | WatchMask::ONLYDIR
    };
    let mut known = folders.lock().unwrap_or_else(PoisonError::into_inner);
    let wd = watches.add(folder, mask)?;
    known.insert(wd, folder.to_path_buf());
    Ok(())
}

/// Every folder below `root`, at any depth (not following links).
fn subfolders(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut next = vec![root.to_path_buf()];
    while let Some(dir) = next.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.push(entry.path());
                next.push(entry.path());
            }
        }
    }
    found
}

struct Tree {
    inotify: Inotify,
    folders: Folders,
    /// Folders created inside are watched too.
    recursive: bool,
    /// See [`watch_tree_paced`].
    pause: Option<std::time::Duration>,
}

impl Tree {
    fn new(recursive: bool) -> std::io::Result<Tree> {
        Ok(Tree {
            inotify: Inotify::init()?,
            folders: Folders::default(),
            recursive,
            pause: None,
        })
    }

    fn add(&self, folder: &Path, root: bool) -> std::io::Result<()> {
        add_watch(&mut self.inotify.watches(), &self.folders, folder, root)
    }

    fn run<F: FnMut(TreeEvent<'_>)>(mut self, stop: &OwnedFd, mut on: F, lost: bool) {
        let folder_of = |folders: &Folders, wd: &WatchDescriptor| {
            folders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(wd)
                .cloned()
        };
        if lost {
            on(TreeEvent::Lost);
        }
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let mut fds = [
                PollFd::new(&self.inotify, PollFlags::IN),
                PollFd::new(stop, PollFlags::IN),
            ];
            // No timeout: events or the drop of the watch wake it.
            if !matches!(poll(&mut fds, None), Ok(ready) if ready > 0) {
                continue;
            }
            if !fds[1].revents().is_empty() {
                return;
            }
            let events = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => {
                    on(TreeEvent::Lost);
                    continue;
                }
            };
            let mut new_folders = Vec::new();
            let mut gone = Vec::new();
            let mut reported = std::collections::HashSet::new();
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    on(TreeEvent::Lost);
                    continue;
                }
                if event.mask.contains(EventMask::IGNORED) {
                    gone.push(event.wd.clone());
                    continue;
                }
                let Some(folder) = folder_of(&self.folders, &event.wd) else {
                    continue;
                };
                let path = match event.name {
                    Some(name) => folder.join(name),
                    None => folder,
                };
                let created = event.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
                if self.recursive && created && event.mask.contains(EventMask::ISDIR) {
                    new_folders.push(path.clone());
                }
                if self.pause.is_none() || reported.insert(path.clone()) {
                    on(TreeEvent::Changed(&path));
                }
            }
            if !gone.is_empty() {
                let mut folders = self.folders.lock().unwrap_or_else(PoisonError::into_inner);
                for wd in gone {
                    folders.remove(&wd);
                }
            }
            // A new folder may have filled before its watch was added: the
            // receiver hears of the folder itself and reads it whole. One
            // already gone lost nothing: it was reported, and whatever
            // moved out of it into a watched folder has its event there (a
            // batch of tasks is staged in a folder, published into
            // `pending/` and the folder removed, often before the watch
            // could be added; taken as lost events, every batch made the
            // index rebuild every stream).
            for folder in new_folders {
                let mut all = vec![folder.clone()];
                all.extend(subfolders(&folder));
                for folder in all {
                    match self.add(&folder, false) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(_) => on(TreeEvent::Lost),
                    }
                }
            }
            if let Some(pause) = self.pause {
                std::thread::sleep(pause);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;

    fn heard(events: &Mutex<Vec<String>>, what: &str) -> bool {
        events.lock().unwrap().iter().any(|e| e == what)
    }

    /// What a watch reports, as paths below `base` (or "lost"), and the
    /// handler that records it.
    fn recorder(
        base: &Path,
    ) -> (
        Arc<Mutex<Vec<String>>>,
        impl FnMut(TreeEvent<'_>) + Send + 'static,
    ) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (sink, base) = (events.clone(), base.to_path_buf());
        let record = move |event: TreeEvent<'_>| {
            let text = match event {
                TreeEvent::Changed(path) => path.strip_prefix(&base).unwrap().display().to_string(),
                TreeEvent::Lost => "lost".to_owned(),
            };
            sink.lock().unwrap().push(text);
        };
        (events, record)
    }

    /// Waits (up to 10 s, else fails) until `what` was reported.
    fn wait_for(events: &Mutex<Vec<String>>, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !heard(events, what) {
            assert!(
                Instant::now() < deadline,
                "never heard {what}: {:?}",
                events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The voluntary context switches of thread `tid` of this process so
    /// far, or `None` once it has ended.
    fn switches_of(tid: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
        let line = status
            .lines()
            .find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    fn an_idle_watch_sleeps_until_a_change_and_ends_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        // The watching thread's id, as the handler (run on it) sees it.
        let tid = Arc::new(Mutex::new(None::<String>));
        let seen = tid.clone();
        let watch = watch_tree(dir.path(), move |_| {
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            *seen.lock().unwrap() = Some(me.file_name().unwrap().to_string_lossy().into_owned());
        })
        .unwrap();
        std::fs::write(dir.path().join("wake.json"), "{}").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let tid = loop {
            if let Some(tid) = tid.lock().unwrap().clone() {
                break tid;
            }
            assert!(Instant::now() < deadline, "the change was never heard");
            std::thread::sleep(Duration::from_millis(10));
        };
        // Let it finish the batch and go back to sleep, then watch it idle:
        // a thread polling with a timeout (it was 250 ms) would wake 4
        // times a second here.
        std::thread::sleep(Duration::from_millis(200));
        let before = switches_of(&tid).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let after = switches_of(&tid).unwrap();
        assert!(after - before <= 1, "an idle watch woke {} times", after - before);
        drop(watch);
        let deadline = Instant::now() + Duration::from_secs(10);
        while switches_of(&tid).is_some() {
            assert!(
                Instant::now() < deadline,
                "the watching thread outlived its watch"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn changes_are_heard_in_new_folders_and_reads_are_not() {
        // Paced or not: a paced watch reports each path once per batch.
        for pause in [None, Some(Duration::from_millis(2))] {
            changes_are_heard_by_a_watch(pause);
        }
    }

    fn changes_are_heard_by_a_watch(pause: Option<Duration>) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("a")).unwrap();
        std::fs::write(root.join("a/old.json"), "{}").unwrap();
        let (events, record) = recorder(&root);
        let watch = watch_tree_paced(&root, pause, record).unwrap();
        let wait = |what: &str| wait_for(&events, what);
        // Reads first: they must not be reported.
        for _ in 0..20 {
            std::fs::read(root.join("a/old.json")).unwrap();
        }
        std::fs::write(root.join("a/new.json"), "{}").unwrap();
        wait("a/new.json");
        std::fs::rename(root.join("a/new.json"), root.join("a/moved.json")).unwrap();
        wait("a/moved.json");
        std::fs::create_dir_all(root.join("b/pending")).unwrap();
        wait("b");
        // The new folder's own folder is watched from now on.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::fs::write(root.join("b/pending/x.json"), "{}").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            if heard(&events, "b/pending/x.json") {
                break;
            }
            assert!(Instant::now() < deadline, "never heard b/pending/x.json");
        }
        std::fs::remove_file(root.join("a/old.json")).unwrap();
        wait("a/old.json");
        let seen = events.lock().unwrap().clone();
        let old = seen.iter().filter(|e| *e == "a/old.json").count();
        assert_eq!(old, 1, "reads of a/old.json were reported: {seen:?}");
        drop(watch);
    }

    /// A folder made and removed before its watch could be added (a batch
    /// staged and published) loses no event: what moved out of it is heard
    /// where it went, and nothing is reported lost.
    #[test]
    fn a_new_folder_gone_before_its_watch_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join("pending")).unwrap();
        let (events, record) = recorder(&root);
        // Paced as the index's watch is: the folders come and go while it
        // pauses, before it reads their events.
        let watch = watch_tree_paced(&root, Some(Duration::from_millis(2)), record).unwrap();
        for i in 0..50 {
            let batch = root.join(format!(".batch-{i}.tmp"));
            std::fs::create_dir(&batch).unwrap();
            std::fs::write(batch.join("t.json"), "{}").unwrap();
            std::fs::rename(batch.join("t.json"), root.join(format!("pending/t{i}.json"))).unwrap();
            std::fs::remove_dir(&batch).unwrap();
        }
        for i in 0..50 {
            wait_for(&events, &format!("pending/t{i}.json"));
        }
        let seen = events.lock().unwrap().clone();
        assert!(
            !seen.iter().any(|e| e == "lost"),
            "events reported lost: {seen:?}"
        );
        drop(watch);
    }

    #[test]
    fn a_folder_watch_hears_changes_in_its_folders_only_and_a_replaced_folder_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let pending = root.join("pending");
        std::fs::create_dir_all(pending.join("below")).unwrap();
        std::fs::write(pending.join("old.json"), "{}").unwrap();
        let (events, record) = recorder(&root);
        let watch = watch_folders(&[&root, &pending], record).unwrap();
        let wait = |what: &str| wait_for(&events, what);
        // Reads, and changes below a watched folder, are not reported.
        for _ in 0..20 {
            std::fs::read(pending.join("old.json")).unwrap();
        }
        std::fs::write(pending.join("below/x.json"), "{}").unwrap();
        std::fs::rename(pending.join("old.json"), pending.join("new.json")).unwrap();
        wait("pending/new.json");
        // `pending/` replaced: heard, and watched again once added.
        std::fs::remove_dir_all(&pending).unwrap();
        wait("pending");
        std::fs::create_dir(&pending).unwrap();
        watch.add(&pending).unwrap();
        std::fs::write(pending.join("again.json"), "{}").unwrap();
        wait("pending/again.json");
        let seen = events.lock().unwrap().clone();
        assert!(
            !seen.iter().any(|e| e.starts_with("pending/below/")),
            "changes below were reported: {seen:?}"
        );
        drop(watch);
    }
}
