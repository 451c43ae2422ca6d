// Conflicts: losing copies of a task that another machine reported
// at a sync, kept in the task's `conflicts` list. This file owns how they
// read in the UI: the list marker and the detail section. Everything is
// inserted as text through h(); no conflict field ever becomes markup.

import { formatTime, h, pretty } from "./app.js";

const FINISHED = ["succeeded", "failed"];

/// The conflicts a task carries, or an empty list.
export function conflictsOf(task) {
  return Array.isArray(task.conflicts) ? task.conflicts.filter((c) => c && typeof c === "object") : [];
}

/// What a conflict means next to the task that kept it; the same rule as
/// `Conflict::kind` in src/model/conflict.rs.
export function conflictKind(conflict, task) {
  if (!FINISHED.includes(conflict.status)) return { key: "rival-claim", label: "rival claim" };
  if (Number(conflict.attempt) < Number(task.attempts) || task.status === "queued") {
    return { key: "late-finish", label: "late finish" };
  }
  return { key: "double-finish", label: "double finish" };
}

/// The red marker of the task list and detail header, or null.
export function conflictBadge(task) {
  // A list row carries only the count; the full task carries the copies.
  const n = typeof task.conflicts === "number" ? task.conflicts : conflictsOf(task).length;
  if (!n) return null;
  const title = n === 1 ? "Another machine reported this task differently" : n + " other reports from other machines";
  return h("span", { class: "badge conflict", title }, n === 1 ? "conflict" : "conflicts ×" + n);
}

function summaryOf(conflict) {
  const result = conflict.result;
  if (result && typeof result === "object" && typeof result.summary === "string") return result.summary;
  if (result !== undefined && result !== null) return pretty(result);
  return null;
}

function item(conflict, task) {
  const kind = conflictKind(conflict, task);
  const summary = summaryOf(conflict);
  const times = [];
  if (conflict.started_at) times.push("started " + formatTime(conflict.started_at));
  if (conflict.finished_at) times.push("finished " + formatTime(conflict.finished_at));
  return h(
    "li",
    { class: "conflict-item kind-" + kind.key },
    h(
      "div",
      { class: "conflict-head" },
      h("span", { class: "badge conflict-kind" }, kind.label),
      h("span", { class: "badge status-" + String(conflict.status || "unknown") }, String(conflict.status || "unknown")),
      " attempt ",
      String(conflict.attempt ?? "?"),
      " · worker ",
      h("strong", { class: "conflict-worker" }, conflict.claimed_by || "unknown"),
    ),
    times.length ? h("p", { class: "muted conflict-times" }, times.join(" · ")) : null,
    summary !== null ? h("p", { class: "summary conflict-summary" }, summary) : null,
    conflict.error ? h("pre", { class: "block error conflict-error", tabindex: "0" }, conflict.error) : null,
  );
}

/// The "Conflicts" section of the task detail page, or null when there are none.
export function conflictsSection(task) {
  const conflicts = conflictsOf(task);
  if (!conflicts.length) return null;
  return h(
    "section",
    { class: "detail-section conflicts" },
    h("h2", {}, "Conflicts"),
    h("p", { class: "muted" }, "Other machines reported this task differently; the copy above won. Run 'sparkq doctor' to review."),
    h("ul", { class: "conflicts" }, conflicts.map((c) => item(c, task))),
  );
}
