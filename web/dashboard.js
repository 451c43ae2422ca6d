// Dashboard page: active sessions and streams with their counts, recent
// successes and failures, and how long finished tasks took (median and p90
// per stream and per tool, plus a done/failed chart of recent history).

import { streamLink, api, attempt, fill, formatDuration, formatTime, h, link, listOf, parseTime, route, setParams, statusBadges } from "./app.js";

const HISTORY_LIMIT = 200;
const CHART_BUCKETS = 24;

route("dashboard", "Dashboard", async (main, r) => {
  let filter = r.params.get("stream") || "";
  const select = h("select", { id: "dash-stream", "aria-label": "Stream filter" });
  const body = h("div", { class: "dash" });
  select.addEventListener("change", () => {
    filter = select.value;
    setParams({ stream: filter });
    refresh();
  });
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Dashboard"), h("label", { class: "inline" }, "Stream ", select)), body);

  async function refresh() {
    const q = filter ? "&stream=" + encodeURIComponent(filter) : "";
    const data = await attempt(() =>
      Promise.all([
        api("GET", "/api/status"),
        api("GET", "/api/streams"),
        api("GET", "/api/tasks?status=succeeded&limit=" + HISTORY_LIMIT + q),
        api("GET", "/api/tasks?status=failed&limit=" + HISTORY_LIMIT + q),
      ]),
    );
    if (!data) return;
    const [status, streamsData, done, failed] = data;
    const streams = listOf(streamsData, "streams");
    fill(select, h("option", { value: "" }, "All streams"), streams.map((s) => h("option", { value: s.name, selected: s.name === filter }, s.name)));
    const finished = [...listOf(done, "tasks"), ...listOf(failed, "tasks")];
    fill(body, overview(status, streams, filter), recent(listOf(done, "tasks"), listOf(failed, "tasks")), durations(finished), chart(finished));
  }
  await refresh();
  return refresh;
});

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
          tasks.slice(0, 8).map((t) =>
            h(
              "li",
              {},
              link("task", [t.id], t.id),
              " ",
              statusBadges(t),
              h("span", { class: "muted" }, " ", t.tool_name || "", " · ", t.stream || "", " · ", formatTime(t.finished_at)),
              h("div", { class: "clip" }, t.status === "failed" ? t.error || "" : t.summary || ""),
            ),
          ),
        )
      : h("p", { class: "empty" }, empty);
  return h(
    "section",
    { class: "two-col" },
    h("div", {}, h("h2", {}, "Recent successes"), list(done, "None yet.")),
    h("div", {}, h("h2", {}, "Recent failures"), list(failed, "None.")),
  );
}

/// Nearest-rank percentile of a sorted list.
function percentile(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function durations(finished) {
  const groups = (key) => {
    const map = new Map();
    for (const t of finished) {
      const name = t[key] || "—";
      const g = map.get(name) || { ms: [], done: 0, failed: 0 };
      if (t.status === "succeeded") g.done++;
      else g.failed++;
      const start = parseTime(t.started_at);
      const end = parseTime(t.finished_at);
      if (start !== null && end !== null && end >= start) g.ms.push(end - start);
      map.set(name, g);
    }
    return [...map.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  };
  const table = (title, key) => {
    const rows = groups(key);
    return h(
      "div",
      {},
      h("h3", {}, title),
      rows.length
        ? h(
            "table",
            { class: "compact" },
            h("thead", {}, h("tr", {}, h("th", {}, title.replace("By ", "")), h("th", {}, "done"), h("th", {}, "failed"), h("th", {}, "median"), h("th", {}, "p90"))),
            h(
              "tbody",
              {},
              rows.map(([name, g]) => {
                const sorted = g.ms.sort((a, b) => a - b);
                return h(
                  "tr",
                  {},
                  h("td", {}, name),
                  h("td", { class: "num" }, String(g.done)),
                  h("td", { class: "num" }, String(g.failed)),
                  h("td", { class: "num" }, formatDuration(percentile(sorted, 50))),
                  h("td", { class: "num" }, formatDuration(percentile(sorted, 90))),
                );
              }),
            ),
          )
        : h("p", { class: "empty" }, "No finished tasks yet."),
    );
  };
  return h(
    "section",
    {},
    h("h2", {}, "How long tasks took"),
    h("p", { class: "muted" }, "From the last ", String(finished.length), " finished tasks."),
    h("div", { class: "two-col" }, table("By stream", "stream"), table("By tool", "tool_name")),
  );
}

/// Stacked done/failed bars over the span of recent history, drawn as SVG.
function chart(finished) {
  const times = finished.map((t) => parseTime(t.finished_at)).filter((t) => t !== null);
  const section = h("section", {}, h("h2", {}, "Done and failed over time"));
  if (!times.length) return section.appendChild(h("p", { class: "empty" }, "Nothing finished yet.")) && section;
  const now = Date.now();
  const span = Math.max(15 * 60e3, now - Math.min(...times));
  const width = span / CHART_BUCKETS;
  const buckets = Array.from({ length: CHART_BUCKETS }, () => ({ done: 0, failed: 0 }));
  for (const t of finished) {
    const at = parseTime(t.finished_at);
    if (at === null) continue;
    const i = Math.min(CHART_BUCKETS - 1, Math.max(0, Math.floor((at - (now - span)) / width)));
    buckets[i][t.status === "succeeded" ? "done" : "failed"]++;
  }
  const max = Math.max(1, ...buckets.map((b) => b.done + b.failed));
  const W = 720;
  const H = 110;
  const bw = W / CHART_BUCKETS;
  const svg = h("svg:svg", { viewBox: "0 0 " + W + " " + (H + 16), class: "chart", role: "img", "aria-label": "Done and failed tasks per time bucket" });
  buckets.forEach((b, i) => {
    const dh = (b.done / max) * H;
    const fh = (b.failed / max) * H;
    const x = i * bw + 1;
    const label = formatTime(new Date(now - span + i * width).toISOString()) + ": " + b.done + " done, " + b.failed + " failed";
    const g = h("svg:g", {}, h("svg:title", {}, label));
    g.append(h("svg:rect", { x, y: H - dh, width: bw - 2, height: dh, class: "bar-done" }));
    g.append(h("svg:rect", { x, y: H - dh - fh, width: bw - 2, height: fh, class: "bar-failed" }));
    svg.append(g);
  });
  svg.append(h("svg:line", { x1: 0, y1: H + 0.5, x2: W, y2: H + 0.5, class: "axis" }));
  svg.append(h("svg:text", { x: 0, y: H + 13, class: "axis-label" }, formatDuration(span) + " ago"));
  svg.append(h("svg:text", { x: W, y: H + 13, class: "axis-label", "text-anchor": "end" }, "now"));
  section.append(svg, h("p", { class: "legend" }, h("span", { class: "key key-done" }), " done  ", h("span", { class: "key key-failed" }), " failed  · max ", String(max), " per bar"));
  return section;
}
