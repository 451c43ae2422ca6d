// "Since you left": what finished since a moment the reader picks (by
// default their last visit, remembered in this browser), failures first,
// grouped by stream, with counts and the time span. The same grouping as
// `sparkq tasks --since 8h`; the server does it (`GET /api/since`).

import { api, attempt, debounced, exactTime, fill, formatTime, h, pushParams, relativeTime, route, streamLink } from "./app.js";
import { apiTime, taskRow, taskTable } from "./tasks.js";

const SEEN_KEY = "sparkq.lastSeen";
const VISIT_KEY = "sparkq.visitStart";

/// When the reader last had the UI open before this visit. A visit is a
/// browser tab session, so reloading the page does not move it.
export function lastVisit() {
  try {
    let start = sessionStorage.getItem(VISIT_KEY);
    if (start === null) {
      start = localStorage.getItem(SEEN_KEY) || "";
      sessionStorage.setItem(VISIT_KEY, start);
    }
    return start || null;
  } catch {
    return null;
  }
}

/// Remembers that the reader is here now; called while the UI is open.
export function markSeen() {
  lastVisit();
  try {
    localStorage.setItem(SEEN_KEY, new Date().toISOString());
  } catch {
    /* storage off: the view falls back to the last 8 hours */
  }
}

route("since", "Since you left", async (main, r) => {
  const visit = lastVisit();
  const chosen = r.params.get("since") || "";
  const since = chosen || visit || "8h";
  const picker = h("input", { id: "since-input", value: chosen, placeholder: visit ? "last visit" : "8h", list: "since-presets", autocomplete: "off", size: 18 });
  const calendar = h("input", { type: "datetime-local", id: "since-at", "aria-label": "Pick a date and time" });
  calendar.addEventListener("change", () => calendar.value && go(calendar.value));
  const problem = h("p", { class: "field-error", role: "status" });
  const go = (value) => {
    const v = String(value || "").trim();
    if (v && apiTime(v) === null) {
      fill(problem, "Cannot read \"" + v + "\": use 8h, 90m, 2d or a date like 2026-12-01 22:00.");
      return;
    }
    fill(problem);
    pushParams({ since: v });
    picker.value = v;
    current = v || visit || "8h";
    refresh();
  };
  const form = h(
    "form",
    { class: "filters since-picker", id: "since-form" },
    h("label", { class: "filter" }, h("span", {}, "Finished since"), picker),
    h("datalist", { id: "since-presets" }, ["1h", "8h", "24h", "2d", "7d"].map((v) => h("option", { value: v }))),
    h("button", { type: "submit", class: "small" }, "Show"),
    h("label", { class: "filter" }, h("span", {}, "or pick"), calendar),
    h("span", { class: "quick" }, visit ? h("button", { type: "button", class: "small secondary", onclick: () => go("") }, "last visit") : null, ["1h", "8h", "24h"].map((v) => h("button", { type: "button", class: "small secondary", onclick: () => go(v) }, v))),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go(picker.value);
  });
  const head = h("div", { class: "since-head", id: "since-summary" });
  const body = h("div", { class: "since-streams" });
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Since you left")), form, problem, head, body);
  let current = since;

  async function refresh() {
    const q = new URLSearchParams({ since: apiTime(current) || current });
    const data = await attempt(() => api("GET", "/api/since?" + q.toString()));
    if (!data) return;
    const counts = data.counts || {};
    const failed = Number(counts.failed) || 0;
    const succeeded = Number(counts.succeeded) || 0;
    const from = current === visit && !chosen ? "your last visit, " : "";
    fill(
      head,
      h(
        "p",
        { class: "since-line" },
        "Since ",
        from,
        h("time", { datetime: data.since, title: exactTime(data.since) }, formatTime(data.since)),
        " (",
        relativeTime(data.since),
        "): ",
        h("strong", { class: failed ? "count-bad" : "" }, failed + " failed"),
        ", ",
        h("strong", { class: "count-good" }, succeeded + " succeeded"),
        data.first_finished_at ? [" · finished between ", formatTime(data.first_finished_at), " and ", formatTime(data.last_finished_at)] : null,
        ".",
      ),
    );
    const streams = Array.isArray(data.streams) ? data.streams : [];
    if (!streams.length) {
      fill(body, h("p", { class: "empty" }, "Nothing finished in that time."));
      return;
    }
    fill(
      body,
      streams.map((s) => {
        const tasks = Array.isArray(s.tasks) ? s.tasks : [];
        const all = "#/tasks?stream=" + encodeURIComponent(s.stream) + "&since=" + encodeURIComponent(apiTime(current) || current);
        return h(
          "section",
          { class: "since-stream", "data-stream": s.stream },
          h(
            "h2",
            {},
            streamLink(s.stream),
            " ",
            s.failed ? h("span", { class: "badge status-failed" }, s.failed + " failed") : null,
            h("span", { class: "badge status-succeeded" }, s.succeeded + " succeeded"),
          ),
          tasks.length ? taskTable(h("tbody", {}, tasks.map((t) => taskRow(t, () => refresh())))) : h("p", { class: "empty" }, "No tasks."),
          s.truncated ? h("p", { class: "more" }, "Only the first ", String(tasks.length), " are shown. ", h("a", { href: all }, "All of them in the task list")) : null,
        );
      }),
    );
  }
  await refresh();
  // A busy night sends many events; the grouped view is fetched again at
  // most every few seconds.
  const later = debounced(refresh, 3000);
  return { refresh, onTask: () => (later(), true) };
});
