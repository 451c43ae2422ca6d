//! What the queue's in-process tests share: a project with stream `a`, a
//! plain task, and a claimer's report.

use serde_json::json;

use super::{NewTask, Queue, Report, TaskBrief};
use crate::config::{Config, SetupAnswers, render_config};
use crate::model::Task;

/// A queue over a new project in `dir` (the default `sparkq.yml`), with
/// session `s` and its stream `a`, and its runtime folder in `dir` too.
pub(super) fn queue_in(dir: &std::path::Path) -> Queue {
    let text = render_config(&SetupAnswers::defaults("t"));
    let queue = Queue::new(Config::from_yaml(&text, &dir.join("sparkq.yml")).unwrap())
        .with_runtime_dir(runtime_in(dir));
    queue.create_session("s", None).unwrap();
    queue.create_stream("a", "s", "Do it.").unwrap();
    queue
}

/// A runtime folder of its own for the project in `dir`.
pub(super) fn runtime_in(dir: &std::path::Path) -> crate::runtime::RuntimeDir {
    crate::runtime::RuntimeDir::under(&dir.join("runtime"), false, dir, "t")
}

/// A run-bash task with an empty payload and `timeout`.
pub(super) fn new_task(timeout: Option<u64>) -> NewTask {
    NewTask {
        tool_name: "run-bash".to_owned(),
        payload: json!({}),
        timeout,
        task_class: None,
    }
}

/// The report of the claimer of `claimed`: its token.
pub(super) fn report_of(claimed: &TaskBrief) -> Report {
    Report {
        token: claimed.task.claim_token.clone(),
        ..Default::default()
    }
}

/// Completes `claimed` as its claimer, with the summary "ok".
pub(super) fn complete_ok(queue: &Queue, claimed: &TaskBrief) -> Task {
    queue
        .complete(
            claimed.task.id.as_str(),
            json!({"summary": "ok"}),
            report_of(claimed),
        )
        .unwrap()
}
