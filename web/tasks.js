// Task list (filters, cursor paging, stale and auto-failed markers, requeue)
// and task detail (summary first, payload, output, error, timing, history and
// the stream's instructions). Conflicts are drawn by conflicts.js.

import { streamLink, api, attempt, eventsCarryListings, fill, formatDuration, formatTime, h, link, listOf, notify, isStale, parseTime, pretty, pushParams, route, statusBadges, taskDuration, timeEl } from "./app.js";
import { conflictBadge, conflictsSection } from "./conflicts.js";

const PAGE_SIZE = 50;
const STATUSES = ["queued", "running", "succeeded", "failed"];
/// The filters of the task list, in URL order. Each is a query parameter of
/// both the page URL (`#/tasks?...`) and `GET /api/tasks`.
const FILTERS = ["q", "status", "stream", "tool", "worker", "since", "until", "stale"];
const RELATIVE = /^\d+\s*(s|m|h|d)$/i;

/// What a reader recognises a task by: the server's `payload_key`, or for
/// a full task the same rule applied here.
export function payloadKey(t) {
  if (typeof t.payload_key === "string" && t.payload_key) return t.payload_key;
  const p = t.payload;
  if (!p || typeof p !== "object") return null;
  for (const k of ["script", "script_path", "path", "file", "command"]) if (typeof p[k] === "string" && p[k]) return p[k];
  for (const k of ["prompt", "instructions", "task"]) {
    if (typeof p[k] === "string") {
      const line = p[k].split("\n").find((l) => l.trim());
      if (line) return line.trim();
    }
  }
  const first = Object.values(p).find((v) => typeof v === "string" && v);
  return first || null;
}

/// The line a reader reads first: the error of a failure, the summary of a
/// success.
export function outcomeText(t) {
  if (t.status === "failed") return t.error || "";
  return t.summary || "";
}

/// Opens the requeue dialog: says what will happen, warns (with a link)
/// when the task was requeued before, and lets the user pick another stream
/// and edit the payload. Nothing is sent until they press Requeue.
export async function requeueDialog(task, after) {
  const [full, streamsData] = (await attempt(() => Promise.all([api("GET", "/api/tasks/" + encodeURIComponent(task.id) + "?outputs=preview"), api("GET", "/api/streams")]))) || [];
  if (!full) return;
  const t = full.task || full;
  const streams = listOf(streamsData, "streams").filter((s) => (s.status || "active") === "active" || s.name === t.stream);
  const stream = h("select", { id: "requeue-stream" }, streams.map((s) => h("option", { value: s.name, selected: s.name === t.stream }, s.name)));
  const original = JSON.stringify(t.payload === undefined ? {} : t.payload, null, 2);
  const payload = h("textarea", { id: "requeue-payload", rows: Math.min(14, original.split("\n").length + 1), spellcheck: "false", class: "mono" }, original);
  payload.value = original;
  const problem = h("p", { class: "field-error", role: "status" });
  const send = h("button", { type: "submit", id: "requeue-confirm", value: "requeue" }, "Requeue");
  const cancel = h("button", { type: "button", class: "secondary", id: "requeue-cancel" }, "Cancel");
  const already = t.requeued_as || task.requeued_as;
  const form = h(
    "form",
    { method: "dialog", class: "form dialog-form" },
    h("h2", { id: "requeue-title" }, "Requeue ", h("span", { class: "mono" }, t.id), "?"),
    h("p", {}, "A new queued task is made from this one; the original stays as it is."),
    already
      ? h("p", { class: "warn-box", id: "requeue-already", role: "alert" }, "This task was already requeued as ", link("task", [already], String(already)), ". Requeueing again runs the work once more.")
      : null,
    h("label", { class: "field" }, h("span", {}, "Stream"), stream),
    h("label", { class: "field" }, h("span", {}, "Payload (JSON)"), payload),
    problem,
    h("div", { class: "dialog-buttons" }, cancel, send),
  );
  const dialog = h("dialog", { class: "requeue-dialog", "aria-labelledby": "requeue-title" }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", () => dialog.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let value;
    try {
      value = JSON.parse(payload.value || "{}");
    } catch (err) {
      fill(problem, "The payload is not valid JSON: " + err.message);
      return;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fill(problem, "The payload must be a JSON object.");
      return;
    }
    const body = {};
    if (stream.value && stream.value !== t.stream) body.stream = stream.value;
    if (payload.value.trim() !== original.trim() && JSON.stringify(value) !== JSON.stringify(t.payload)) body.payload = value;
    send.disabled = true;
    const res = await attempt(() => api("POST", "/api/tasks/" + encodeURIComponent(t.id) + "/requeue", body));
    send.disabled = false;
    if (!res) return;
    close();
    const fresh = res.task || res;
    const box = document.getElementById("notice");
    fill(
      box,
      h(
        "div",
        { class: "notice ok", role: "status" },
        h("span", {}, "Requeued as ", link("task", [fresh.id], String(fresh.id)), body.stream ? " in " + body.stream : "", res.already_requeued_as ? " (it had been requeued before, as " + res.already_requeued_as + ")" : ""),
      ),
    );
    if (after) after(fresh);
  });
  document.body.append(dialog);
  dialog.showModal();
  send.focus();
}

function requeueButton(task, after) {
  if (task.status !== "failed" && task.status !== "succeeded") return null;
  return h(
    "button",
    {
      type: "button",
      class: "small secondary",
      "data-action": "requeue",
      title: task.requeued_as ? "Already requeued as " + task.requeued_as : "Queue a copy of this task",
      onclick: (ev) => {
        ev.stopPropagation();
        requeueDialog(task, after);
      },
    },
    task.requeued_as ? "Requeue again…" : "Requeue…",
  );
}

/// One task as a list row (a card on phones). The whole row opens the task;
/// the id is also a real link for keyboards and screen readers.
export function taskRow(t, after) {
  const key = payloadKey(t);
  const text = outcomeText(t);
  const when = t.finished_at || t.started_at || t.created_at;
  const whenLabel = t.finished_at ? "finished" : t.started_at ? "started" : "queued";
  const tr = h(
    "tr",
    { "data-id": t.id, class: "task-row status-row-" + t.status },
    h("td", { class: "c-status" }, statusBadges(t), conflictBadge(t)),
    h(
      "td",
      { class: "c-what" },
      h("div", { class: "what-key" }, link("task", [t.id], key || t.id)),
      text ? h("div", { class: "outcome " + (t.status === "failed" ? "outcome-failed" : "outcome-ok") }, text) : null,
      h("div", { class: "what-id mono muted" }, key ? t.id : null),
    ),
    h("td", { class: "c-tool nowrap" }, t.tool_name || ""),
    h("td", { class: "c-stream nowrap" }, t.stream || ""),
    h("td", { class: "c-worker" + (t.claimed_by ? "" : " none"), title: t.claimed_by || null }, t.claimed_by || h("span", { class: "muted" }, "—")),
    h("td", { class: "c-attempts num", title: "attempts of max" }, String(t.attempts ?? 0) + "/" + String(t.max_attempts ?? "—")),
    h("td", { class: "c-when", title: whenLabel }, timeEl(when)),
    h("td", { class: "c-duration num" + (taskDuration(t) === null ? " none" : "") }, formatDuration(taskDuration(t))),
    h("td", { class: "c-actions" }, requeueButton(t, after)),
  );
  tr.addEventListener("click", (ev) => {
    if (ev.target.closest("a, button, input, select, textarea")) return;
    if (window.getSelection && String(window.getSelection())) return;
    location.hash = "#/task/" + encodeURIComponent(t.id);
  });
  return tr;
}

export const ROW_HEADINGS = ["status", "task · outcome", "tool", "stream", "worker", "tries", "when", "took", ""];

export function taskTable(rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { class: "tasks" }, h("thead", {}, h("tr", {}, ROW_HEADINGS.map((c, i) => h("th", { class: "h-" + i }, c)))), rows),
  );
}

/// j/k move through the rows of `tbody`, Enter opens the selected one.
/// Keys typed into a field are left alone.
function keyboard(tbody) {
  const handler = (ev) => {
    if (!tbody.isConnected) {
      document.removeEventListener("keydown", handler);
      return;
    }
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.target.closest && ev.target.closest("input, select, textarea, dialog")) return;
    if (ev.key === "/") {
      const search = document.getElementById("filter-q");
      if (search) {
        ev.preventDefault();
        search.focus();
      }
      return;
    }
    const rows = [...tbody.querySelectorAll("tr[data-id]")];
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.classList.contains("selected"));
    let next = null;
    if (ev.key === "j") next = Math.min(rows.length - 1, at + 1);
    else if (ev.key === "k") next = Math.max(0, at < 0 ? 0 : at - 1);
    else if (ev.key === "Enter" && at >= 0 && !ev.target.closest("a, button")) {
      location.hash = "#/task/" + encodeURIComponent(rows[at].getAttribute("data-id"));
      ev.preventDefault();
      return;
    } else return;
    ev.preventDefault();
    rows.forEach((r, i) => r.classList.toggle("selected", i === next));
    tbody.dataset.selected = rows[next].getAttribute("data-id");
    rows[next].setAttribute("aria-current", "true");
    rows.forEach((r, i) => i !== next && r.removeAttribute("aria-current"));
    rows[next].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", handler);
}

/// A time filter as the API takes it: `8h`-style relative times as they
/// are, anything `Date` reads as RFC 3339. `null` when it cannot be read.
export function apiTime(value) {
  const v = String(value || "").trim();
  if (!v) return "";
  if (RELATIVE.test(v)) return v.replace(/\s+/g, "");
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/// Whether a listing still belongs in a list with `state`'s filters; what
/// the server judges by a text it does not send (the payload) counts as a
/// match when the row is already shown.
function matches(t, state, shown) {
  if (state.status && t.status !== state.status) return false;
  if (state.stream && t.stream !== state.stream) return false;
  if (state.tool && t.tool_name !== state.tool) return false;
  if (state.worker && t.claimed_by !== state.worker) return false;
  if (state.stale && !t.stale) return false;
  if (state.q) {
    const q = state.q.toLowerCase();
    const seen = [t.summary, t.error, t.payload_key].some((s) => typeof s === "string" && s.toLowerCase().includes(q));
    if (!seen && !shown) return false;
  }
  const updated = parseTime(t.updated_at);
  const since = apiTime(state.since);
  if (since && updated !== null) {
    const m = RELATIVE.exec(since);
    const from = m ? Date.now() - Number(since.slice(0, -1)) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[1].toLowerCase()] : parseTime(since);
    if (from !== null && updated < from) return false;
  }
  if (state.until && apiTime(state.until) && !RELATIVE.test(state.until)) {
    const to = parseTime(apiTime(state.until));
    if (to !== null && updated !== null && updated >= to) return false;
  }
  return true;
}

route("tasks", "Tasks", async (main, r) => {
  const state = {};
  for (const k of FILTERS) state[k] = r.params.get(k) || "";
  state.stale = state.stale === "1" ? "1" : "";
  const cursor = r.params.get("cursor") || "";
  // The cursors of the newer pages, so "newer" walks back the way "older" came.
  const newer = window.history.state && Array.isArray(window.history.state.newer) ? window.history.state.newer : [];

  const search = h("input", { id: "filter-q", type: "search", placeholder: "Search summary, error, payload", value: state.q, autocomplete: "off" });
  const statusSel = h("select", { id: "filter-status" }, h("option", { value: "" }, "Any status"), STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)));
  const streamSel = h("select", { id: "filter-stream" }, h("option", { value: state.stream }, state.stream || "All streams"));
  const toolSel = h("select", { id: "filter-tool" }, h("option", { value: state.tool }, state.tool || "All tools"));
  const worker = h("input", { id: "filter-worker", placeholder: "any", value: state.worker, autocomplete: "off", size: 10 });
  const since = h("input", { id: "filter-since", placeholder: "8h, 2026-12-01 22:00", title: "8h, 90m, 2d or a date and time", value: state.since, autocomplete: "off", list: "time-presets", size: 12 });
  const until = h("input", { id: "filter-until", placeholder: "now", title: "8h, 90m, 2d or a date and time", value: state.until, autocomplete: "off", list: "time-presets", size: 12 });
  const staleBox = h("input", { type: "checkbox", id: "filter-stale", checked: state.stale === "1" });
  const presets = h("datalist", { id: "time-presets" }, ["1h", "8h", "24h", "2d", "7d"].map((v) => h("option", { value: v })));
  const problem = h("p", { class: "field-error", role: "status", id: "filter-problem" });
  const rows = h("tbody", {});
  const info = h("p", { class: "muted list-info", role: "status" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const labelled = (text, el) => h("label", { class: "filter" }, h("span", {}, text), el);
  const active = FILTERS.filter((k) => k !== "q" && state[k]).length;
  // On a phone the filters beyond the search fold away; on a wide screen,
  // or with a filter set, they start open.
  const more = h(
    "details",
    { class: "more-filters", open: active > 0 || window.matchMedia("(min-width: 721px)").matches },
    h("summary", {}, "Filters", active ? " (" + active + " set)" : ""),
    h("div", { class: "filters-inner" }, labelled("Status", statusSel), labelled("Stream", streamSel), labelled("Tool", toolSel), labelled("Worker", worker), labelled("Since", since), labelled("Until", until), h("label", { class: "filter inline" }, staleBox, " stale only")),
  );
  const form = h(
    "form",
    { class: "filters", role: "search", id: "task-filters" },
    h("label", { class: "filter filter-q" }, h("span", {}, "Search"), search),
    h("button", { type: "submit", class: "small apply" }, "Apply"),
    more,
    presets,
  );

  const apply = () => {
    const next = { q: search.value.trim(), status: statusSel.value, stream: streamSel.value, tool: toolSel.value, worker: worker.value.trim(), since: since.value.trim(), until: until.value.trim(), stale: staleBox.checked ? "1" : "" };
    for (const k of ["since", "until"]) {
      if (apiTime(next[k]) === null) {
        fill(problem, "Cannot read the " + k + " time \"" + next[k] + "\": use 8h, 90m, 2d or a date like 2026-12-01 22:00.");
        return;
      }
    }
    fill(problem);
    Object.assign(state, next);
    pushParams(state);
    load("", []);
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    apply();
  });
  for (const el of [statusSel, streamSel, toolSel, staleBox]) el.addEventListener("change", apply);
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(apply, 350);
  });

  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), h("span", { class: "muted keys" }, h("kbd", {}, "j"), "/", h("kbd", {}, "k"), " move · ", h("kbd", {}, "Enter"), " open · ", h("kbd", {}, "/"), " search"), link("enqueue", [], "+ Enqueue")),
    form,
    problem,
    info,
    taskTable(rows),
    pager,
  );
  keyboard(rows);

  let page = { cursor, newer, tasks: [], next: null };

  function query(at) {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const k of FILTERS) {
      if (!state[k]) continue;
      if (k === "stale") q.set("stale", "true");
      else if (k === "since" || k === "until") q.set(k, apiTime(state[k]));
      else q.set(k, state[k]);
    }
    if (at) q.set("cursor", at);
    return "/api/tasks?" + q.toString();
  }

  function drawPager() {
    const items = [];
    if (page.cursor) {
      items.push(h("button", { type: "button", class: "secondary", id: "page-newest", onclick: () => load("", []) }, "« newest"));
      items.push(h("button", { type: "button", class: "secondary", id: "page-newer", onclick: () => load(page.newer[page.newer.length - 1] || "", page.newer.slice(0, -1)) }, "‹ newer"));
    }
    if (page.next) items.push(h("button", { type: "button", class: "secondary", id: "page-older", onclick: () => load(page.next, [...page.newer, page.cursor]) }, "older ›"));
    fill(pager, items);
  }

  function draw() {
    const selected = rows.dataset.selected;
    fill(rows, page.tasks.length ? page.tasks.map((t) => taskRow(t, () => refresh())) : h("tr", {}, h("td", { colspan: ROW_HEADINGS.length, class: "empty" }, "No tasks match.")));
    if (selected) rows.querySelector('tr[data-id="' + CSS.escape(selected) + '"]')?.classList.add("selected");
    const n = page.tasks.length;
    fill(info, n ? (page.cursor || page.next ? "Showing " + n + " tasks, newest first (pages of " + PAGE_SIZE + ")." : n + (n === 1 ? " task." : " tasks, newest first.")) : "");
    drawPager();
  }

  // Answers can come back out of order: only the newest request may draw.
  // A page move (`load`) wins over a live refresh started before it, and a
  // refresh is not started while a move is on the way (the move brings
  // fresh rows anyway), so a click on "older" is never undone.
  let requests = 0;
  let moving = 0;
  async function load(at, trail) {
    const mine = ++requests;
    moving = mine;
    const data = await attempt(() => api("GET", query(at)));
    if (moving === mine) moving = 0;
    // A page left while its answer was on the way must not touch history.
    if (mine !== requests || !data || !rows.isConnected) return;
    const moved = at !== page.cursor;
    page = { cursor: at, newer: trail, tasks: listOf(data, "tasks"), next: data.next_cursor || null };
    if (moved) pushParams({ ...state, cursor: at });
    window.history.replaceState({ newer: trail }, "", location.hash);
    draw();
  }

  let optionsLoaded = false;
  async function options() {
    if (optionsLoaded) return;
    const got = await attempt(() => Promise.all([api("GET", "/api/streams"), api("GET", "/api/tools")]));
    if (!got) return;
    optionsLoaded = true;
    const streams = listOf(got[0], "streams").map((s) => s.name);
    const tools = listOf(got[1], "tools").map((t) => t.name);
    if (state.tool && !tools.includes(state.tool)) tools.push(state.tool);
    fill(streamSel, h("option", { value: "" }, "All streams"), streams.map((n) => h("option", { value: n, selected: n === state.stream }, n)));
    fill(toolSel, h("option", { value: "" }, "All tools"), tools.map((n) => h("option", { value: n, selected: n === state.tool }, n)));
  }

  async function refresh() {
    if (moving) return;
    const mine = ++requests;
    const data = await attempt(() => api("GET", query(page.cursor)));
    if (mine !== requests || !data) return;
    page.tasks = listOf(data, "tasks");
    page.next = data.next_cursor || null;
    draw();
  }

  /// Applies one live task event to the rows shown, without a refetch.
  function onTask(ev) {
    if (!ev.listing) return Boolean(ev.id) && eventsCarryListings();
    const t = ev.listing;
    const at = page.tasks.findIndex((x) => x.id === t.id);
    if (at >= 0) {
      if (matches(t, state, true)) page.tasks[at] = t;
      else page.tasks.splice(at, 1);
    } else {
      if (!matches(t, state, false)) return true;
      const last = page.tasks[page.tasks.length - 1];
      const first = page.tasks[0];
      const fits = page.cursor ? first && last && t.id < first.id && t.id > last.id : !last || t.id > last.id || page.tasks.length < PAGE_SIZE;
      if (!fits) return true;
      page.tasks.push(t);
      page.tasks.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      if (page.tasks.length > PAGE_SIZE) {
        page.tasks.length = PAGE_SIZE;
        if (!page.next) page.next = page.tasks[PAGE_SIZE - 1].id;
      }
    }
    const oldRow = rows.querySelector('tr[data-id="' + CSS.escape(t.id) + '"]');
    const selected = oldRow && oldRow.classList.contains("selected");
    if (oldRow && at >= 0 && page.tasks[at] === t) {
      const fresh = taskRow(t, () => refresh());
      if (selected) fresh.classList.add("selected");
      oldRow.replaceWith(fresh);
      return true;
    }
    draw();
    return true;
  }

  /// Time passing without events: running tasks age and may turn stale,
  /// relative times move on. Redrawn from what is shown, no fetch.
  function tick() {
    for (const t of page.tasks) if (t.status === "running") t.stale = isStale({ ...t, stale: undefined });
    draw();
  }

  await Promise.all([options(), load(cursor, newer)]);
  return { refresh, onTask, tick };
});

function section(title, ...children) {
  return h("section", { class: "detail-section" }, h("h2", {}, title), ...children);
}

function block(text, cls) {
  return h("pre", { class: "block " + (cls || ""), tabindex: "0" }, text);
}

/// Bytes as people read them: `812 B`, `14.2 KiB`, `4.0 MiB`.
function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

/// Above this many characters a full output is shown as its head and tail
/// until the reader asks for all of it (an older server sends it whole).
const CLIENT_PREVIEW_CHARS = 128 * 1024;

/// stdout or stderr: the first and last lines when the output is big, with
/// "load all" and "download" (the full text comes from its own route).
function outputSection(t, data, which) {
  const text = t[which];
  if (!text) return null;
  const size = Number(data[which + "_bytes"] ?? t[which + "_bytes"]) || new Blob([text]).size;
  let shown = text;
  let cut = Boolean(data[which + "_truncated"] ?? t[which + "_truncated"]);
  if (!cut && text.length > CLIENT_PREVIEW_CHARS) {
    const head = text.slice(0, CLIENT_PREVIEW_CHARS / 2);
    const tail = text.slice(-CLIENT_PREVIEW_CHARS / 2);
    shown = head.slice(0, head.lastIndexOf("\n") + 1) + "\n… (middle not shown) …\n\n" + tail.slice(tail.indexOf("\n") + 1);
    cut = true;
  }
  const url = "/api/tasks/" + encodeURIComponent(t.id) + "/" + which;
  const pre = h("pre", { class: "block output" + (cut || size > 64 * 1024 ? " big" : ""), tabindex: "0", id: "output-" + which }, shown);
  const note = h("span", { class: "muted" }, cut ? "Showing the first and last lines of " + bytes(size) + ". " : bytes(size) + ". ");
  const loadAll = cut
    ? h(
        "button",
        {
          type: "button",
          class: "small secondary",
          "data-action": "load-all-" + which,
          onclick: async (ev) => {
            const button = ev.currentTarget;
            button.disabled = true;
            fill(button, "Loading…");
            try {
              const res = await fetch(url, { headers: { Accept: "text/plain" } });
              if (!res.ok) throw new Error("HTTP " + res.status);
              pre.textContent = await res.text();
              fill(note, "All " + bytes(size) + ". ");
              button.remove();
            } catch (err) {
              button.disabled = false;
              fill(button, "Load all");
              notify("Could not load all of " + which + ": " + err.message);
            }
          },
        },
        "Load all",
      )
    : null;
  const download = h("a", { href: url + "?download=1", download: t.id + "." + which + ".txt", class: "small-link", "data-action": "download-" + which }, "Download");
  return section(which, h("p", { class: "output-tools" }, note, loadAll, " ", download), pre);
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
    parts.push(h("span", { class: "step" + (time === null ? " pending" : "") }, h("strong", {}, label), " ", formatTime(at, true)));
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
    const data = await attempt(() => api("GET", "/api/tasks/" + encodeURIComponent(id) + "?outputs=preview"));
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
      h("div", { class: "page-head" }, h("h1", { class: "mono" }, t.id), h("div", { class: "badges" }, statusBadges(t), conflictBadge(t)), requeueButton(t, () => refresh())),
      payloadKey(t) ? h("p", { class: "what-key big-key" }, payloadKey(t)) : null,
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
      outputSection(t, data, "stdout"),
      outputSection(t, data, "stderr"),
      history(t),
      section("Stream instructions", streamInfo && streamInfo.instructions ? block(streamInfo.instructions, "instructions") : h("p", { class: "empty" }, "None.")),
    );
  }
  await refresh();
  // Only this task's events matter here.
  const onTask = (ev) => ev.id !== id && Boolean(ev.id);
  return { refresh, onTask };
});

async function streamOf(data, t) {
  if (data.stream && typeof data.stream === "object") return data.stream;
  if (!t.stream) return null;
  const streams = await attempt(() => api("GET", "/api/streams"));
  return listOf(streams, "streams").find((s) => s.name === t.stream) || null;
}
