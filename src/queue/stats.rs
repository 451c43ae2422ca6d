//! Numbers for the dashboard's charts, in one pass over every task: tasks
//! finished per hour, how long each tool takes (median and p90, from the
//! tasks it ran), and each stream's queue depth hour by hour.
//!
//! Depth is reconstructed from each task's times: a task is queued from
//! `created_at` until it started (or finished, or is still queued), and
//! running from `started_at` until `finished_at` (or still). A task
//! requeued after a dead claim shows only its last claim.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::index::Summary;
use super::{Error, Queue, Result};
use crate::model::{Name, TaskStatus, Timestamp};

/// The most hours one report may cover (a week).
pub const MAX_STATS_HOURS: u32 = 168;

const HOUR: Duration = Duration::from_secs(3600);

/// What `GET /api/stats` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub generated_at: Timestamp,
    /// One bucket per hour, oldest first, the last one the current hour.
    pub hours: Vec<HourCount>,
    /// Every tool that ran a finished task with a known duration, by name.
    pub tools: Vec<ToolDurations>,
    /// Per stream (by name), one point per hour of the same window.
    pub depth: Vec<StreamDepth>,
}

/// Tasks that finished within one hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourCount {
    pub start: Timestamp,
    pub succeeded: usize,
    pub failed: usize,
}

/// How long a tool's finished tasks ran, over the whole history kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDurations {
    pub tool_name: String,
    pub count: usize,
    pub p50_ms: u64,
    pub p90_ms: u64,
}

/// One stream's queue over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamDepth {
    pub stream: Name,
    pub points: Vec<DepthPoint>,
}

/// How many tasks were queued and running at `at` (the end of an hour,
/// or now for the current one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthPoint {
    pub at: Timestamp,
    pub queued: usize,
    pub running: usize,
}

impl Queue {
    /// The dashboard's numbers over the `hours` hours that end with the
    /// current one (1 to [`MAX_STATS_HOURS`]), of every stream or of
    /// `stream` alone (an unknown stream is an error).
    pub fn stats(&self, hours: u32, stream: Option<&str>) -> Result<Stats> {
        if !(1..=MAX_STATS_HOURS).contains(&hours) {
            return Err(Error::invalid(
                "hours",
                format!("{hours} is out of range"),
                "Ask for 1 to 168 hours (a week).",
            ));
        }
        let now = Timestamp::now();
        let since_epoch = now.to_system().duration_since(UNIX_EPOCH).unwrap_or_default();
        let this_hour = Timestamp::from_system(
            UNIX_EPOCH + HOUR * u32::try_from(since_epoch.as_secs() / 3600).unwrap_or(u32::MAX),
        );
        let starts: Vec<Timestamp> = (0..hours)
            .rev()
            .map(|back| {
                // A clock near the epoch has fewer hours behind it: clamp.
                let start = this_hour.to_system().checked_sub(HOUR * back);
                Timestamp::from_system(start.unwrap_or(UNIX_EPOCH))
            })
            .collect();
        let points: Vec<Timestamp> = starts.iter().map(|s| s.saturating_add(HOUR).min(now)).collect();
        let first = starts[0];
        let hour_of = |t: Timestamp| -> Option<usize> {
            (t >= first)
                .then(|| usize::try_from(t.since(first).as_secs() / 3600).unwrap_or(usize::MAX))
                .filter(|&i| i < starts.len())
        };

        let streams = match stream {
            Some(name) => vec![self.stream(name)?],
            None => self.all_streams()?,
        };
        for stream in &streams {
            self.touch_quietly(stream, None);
        }
        let empty = || Tally {
            per_hour: vec![(0, 0); starts.len()],
            runs: BTreeMap::new(),
            depth: vec![vec![(0, 0); points.len() + 1]; streams.len()],
        };
        let count = |tally: &mut Tally, stream: usize, status: TaskStatus, task: &Summary| {
            let finished = status.is_finished().then(|| task.finish());
            if let Some(i) = finished.and_then(hour_of) {
                match status {
                    TaskStatus::Failed => tally.per_hour[i].1 += 1,
                    _ => tally.per_hour[i].0 += 1,
                }
            }
            if let (Some(start), Some(end)) = (task.started_at, finished) {
                let ms = u64::try_from(end.since(start).as_millis()).unwrap_or(u64::MAX);
                match tally.runs.get_mut(&task.tool_name) {
                    Some(runs) => runs.push(ms),
                    None => {
                        tally.runs.insert(task.tool_name.clone(), vec![ms]);
                    }
                }
            }
            // A queued copy has not started, whatever an old file says.
            let started = (status != TaskStatus::Queued)
                .then_some(task.started_at)
                .flatten();
            if finished.is_some_and(|f| f < first) || task.created_at > now {
                return;
            }
            // Counted at the points from its creation until it finished:
            // queued before it started, running from then on. Points are
            // in order, so each task marks where its spans begin and end.
            let from = points.partition_point(|&at| at < task.created_at);
            let to = finished.map_or(points.len(), |f| points.partition_point(|&at| at < f));
            if from >= to {
                return;
            }
            let running_from = started.map_or(to, |s| points.partition_point(|&at| at < s).clamp(from, to));
            let marks = &mut tally.depth[stream];
            marks[from].0 += 1;
            marks[running_from].0 -= 1;
            marks[running_from].1 += 1;
            marks[to].1 -= 1;
        };
        // From the index's summaries when it keeps them (no file read),
        // else one pass over every task file.
        let tallies = match self.indexed_summaries(&streams, &TaskStatus::ALL) {
            Some(summaries) => {
                let mut tally = empty();
                for (stream, status, summary) in &summaries {
                    count(&mut tally, *stream, *status, summary);
                }
                vec![tally]
            }
            None => {
                let entries = self.every_id(&streams, &TaskStatus::ALL, None)?;
                self.fold_tasks(&streams, &entries, empty, |tally, stream, status, task| {
                    count(tally, stream, status, &Summary::of(&task));
                })
            }
        };
        let Tally {
            per_hour,
            runs,
            depth,
        } = tallies.into_iter().fold(empty(), Tally::add);
        Ok(Stats {
            generated_at: now,
            hours: starts
                .iter()
                .zip(per_hour)
                .map(|(&start, (succeeded, failed))| HourCount {
                    start,
                    succeeded,
                    failed,
                })
                .collect(),
            tools: runs
                .into_iter()
                .map(|(tool_name, mut ms)| {
                    ms.sort_unstable();
                    ToolDurations {
                        tool_name,
                        count: ms.len(),
                        p50_ms: nearest_rank(&ms, 50),
                        p90_ms: nearest_rank(&ms, 90),
                    }
                })
                .collect(),
            depth: streams
                .iter()
                .zip(depth)
                .map(|(stream, marks)| StreamDepth {
                    stream: stream.name.clone(),
                    points: points
                        .iter()
                        .zip(marks.iter().scan((0i64, 0i64), |now, mark| {
                            *now = (now.0 + mark.0, now.1 + mark.1);
                            Some(*now)
                        }))
                        .map(|(&at, (queued, running))| DepthPoint {
                            at,
                            queued: usize::try_from(queued).unwrap_or(0),
                            running: usize::try_from(running).unwrap_or(0),
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}

/// What one reading thread counted (see [`Queue::fold_tasks`]).
struct Tally {
    /// Per hour bucket: (succeeded, failed).
    per_hour: Vec<(usize, usize)>,
    /// Per tool: run times in milliseconds.
    runs: BTreeMap<String, Vec<u64>>,
    /// Per stream, per point: how many (queued, running) spans begin
    /// there less how many end there; summed from the first point, the
    /// counts at each point.
    depth: Vec<Vec<(i64, i64)>>,
}

impl Tally {
    fn add(mut self, other: Tally) -> Tally {
        for (mine, theirs) in self.per_hour.iter_mut().zip(other.per_hour) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        for (tool, ms) in other.runs {
            self.runs.entry(tool).or_default().extend(ms);
        }
        for (mine, theirs) in self.depth.iter_mut().zip(other.depth) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.0 += t.0;
                m.1 += t.1;
            }
        }
        self
    }
}

/// The `p`th percentile of `sorted` (not empty) by nearest rank: the
/// smallest value with at least `p` percent of the values at or below it.
fn nearest_rank(sorted: &[u64], p: usize) -> u64 {
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 50), 5);
        assert_eq!(nearest_rank(&ten, 90), 9);
        assert_eq!(nearest_rank(&[7], 50), 7);
        assert_eq!(nearest_rank(&[7], 90), 7);
        assert_eq!(nearest_rank(&[1, 100], 50), 1);
        assert_eq!(nearest_rank(&[1, 100], 90), 100);
    }
}
