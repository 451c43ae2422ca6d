// Sessions, streams and enqueue pages: the lists plus the forms that create
// and end things. Forms are drawn once; live events redraw only the lists, so
// what the user is typing is never lost.

import { streamLink, api, attempt, fill, formatTime, h, link, listOf, notify, route } from "./app.js";

const PREVIEW_CHARS = 140;

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

function endButton(what, path, after) {
  return h(
    "button",
    {
      type: "button",
      class: "small danger",
      "data-action": "end",
      onclick: async () => {
        if (!confirm("End " + what + "?")) return;
        if (await attempt(() => api("POST", path, {}))) {
          notify("Ended " + what, "ok");
          after();
        }
      },
    },
    "End",
  );
}

route("sessions", "Sessions", async (main) => {
  const rows = h("tbody", {});
  const name = h("input", { id: "session-name", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9._\\-]*", placeholder: "api-v2", autocomplete: "off" });
  const description = h("input", { id: "session-description", placeholder: "What this period of work is for" });
  const form = h("form", { class: "card form", id: "session-form" }, h("h2", {}, "New session"), field("Name", name, "a-z 0-9 - _ . (max 64)"), field("Description", description), h("button", { type: "submit" }, "Create session"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    if (await attempt(() => api("POST", "/api/sessions", body))) {
      notify("Created session " + body.name, "ok");
      form.reset();
      refresh();
    }
  });
  main.append(
    h("h1", {}, "Sessions"),
    h("div", { class: "table-wrap" }, h("table", { class: "stack" }, h("thead", {}, h("tr", {}, ["name", "description", "status", "created", "ended", ""].map((c) => h("th", {}, c)))), rows)),
    form,
  );
  async function refresh() {
    const data = await attempt(() => api("GET", "/api/sessions"));
    if (!data) return;
    const sessions = listOf(data, "sessions");
    fill(
      rows,
      sessions.length
        ? sessions.map((s) =>
            h(
              "tr",
              { "data-name": s.name },
              h("td", { class: "nowrap" }, h("strong", {}, s.name)),
              h("td", { class: "wide" }, s.description || ""),
              h("td", {}, h("span", { class: "badge st-" + (s.status || "active") }, s.status || "active")),
              h("td", { class: "time", "data-label": "created" }, formatTime(s.created_at)),
              h("td", { class: "time" + (s.ended_at ? "" : " none"), "data-label": "ended" }, formatTime(s.ended_at)),
              h("td", {}, (s.status || "active") === "active" ? endButton("session " + s.name, "/api/sessions/" + encodeURIComponent(s.name) + "/end", refresh) : null),
            ),
          )
        : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No sessions yet. Create one below.")),
    );
  }
  await refresh();
  return refresh;
});

route("streams", "Streams", async (main) => {
  const rows = h("tbody", {});
  const name = h("input", { id: "stream-name", required: true, maxlength: 64, placeholder: "auth", autocomplete: "off" });
  const session = h("select", { id: "stream-session", required: true });
  const instructions = h("textarea", { id: "stream-instructions", rows: 6, placeholder: "Goal: …\nContext: …\nDone when: …" });
  const form = h(
    "form",
    { class: "card form", id: "stream-form" },
    h("h2", {}, "New stream"),
    field("Name", name, "unique across the project"),
    field("Session", session),
    field("Instructions", instructions, "Every claim returns these to the worker."),
    h("button", { type: "submit" }, "Create stream"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), session: session.value, instructions: instructions.value };
    if (await attempt(() => api("POST", "/api/streams", body))) {
      notify("Created stream " + body.name, "ok");
      name.value = "";
      instructions.value = "";
      refresh();
    }
  });
  main.append(
    h("h1", {}, "Streams"),
    h("div", { class: "table-wrap" }, h("table", { class: "stack" }, h("thead", {}, h("tr", {}, ["name", "session", "status", "queued", "running", "stale", "done", "failed", "instructions", ""].map((c) => h("th", {}, c)))), rows)),
    form,
  );
  async function refresh() {
    const data = await attempt(() => Promise.all([api("GET", "/api/streams"), api("GET", "/api/sessions")]));
    if (!data) return;
    const streams = listOf(data[0], "streams");
    const active = listOf(data[1], "sessions").filter((s) => (s.status || "active") === "active");
    const chosen = session.value;
    fill(session, active.length ? active.map((s) => h("option", { value: s.name, selected: s.name === chosen }, s.name)) : h("option", { value: "" }, "Create a session first"));
    fill(
      rows,
      streams.length
        ? streams.map((s) => {
            const c = s.counts || {};
            const text = String(s.instructions || "");
            const preview = text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + "…" : text;
            const num = (n, label) => h("td", { class: "num", "data-label": label }, String(Number(n) || 0));
            return h(
              "tr",
              { "data-name": s.name },
              h("td", { class: "nowrap" }, streamLink(s.name, h("strong", {}, s.name))),
              h("td", { class: "nowrap", "data-label": "in" }, s.session || ""),
              h("td", {}, h("span", { class: "badge st-" + (s.status || "active") }, s.status || "active")),
              num(c.queued, "queued"),
              num(c.running, "running"),
              num(c.stale, "stale"),
              num(c.succeeded, "done"),
              num(c.failed, "failed"),
              h("td", { class: "preview wide", title: text }, preview),
              h("td", {}, (s.status || "active") === "active" ? endButton("stream " + s.name, "/api/streams/" + encodeURIComponent(s.name) + "/end", refresh) : null),
            );
          })
        : h("tr", {}, h("td", { colspan: 10, class: "empty" }, "No streams yet.")),
    );
  }
  await refresh();
  return refresh;
});

route("enqueue", "Enqueue", async (main, r) => {
  const data = await attempt(() => Promise.all([api("GET", "/api/tools"), api("GET", "/api/streams"), api("GET", "/api/scripts")]));
  if (!data) return null;
  const tools = listOf(data[0], "tools");
  const streams = listOf(data[1], "streams").filter((s) => (s.status || "active") === "active");
  const scripts = listOf(data[2], "scripts");
  const wanted = r.params.get("stream") || "";
  const tool = h("select", { id: "enqueue-tool", required: true }, tools.map((t) => h("option", { value: t.name }, t.name)));
  const stream = h("select", { id: "enqueue-stream", required: true }, streams.length ? streams.map((s) => h("option", { value: s.name, selected: s.name === wanted }, s.name)) : h("option", { value: "" }, "No active stream"));
  const toolInfo = h("p", { class: "muted" });
  const payload = h("textarea", { id: "enqueue-payload", rows: 10, spellcheck: "false", class: "mono" });
  const payloadError = h("p", { class: "field-error", role: "status" });
  const timeout = h("input", { id: "enqueue-timeout", type: "number", min: 1, step: 1, placeholder: "default" });
  const script = h("input", { id: "enqueue-script", autocomplete: "off", placeholder: "Type to search the script index", role: "combobox", "aria-expanded": "false" });
  const suggestions = h("ul", { class: "suggestions", id: "script-suggestions", role: "listbox" });
  const scriptField = field("Script", h("div", { class: "autocomplete" }, script, suggestions), scripts.length + " scripts indexed");
  const form = h(
    "form",
    { class: "card form", id: "enqueue-form" },
    field("Tool", tool),
    toolInfo,
    field("Stream", stream),
    scriptField,
    field("Payload (JSON)", payload),
    payloadError,
    field("Timeout override (seconds)", timeout),
    h("button", { type: "submit" }, "Enqueue"),
  );
  main.append(h("h1", {}, "Enqueue a task"), form);

  const selectedTool = () => tools.find((t) => t.name === tool.value) || {};
  function onTool() {
    const t = selectedTool();
    const template = t.payload_template && typeof t.payload_template === "object" ? t.payload_template : {};
    payload.value = JSON.stringify(template, null, 2);
    fill(toolInfo, t.description || "", t.task_class ? " · " + t.task_class : "", t.timeout ? " · timeout " + t.timeout + "s" : "");
    const wantsScript = "script_path" in template || /^run-/.test(t.name || "");
    scriptField.hidden = !wantsScript;
    timeout.placeholder = t.timeout ? "default " + t.timeout : "default";
    checkPayload();
  }
  function parsePayload() {
    try {
      const value = JSON.parse(payload.value || "{}");
      if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: "The payload must be a JSON object." };
      return { value };
    } catch (err) {
      return { error: "Not valid JSON: " + err.message };
    }
  }
  function checkPayload() {
    fill(payloadError, parsePayload().error || "");
  }
  function matches(term) {
    const q = term.trim().toLowerCase();
    const hay = (s) => [s.path, s.name, s.description, Array.isArray(s.tags) ? s.tags.join(" ") : s.tags].filter(Boolean).join(" ").toLowerCase();
    return scripts.filter((s) => !q || hay(s).includes(q)).slice(0, 12);
  }
  function choose(s) {
    script.value = s.path;
    closeSuggestions();
    const parsed = parsePayload();
    const value = parsed.value || {};
    value.script_path = s.path;
    payload.value = JSON.stringify(value, null, 2);
    if (s.timeout && !timeout.value) timeout.value = String(s.timeout);
    checkPayload();
  }
  function closeSuggestions() {
    fill(suggestions);
    script.setAttribute("aria-expanded", "false");
  }
  function showSuggestions() {
    const found = matches(script.value);
    fill(
      suggestions,
      found.map((s) =>
        h(
          "li",
          { role: "option", tabindex: "-1", "data-path": s.path, onmousedown: (ev) => ev.preventDefault(), onclick: () => choose(s) },
          h("span", { class: "mono" }, s.path),
          s.description ? h("small", { class: "muted" }, " ", s.description) : null,
        ),
      ),
    );
    if (!found.length && script.value) suggestions.append(h("li", { class: "muted" }, "No script matches."));
    script.setAttribute("aria-expanded", String(suggestions.children.length > 0));
  }
  script.addEventListener("input", showSuggestions);
  script.addEventListener("focus", showSuggestions);
  script.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
  script.addEventListener("keydown", (ev) => {
    const first = suggestions.querySelector("li[data-path]");
    if (ev.key === "Enter" && first) {
      ev.preventDefault();
      const s = scripts.find((x) => x.path === first.getAttribute("data-path"));
      if (s) choose(s);
    } else if (ev.key === "Escape") closeSuggestions();
  });
  tool.addEventListener("change", onTool);
  payload.addEventListener("input", checkPayload);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const parsed = parsePayload();
    if (parsed.error) return notify(parsed.error);
    const body = { stream: stream.value, tool_name: tool.value, payload: parsed.value };
    if (timeout.value) body.timeout = Number(timeout.value);
    const res = await attempt(() => api("POST", "/api/tasks", body));
    if (!res) return;
    const task = res.task || res;
    const box = document.getElementById("notice");
    fill(box, h("div", { class: "notice ok", role: "status" }, "Queued ", link("task", [task.id], task.id), " on ", body.stream, "."));
  });
  onTool();
  return null;
});
