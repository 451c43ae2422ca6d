// Dashboard page: the charts a person would rather look than read (tasks
// finished per hour, how long each tool takes, queue depth per stream, all
// from `GET /api/stats` and drawn as inline SVG), what happened since the
// last visit, the streams with their counts, and recent failures and
// successes.

import { streamLink, api, attempt, debounced, fill, formatDuration, formatTime, h, link, listOf, relativeTime, route, setParams, statusBadges } from "./app.js";
import { lastVisit } from "./since.js";
import { outcomeText, payloadKey } from "./tasks.js";

const RECENT = 6;
/// Streams get colours series-0 … series-7 (style.css; the CSP allows no
/// inline styles).
const SERIES = 8;

route("dashboard", "Dashboard", async (main, r) => {
  let filter = r.params.get("stream") || "";
  const select = h("select", { id: "dash-stream" });
  const charts = h("div", { class: "charts", id: "charts" });
  const body = h("div", { class: "dash" });
  const visitBox = h("div", { id: "visit" });
  select.addEventListener("change", () => {
    filter = select.value;
    setParams({ stream: filter });
    // The charts follow the choice at once, not on the next debounced turn.
    refreshStats();
    refreshLists();
  });
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Dashboard"), h("label", { class: "inline" }, "Stream ", select)), visitBox, charts, body);

  async function refreshStats() {
    const shown = filter;
    const q = shown ? "&stream=" + encodeURIComponent(shown) : "";
    const stats = await attempt(() => api("GET", "/api/stats?hours=24" + q));
    // A newer choice of stream may have been made while this one loaded.
    if (!stats || !charts.isConnected || shown !== filter) return;
    fill(charts, perHour(stats, shown), toolDurations(stats, shown), depth(stats, shown));
    performance.mark("sparkq-charts-drawn");
  }

  async function refreshLists() {
    const q = filter ? "&stream=" + encodeURIComponent(filter) : "";
    const visit = lastVisit();
    const data = await attempt(() =>
      Promise.all([
        api("GET", "/api/status"),
        api("GET", "/api/streams"),
        api("GET", "/api/tasks?status=succeeded&limit=" + RECENT + q),
        api("GET", "/api/tasks?status=failed&limit=" + RECENT + q),
        visit ? api("GET", "/api/since?since=" + encodeURIComponent(visit)) : null,
      ]),
    );
    if (!data) return;
    const [status, streamsData, done, failed, since] = data;
    const streams = listOf(streamsData, "streams");
    fill(select, h("option", { value: "" }, "All streams"), streams.map((s) => h("option", { value: s.name, selected: s.name === filter }, s.name)));
    fill(visitBox, since ? visitLine(since) : null);
    fill(body, overview(status, streams, filter), recent(listOf(done, "tasks"), listOf(failed, "tasks")));
  }

  // Stats read the whole history (seconds at 100k tasks): the page does
  // not wait for them, and later changes fetch them again at most every
  // 5 s; the small lists at most every second.
  const statsLater = debounced(refreshStats, 5000);
  const listsLater = debounced(refreshLists, 1000);
  async function refresh() {
    statsLater();
    await refreshLists();
  }
  fill(charts, h("p", { class: "muted loading" }, "Drawing the charts…"));
  refreshStats();
  await refreshLists();
  return {
    refresh,
    onTask: () => {
      statsLater();
      listsLater();
      return true;
    },
  };
});

function visitLine(since) {
  const c = since.counts || {};
  const failed = Number(c.failed) || 0;
  const done = Number(c.succeeded) || 0;
  return h(
    "p",
    { class: "visit-line" + (failed ? " has-failures" : "") },
    "Since your last visit (",
    relativeTime(since.since),
    "): ",
    h("strong", {}, failed + " failed"),
    ", ",
    h("strong", {}, done + " succeeded"),
    ". ",
    link("since", [], "Review them →"),
  );
}

/// Chart frame: an SVG with a title for screen readers.
function svg(width, height, label) {
  return h("svg:svg", { viewBox: "0 0 " + width + " " + height, class: "chart", role: "img", "aria-label": label }, h("svg:title", {}, label));
}

function text(x, y, value, attrs) {
  return h("svg:text", { x, y, class: "axis-label", ...(attrs || {}) }, value);
}

function hourLabel(iso) {
  const d = new Date(iso);
  return String(d.getHours()).padStart(2, "0") + ":00";
}

/// Done and failed per hour over the last day, stacked bars.
function perHour(stats, stream) {
  const hours = Array.isArray(stats.hours) ? stats.hours : [];
  const total = hours.reduce((n, b) => n + (Number(b.succeeded) || 0) + (Number(b.failed) || 0), 0);
  const failedTotal = hours.reduce((n, b) => n + (Number(b.failed) || 0), 0);
  const box = h("section", { class: "chart-card card", id: "chart-hours" }, h("h2", {}, "Finished per hour"), h("p", { class: "legend" }, h("span", { class: "key key-done" }), " done ", h("span", { class: "key key-failed" }), " failed · ", String(total), " in ", String(hours.length), " h, ", String(failedTotal), " failed, ", stream ? "stream " + stream : "all streams"));
  if (!hours.length) return box.appendChild(h("p", { class: "empty" }, "No data.")) && box;
  const W = 360;
  const H = 130;
  const top = 10;
  const left = 24;
  const max = Math.max(1, ...hours.map((b) => (Number(b.succeeded) || 0) + (Number(b.failed) || 0)));
  const bw = (W - left) / hours.length;
  const chart = svg(W, H + 20, "Tasks finished per hour over the last " + hours.length + " hours: " + total + " in all, " + failedTotal + " failed");
  chart.append(h("svg:line", { x1: left, y1: top + 0.5, x2: W, y2: top + 0.5, class: "grid" }), text(left - 4, top + 4, String(max), { "text-anchor": "end" }), text(left - 4, H + 4, "0", { "text-anchor": "end" }));
  hours.forEach((b, i) => {
    const done = Number(b.succeeded) || 0;
    const failed = Number(b.failed) || 0;
    const dh = (done / max) * (H - top);
    const fh = (failed / max) * (H - top);
    const x = left + i * bw + 1;
    const g = h("svg:g", {}, h("svg:title", {}, formatTime(b.start) + ": " + done + " done, " + failed + " failed"));
    g.append(h("svg:rect", { x, y: H - dh, width: Math.max(1, bw - 2), height: dh, class: "bar-done" }));
    g.append(h("svg:rect", { x, y: H - dh - fh, width: Math.max(1, bw - 2), height: fh, class: "bar-failed" }));
    chart.append(g);
    if (i % 6 === 0) chart.append(text(x, H + 14, hourLabel(b.start)));
  });
  chart.append(h("svg:line", { x1: left, y1: H + 0.5, x2: W, y2: H + 0.5, class: "axis" }));
  box.append(chart);
  return box;
}

/// Median and p90 run time per tool: a bar to the median, a thinner one on
/// to the p90, on a log scale so a 2 s tool and a 20 min one both read.
function toolDurations(stats, stream) {
  const tools = (Array.isArray(stats.tools) ? stats.tools : []).filter((t) => Number(t.count) > 0).sort((a, b) => (Number(b.p50_ms) || 0) - (Number(a.p50_ms) || 0));
  const box = h("section", { class: "chart-card card", id: "chart-tools" }, h("h2", {}, "How long each tool takes"), h("p", { class: "legend" }, h("span", { class: "key key-p50" }), " median ", h("span", { class: "key key-p90" }), " p90 · finished tasks of ", stream ? "stream " + stream : "all streams"));
  if (!tools.length) return box.appendChild(h("p", { class: "empty" }, "No finished tasks yet.")) && box;
  const W = 360;
  const row = 24;
  const labelW = 96;
  const valueW = 100;
  const H = tools.length * row + 4;
  const maxMs = Math.max(1000, ...tools.map((t) => Number(t.p90_ms) || 0));
  const scale = (ms) => (Math.log10(1 + Math.max(0, ms)) / Math.log10(1 + maxMs)) * (W - labelW - valueW);
  const chart = svg(W, H, "Median and 90th percentile run time per tool");
  tools.forEach((t, i) => {
    const y = i * row + 4;
    const p50 = Number(t.p50_ms) || 0;
    const p90 = Number(t.p90_ms) || 0;
    const name = String(t.tool_name);
    const g = h("svg:g", { class: "tool-row", "data-tool": name }, h("svg:title", {}, name + ": median " + formatDuration(p50) + ", p90 " + formatDuration(p90) + " over " + t.count + " tasks"));
    g.append(
      text(0, y + 14, name.length > 15 ? name.slice(0, 14) + "…" : name, { class: "axis-label tool-name" }),
      h("svg:rect", { x: labelW, y: y + 7, width: Math.max(1, scale(p90)), height: 6, class: "bar-p90" }),
      h("svg:rect", { x: labelW, y: y + 3, width: Math.max(1, scale(p50)), height: 14, class: "bar-p50" }),
      text(W, y + 14, formatDuration(p50) + " · " + formatDuration(p90), { "text-anchor": "end", class: "axis-label value" }),
    );
    chart.append(g);
  });
  box.append(chart);
  return box;
}

/// Queued tasks per stream, one line each, over the stats window.
function depth(stats, filter) {
  const series = (Array.isArray(stats.depth) ? stats.depth : []).filter((d) => !filter || d.stream === filter);
  const box = h("section", { class: "chart-card card", id: "chart-depth" }, h("h2", {}, "Queue depth per stream"));
  const points = series.flatMap((s) => (Array.isArray(s.points) ? s.points : []));
  if (!points.length) return box.appendChild(h("p", { class: "empty" }, "No streams.")) && box;
  const W = 360;
  const H = 130;
  const top = 10;
  const left = 24;
  const max = Math.max(1, ...points.map((p) => Number(p.queued) || 0));
  const times = points.map((p) => Date.parse(p.at)).filter((t) => !Number.isNaN(t));
  const t0 = Math.min(...times);
  const t1 = Math.max(t0 + 1, ...times);
  const x = (at) => left + ((Date.parse(at) - t0) / (t1 - t0)) * (W - left - 4);
  const y = (n) => H - ((Number(n) || 0) / max) * (H - top);
  const chart = svg(W, H + 20, "Queued tasks per stream over time, up to " + max);
  chart.append(h("svg:line", { x1: left, y1: top + 0.5, x2: W, y2: top + 0.5, class: "grid" }), text(left - 4, top + 4, String(max), { "text-anchor": "end" }), text(left - 4, H + 4, "0", { "text-anchor": "end" }));
  const legend = h("p", { class: "legend" });
  series.forEach((s, i) => {
    const colour = "series-" + (i % SERIES);
    const pts = (s.points || []).filter((p) => !Number.isNaN(Date.parse(p.at)));
    const now = pts.length ? Number(pts[pts.length - 1].queued) || 0 : 0;
    chart.append(h("svg:polyline", { points: pts.map((p) => x(p.at).toFixed(1) + "," + y(p.queued).toFixed(1)).join(" "), class: "depth-line " + colour }, h("svg:title", {}, s.stream + ": " + now + " queued now")));
    legend.append(h("span", { class: "legend-item" }, h("span", { class: "key " + colour }), " ", streamLink(s.stream), " ", String(now)));
  });
  const firstPts = series[0] && Array.isArray(series[0].points) ? series[0].points : [];
  firstPts.forEach((p, i) => {
    if (i % 6 === 0) chart.append(text(x(p.at), H + 14, hourLabel(p.at)));
  });
  chart.append(h("svg:line", { x1: left, y1: H + 0.5, x2: W, y2: H + 0.5, class: "axis" }));
  box.append(chart, legend);
  return box;
}

function overview(status, streams, filter) {
  const sessions = listOf(status, "sessions").filter((s) => (s.status || "active") === "active");
  const server = status && status.server ? status.server : null;
  const active = streams.filter((s) => (s.status || "active") === "active" && (!filter || s.name === filter));
  const cards = active.map((s) => {
    const c = s.counts || {};
    return h(
      "div",
      { class: "card stream-card" },
      h("div", { class: "card-title" }, streamLink(s.name), h("span", { class: "muted" }, " in ", s.session || "—")),
      h(
        "div",
        { class: "counts" },
        count("queued", c.queued, s.name, "queued"),
        count("running", c.running, s.name, "running"),
        count("stale", c.stale, s.name, "stale"),
        count("done", c.succeeded, s.name, "succeeded"),
        count("failed", c.failed, s.name, "failed"),
      ),
    );
  });
  return h(
    "section",
    {},
    h(
      "p",
      { class: "muted" },
      sessions.length ? ["Active session", sessions.length > 1 ? "s" : "", ": ", sessions.map((s) => s.name).join(", ")] : "No active session. ",
      sessions.length ? null : link("sessions", [], "Create one"),
      server && server.pid ? " · server pid " + server.pid : null,
    ),
    cards.length ? h("div", { class: "cards" }, cards) : h("p", { class: "empty" }, "No active streams."),
  );
}

function count(label, n, stream, status) {
  const value = Number(n) || 0;
  const q = status === "stale" ? "stale=1&stream=" : "status=" + status + "&stream=";
  return h(
    "a",
    { class: "count count-" + label + (value ? "" : " zero"), href: "#/tasks?" + q + encodeURIComponent(stream) },
    h("strong", {}, String(value)),
    h("span", {}, label),
  );
}

function recent(done, failed) {
  const list = (tasks, empty) =>
    tasks.length
      ? h(
          "ul",
          { class: "recent" },
          tasks.map((t) =>
            h(
              "li",
              { "data-id": t.id },
              link("task", [t.id], payloadKey(t) || t.id),
              " ",
              statusBadges(t),
              h("span", { class: "muted" }, " ", t.tool_name || "", " · ", t.stream || "", " · ", h("span", { title: formatTime(t.finished_at, true) }, relativeTime(t.finished_at))),
              h("div", { class: "clip" + (t.status === "failed" ? " outcome-failed" : "") }, outcomeText(t)),
            ),
          ),
        )
      : h("p", { class: "empty" }, empty);
  return h(
    "section",
    { class: "two-col" },
    h("div", {}, h("h2", {}, "Recent failures"), list(failed, "None."), h("p", {}, h("a", { href: "#/tasks?status=failed" }, "All failures →"))),
    h("div", {}, h("h2", {}, "Recent successes"), list(done, "None yet."), h("p", {}, h("a", { href: "#/tasks?status=succeeded" }, "All successes →"))),
  );
}
