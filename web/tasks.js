// Task list (filters, cursor paging, stale and auto-failed markers, requeue)
// and task detail (summary first, payload, output, error, timing, history and
// the stream's instructions). Conflicts are drawn by conflicts.js.

import { streamLink, api, attempt, fill, formatDuration, formatTime, h, link, listOf, notify, isStale, parseTime, pretty, route, setParams, statusBadges, taskDuration } from "./app.js";
import { conflictBadge, conflictsSection } from "./conflicts.js";

const PAGE_SIZE = 50;
const STATUSES = ["queued", "running", "succeeded", "failed"];

async function requeue(task, after) {
  // A double click must not run the work twice unnoticed: a task that was
  // requeued before is queued again only when the user says so.
  if (task.requeued_as && !window.confirm("Task " + task.id + " was already requeued as " + task.requeued_as + ". Queue it again anyway?")) return;
  const res = await attempt(() => api("POST", "/api/tasks/" + encodeURIComponent(task.id) + "/requeue", {}));
  if (!res) return;
  const fresh = res.task || res;
  const before = res.already_requeued_as ? " (it had been requeued before, as " + res.already_requeued_as + ")" : "";
  notify("Requeued as " + (fresh.id || "a new task") + before, "ok");
  if (after) after(fresh);
}

function requeueButton(task, after) {
  if (task.status !== "failed" && task.status !== "succeeded") return null;
  return h("button", { type: "button", class: "small", "data-action": "requeue", onclick: () => requeue(task, after) }, "Requeue");
}

route("tasks", "Tasks", async (main, r) => {
  const state = { status: r.params.get("status") || "", stream: r.params.get("stream") || "", stale: r.params.get("stale") === "1" };
  const statusSel = h("select", { id: "filter-status", "aria-label": "Status" }, h("option", { value: "" }, "Any status"), STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)));
  const streamSel = h("select", { id: "filter-stream", "aria-label": "Stream" }, h("option", { value: state.stream }, state.stream || "All streams"));
  const staleBox = h("input", { type: "checkbox", id: "filter-stale", checked: state.stale });
  const rows = h("tbody", {});
  const more = h("div", { class: "more" });
  const onChange = () => {
    state.status = statusSel.value;
    state.stream = streamSel.value;
    state.stale = staleBox.checked;
    setParams({ status: state.status, stream: state.stream, stale: state.stale ? "1" : "" });
    refresh();
  };
  for (const el of [statusSel, streamSel, staleBox]) el.addEventListener("change", onChange);
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), link("enqueue", [], "+ Enqueue")),
    h("div", { class: "filters" }, statusSel, streamSel, h("label", { class: "inline" }, staleBox, " stale only")),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "tasks" },
        h("thead", {}, h("tr", {}, ["id", "status", "tool", "stream", "created", "started", "finished", "duration", ""].map((c, i) => h("th", { class: [2, 4, 5].includes(i) ? "opt" : null }, c)))),
        rows,
      ),
    ),
    more,
  );

  function query(cursor) {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.status) q.set("status", state.status);
    if (state.stream) q.set("stream", state.stream);
    if (state.stale) q.set("stale", "true");
    if (cursor) q.set("cursor", cursor);
    return "/api/tasks?" + q.toString();
  }

  function row(t) {
    return h(
      "tr",
      { "data-id": t.id, class: "status-row-" + t.status },
      h("td", { class: "mono" }, link("task", [t.id], t.id)),
      h("td", { class: "badges" }, statusBadges(t), conflictBadge(t)),
      h("td", { class: "nowrap opt" }, t.tool_name || ""),
      h("td", { class: "nowrap" }, t.stream || ""),
      h("td", { class: "time opt" }, formatTime(t.created_at)),
      h("td", { class: "time opt" }, formatTime(t.started_at)),
      h("td", { class: "time" }, formatTime(t.finished_at)),
      h("td", { class: "num" }, formatDuration(taskDuration(t))),
      h("td", {}, requeueButton(t, () => refresh())),
    );
  }

  function pager(next) {
    fill(more);
    if (!next) return;
    more.append(
      h("button", {
        type: "button",
        onclick: async () => {
          const page = await attempt(() => api("GET", query(next)));
          if (!page) return;
          rows.append(...listOf(page, "tasks").map(row));
          pager(page.next_cursor);
        },
      }, "Load more"),
    );
  }

  let loaded = false;
  async function refresh() {
    const [page, streams] = (await attempt(() => Promise.all([api("GET", query()), loaded ? null : api("GET", "/api/streams")]))) || [];
    if (!page) return;
    if (streams) {
      loaded = true;
      const names = listOf(streams, "streams").map((s) => s.name);
      fill(streamSel, h("option", { value: "" }, "All streams"), names.map((n) => h("option", { value: n, selected: n === state.stream }, n)));
    }
    const tasks = listOf(page, "tasks");
    fill(rows, tasks.length ? tasks.map(row) : h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No tasks match.")));
    pager(page.next_cursor);
  }
  await refresh();
  return refresh;
});

function section(title, ...children) {
  return h("section", { class: "detail-section" }, h("h2", {}, title), ...children);
}

function block(text, cls) {
  return h("pre", { class: "block " + (cls || ""), tabindex: "0" }, text);
}

function timing(t) {
  const steps = [
    ["queued", t.created_at],
    ["started", t.started_at],
    ["finished", t.finished_at],
  ];
  const parts = [];
  let prev = null;
  for (const [label, at] of steps) {
    const time = parseTime(at);
    if (prev !== null && time !== null) parts.push(h("span", { class: "arrow" }, "→ ", formatDuration(time - prev), " →"));
    parts.push(h("span", { class: "step" + (time === null ? " pending" : "") }, h("strong", {}, label), " ", formatTime(at)));
    if (time !== null) prev = time;
  }
  const extra = [];
  if (t.heartbeat_at) extra.push("last heartbeat " + formatTime(t.heartbeat_at));
  extra.push("timeout " + (t.timeout ?? "—") + "s", "attempt " + (t.attempts ?? 0) + " of " + (t.max_attempts ?? "—"));
  if (t.claimed_by) extra.push("worker " + t.claimed_by);
  return [h("div", { class: "timeline" }, parts), h("p", { class: "muted" }, extra.join(" · "))];
}

function history(t) {
  const items = Array.isArray(t.history) ? t.history : [];
  if (!items.length) return null;
  const line = (e) => {
    if (typeof e !== "object" || e === null) return String(e);
    const parts = ["attempt " + (e.attempt ?? "?")];
    if (e.worker) parts.push("worker " + e.worker);
    parts.push(formatTime(e.started_at) + " → " + formatTime(e.ended_at));
    return [h("span", { class: "muted" }, parts.join(" · ") + " · "), h("strong", {}, String(e.outcome ?? "—").replace("_", "-"))];
  };
  return section("History", h("ul", { class: "history" }, items.map((e) => h("li", {}, line(e)))));
}

route("task", "Task", async (main, r) => {
  const id = r.args[0] || "";
  const body = h("div", {});
  let shown = "";
  main.append(body);

  async function refresh() {
    const data = await attempt(() => api("GET", "/api/tasks/" + encodeURIComponent(id)));
    if (!data) {
      fill(body, h("p", { class: "empty" }, "Task ", id, " could not be loaded."), link("tasks", [], "Back to tasks"));
      return;
    }
    const t = data.task || data;
    // Redraw only when the task changed, so a reader's scroll position in
    // stdout survives unrelated events.
    const version = [t.updated_at, t.status, isStale(t), (t.conflicts || []).length].join("|");
    if (version === shown) return;
    shown = version;
    const streamInfo = await streamOf(data, t);
    const result = t.result && typeof t.result === "object" ? t.result : null;
    const rest = result ? Object.fromEntries(Object.entries(result).filter(([k]) => k !== "summary")) : null;
    fill(
      body,
      h("div", { class: "page-head" }, h("h1", { class: "mono" }, t.id), h("div", { class: "badges" }, statusBadges(t), conflictBadge(t)), requeueButton(t, (fresh) => fresh.id && (location.hash = "#/task/" + encodeURIComponent(fresh.id)))),
      h("p", { class: "muted" }, "Tool ", h("strong", {}, t.tool_name || "—"), " (", t.task_class || "—", ") in stream ", t.stream ? streamLink(t.stream) : "—", t.session ? " · session " + t.session : ""),
      t.requeued_from || t.requeued_as
        ? h("p", { class: "muted", id: "requeue-trail" },
            t.requeued_from ? ["Requeued from ", link("task", [t.requeued_from], String(t.requeued_from))] : null,
            t.requeued_from && t.requeued_as ? " · " : null,
            t.requeued_as ? ["Requeued as ", link("task", [t.requeued_as], String(t.requeued_as))] : null)
        : null,
      result && result.summary !== undefined ? section("Summary", h("p", { class: "summary" }, String(result.summary))) : null,
      t.error ? section("Error", block(t.error, "error")) : null,
      conflictsSection(t),
      section("Timing", timing(t)),
      rest && Object.keys(rest).length ? section("Result", block(pretty(rest))) : null,
      section("Payload", block(pretty(t.payload))),
      t.stdout ? section("stdout", block(t.stdout, "output")) : null,
      t.stderr ? section("stderr", block(t.stderr, "output")) : null,
      history(t),
      section("Stream instructions", streamInfo && streamInfo.instructions ? block(streamInfo.instructions, "instructions") : h("p", { class: "empty" }, "None.")),
    );
  }
  await refresh();
  return refresh;
});

async function streamOf(data, t) {
  if (data.stream && typeof data.stream === "object") return data.stream;
  if (!t.stream) return null;
  const streams = await attempt(() => api("GET", "/api/streams"));
  return listOf(streams, "streams").find((s) => s.name === t.stream) || null;
}
