// SparkQ web UI: shared helpers, the API client, the hash router and the
// live-update wiring. Every value that came from the spool or the user is put
// into the page as a text node (see `h`); nothing here ever assigns innerHTML.

const routes = {};
let current = { refresh: null, onTask: null, tick: null, name: "" };
let shownHash = null;
let refreshTimer = null;
let refreshing = false;
let refreshAgain = false;
let changes = 0;

/// Builds an element. Children that are strings or numbers become text nodes,
/// so user data can never become markup. Attributes starting with "on" are
/// event listeners; "class" and plain attributes go through setAttribute.
export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/// Replaces all children of `el` with `children`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/// An in-app link. Only ever built from a fixed route plus encoded parts, so
/// a `javascript:` string from the spool can never become an href.
export function link(route, parts, ...children) {
  const path = [route, ...parts.map((p) => encodeURIComponent(String(p)))].join("/");
  return h("a", { href: "#/" + path }, ...children);
}

/// A link to the task list filtered by one stream.
export function streamLink(name, ...children) {
  return h("a", { href: "#/tasks?stream=" + encodeURIComponent(String(name)) }, ...(children.length ? children : [String(name)]));
}

/// Error raised for any failed API call, carrying the server's code and message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// Calls the JSON API. State-changing calls always send
/// `Content-Type: application/json`, which the server requires.
export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "Cannot reach the SparkQ server: " + err.message);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : {};
    throw new ApiError(res.status, e.code || "http_" + res.status, e.message || text || res.statusText);
  }
  return data;
}

/// Picks a list out of a response that is either an array or `{key: [...]}`.
export function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

/// Shows a message in the banner; errors stay until dismissed.
export function notify(message, kind = "error") {
  const box = document.getElementById("notice");
  const close = h("button", { class: "link", type: "button", "aria-label": "Dismiss", onclick: () => box.replaceChildren() }, "×");
  fill(box, h("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, h("span", {}, message), close));
  if (kind !== "error") setTimeout(() => box.contains(close) && box.replaceChildren(), 4000);
}

/// Runs an async action and reports any failure in the banner.
export async function attempt(action) {
  try {
    return await action();
  } catch (err) {
    const code = err instanceof ApiError ? " (" + err.code + ")" : "";
    notify((err && err.message ? err.message : String(err)) + code);
    return undefined;
  }
}

export function parseTime(value) {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");

/// `Dec 2, 23:59` (with the year when it is not this year): a date and time
/// that stays unambiguous after a night away, in the reader's time zone.
export function formatTime(value, seconds = false) {
  const t = parseTime(value);
  if (t === null) return "—";
  const d = new Date(t);
  const year = d.getFullYear() === new Date().getFullYear() ? "" : " " + d.getFullYear();
  return MONTHS[d.getMonth()] + " " + d.getDate() + year + ", " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + (seconds ? ":" + pad(d.getSeconds()) : "");
}

/// The exact moment, for hover titles: `2026-12-02 23:59:53.120 (local)`.
export function exactTime(value) {
  const t = parseTime(value);
  if (t === null) return "";
  const d = new Date(t);
  const zone = -d.getTimezoneOffset();
  const sign = zone >= 0 ? "+" : "-";
  const offset = sign + pad(Math.floor(Math.abs(zone) / 60)) + ":" + pad(Math.abs(zone) % 60);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + String(d.getMilliseconds()).padStart(3, "0") + " UTC" + offset;
}

/// `3 h ago`, `12 min ago`, `just now`, `in 5 min`.
export function relativeTime(value, now = Date.now()) {
  const t = parseTime(value);
  if (t === null) return "";
  const diff = now - t;
  const abs = Math.abs(diff);
  const s = Math.round(abs / 1000);
  let text;
  if (s < 45) return "just now";
  if (s < 3600) text = Math.max(1, Math.round(s / 60)) + " min";
  else if (s < 48 * 3600) text = Math.round(s / 3600) + " h";
  else text = Math.round(s / 86400) + " d";
  return diff >= 0 ? text + " ago" : "in " + text;
}

/// A `<time>` element: date and time with the relative age beside it, the
/// exact moment on hover.
export function timeEl(value, cls) {
  if (parseTime(value) === null) return h("span", { class: "muted" }, "—");
  return h(
    "time",
    { datetime: value, title: exactTime(value), class: cls || null },
    h("span", { class: "abs" }, formatTime(value)),
    " ",
    h("span", { class: "rel" }, relativeTime(value)),
  );
}

/// `850ms`, `12s`, `3m 20s`, `2h 5m`, `3d 4h`: the CLI's `short_duration`.
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const v = Math.max(0, Math.floor(ms));
  const s = Math.floor(v / 1000);
  if (s < 1) return v + "ms";
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

/// Run time of a task: started → finished, or started → now while running.
export function taskDuration(task) {
  if (typeof task.duration_ms === "number") return task.duration_ms;
  const start = parseTime(task.started_at);
  if (start === null) return null;
  const end = parseTime(task.finished_at);
  if (end !== null) return end - start;
  return task.status === "running" ? Date.now() - start : null;
}

/// Stale when now − max(started_at, heartbeat_at) > timeout.
/// The server's own `stale` flag wins when it sends one.
export function isStale(task) {
  if (typeof task.stale === "boolean") return task.stale;
  if (task.status !== "running") return false;
  const last = Math.max(parseTime(task.started_at) || 0, parseTime(task.heartbeat_at) || 0);
  return last > 0 && Number(task.timeout) > 0 && Date.now() - last > Number(task.timeout) * 1000;
}

export function isAutoFailed(task) {
  return task.status === "failed" && typeof task.error === "string" && task.error.startsWith("Auto-failed:");
}

/// Status badge plus the stale and auto-failed markers.
export function statusBadges(task) {
  const out = [h("span", { class: "badge status-" + String(task.status || "unknown") }, task.status || "unknown")];
  if (isStale(task)) out.push(h("span", { class: "badge stale", title: "Running past its timeout" }, "stale"));
  if (isAutoFailed(task)) out.push(h("span", { class: "badge autofailed", title: task.error }, "auto-failed"));
  return out;
}

export function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/// Reads `#/route/a/b?x=1` into its parts.
export function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "dashboard", args: parts.slice(1), params: new URLSearchParams(query) };
}

/// Rewrites the query of the current route without adding history entries.
export function setParams(params) {
  const raw = location.hash.replace(/^#\/?/, "").split("?")[0];
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  history.replaceState(null, "", "#/" + raw + (qs ? "?" + qs : ""));
  shownHash = location.hash;
}

/// Puts new filter values into the URL as a new history entry, so a filtered
/// view can be shared and Back returns to the previous filters. The page
/// redraws its data itself; the router skips the entry it already shows.
export function pushParams(params) {
  const raw = location.hash.replace(/^#\/?/, "").split("?")[0];
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  const hash = "#/" + raw + (qs ? "?" + qs : "");
  if (hash === location.hash) return;
  history.pushState(null, "", hash);
  shownHash = location.hash;
}

/// Registers a page. `render(main, route)` draws it and may return a
/// `refresh()` that redraws only its data; live events call that. It may
/// instead return `{refresh, onTask, tick}`: `onTask(event)` gets each task
/// event (with its `listing` row) and returns true when it applied it
/// itself, so no refetch is needed; `tick()` replaces the refetch every
/// 30 s (time passing without events).
export function route(name, title, render) {
  routes[name] = { title, render };
}

async function show(event) {
  // Back/Forward may fire both popstate and hashchange for one step.
  if (event && location.hash === shownHash) return;
  shownHash = location.hash;
  // A message about the page being left means nothing on the next one.
  if (event) document.getElementById("notice").replaceChildren();
  const r = currentRoute();
  const page = routes[r.name] || routes.dashboard;
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("data-route") === r.name);
  }
  document.title = page.title + " · SparkQ";
  fill(main);
  current = { name: r.name, refresh: null, onTask: null, tick: null };
  const mine = current;
  const seen = changes;
  const got = await page.render(main, r);
  if (current !== mine) return;
  if (typeof got === "function") current.refresh = got;
  else if (got && typeof got === "object") {
    current.refresh = typeof got.refresh === "function" ? got.refresh : null;
    current.onTask = typeof got.onTask === "function" ? got.onTask : null;
    current.tick = typeof got.tick === "function" ? got.tick : null;
  }
  // For benchmarks: when this page had drawn its data.
  performance.mark("sparkq-rendered-" + r.name);
  // A change that arrived while the page was loading may not be in what it
  // drew: look again.
  if (changes !== seen) scheduleRefresh(0);
}

/// Runs the page's refresh, one at a time: a change that arrives while a
/// refresh is in flight triggers one more, so an older response can never
/// be the last one drawn.
async function runRefresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      if (current.refresh) await current.refresh();
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

/// `fn` run once, `ms` after the first of a burst of calls: a steady stream
/// of calls runs it every `ms`, never more often.
export function debounced(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

/// Redraws the current page's data soon, coalescing bursts of events.
export function scheduleRefresh(delay = 400) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    runRefresh();
  }, delay);
}

function changed() {
  changes++;
  scheduleRefresh();
}

/// A task event: the page applies its `listing` row when it can; only
/// otherwise is its data fetched again.
function taskChanged(ev) {
  changes++;
  let data = null;
  try {
    data = JSON.parse(ev.data);
  } catch {
    data = null;
  }
  if (data && current.onTask) {
    try {
      if (current.onTask(data)) return;
    } catch (err) {
      notify("Page error: " + err.message);
    }
  }
  scheduleRefresh();
}

/// Whether the live events carry each task's row (the server's "hello"
/// says so): then an event without one means the file left that folder,
/// and the event of where it went brings the row.
let eventsListings = false;

export function eventsCarryListings() {
  return eventsListings;
}

function hello(ev) {
  try {
    eventsListings = JSON.parse(ev.data).listings === true;
  } catch {
    eventsListings = false;
  }
  changed();
}

function connectEvents() {
  const dot = document.getElementById("live");
  if (!window.EventSource) {
    fill(dot, "polling");
    setInterval(() => scheduleRefresh(0), 5000);
    return;
  }
  const source = new EventSource("/api/events");
  const setState = (state, label) => {
    dot.className = "live " + state;
    fill(dot, label);
  };
  source.onopen = () => setState("on", "live");
  source.onerror = () => setState("off", "reconnecting…");
  source.onmessage = changed;
  // "hello" starts every connection, so a reconnect catches up on what it missed.
  source.addEventListener("hello", hello);
  for (const name of ["stream", "session", "reload"]) {
    source.addEventListener(name, changed);
  }
  source.addEventListener("task", taskChanged);
}

export function start() {
  // A bug in a page must show up as a message, not as a silently blank page.
  window.addEventListener("error", (ev) => notify("Page error: " + ev.message));
  window.addEventListener("unhandledrejection", (ev) => notify("Page error: " + (ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason))));
  window.addEventListener("hashchange", show);
  window.addEventListener("popstate", show);
  connectEvents();
  // Running durations, relative times and stale markers age without any
  // event: a page with a `tick` redraws itself, others fetch again.
  setInterval(() => (current.tick ? current.tick() : scheduleRefresh(0)), 30000);
  show();
}
