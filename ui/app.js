/* cpd dashboard — plain JavaScript, no dependencies, nothing loaded from the network.
 *
 * Data comes from the REST API under /api/control-plane with the user's bearer token (asked
 * once when the server wants one, kept in sessionStorage: this tab only). Live updates come
 * from the event stream (EventSource on /api/control-plane/events): every event goes into the
 * feed and re-reads the view on screen (debounced), so the page follows the fleet without
 * reloads. EventSource cannot send headers, so the token also goes into a cookie that the
 * browser sends to the events route alone (path-scoped, SameSite=Strict).
 *
 * Everything from the server is put on the page with textContent, never as HTML. */
"use strict";

const API = "/api/control-plane/";
const EVENTS_PATH = "/api/control-plane/events";
const EVENT_TYPES = ["agent_registered", "agent_unregistered", "agent_status_changed",
  "task_submitted", "task_claimed", "task_started", "task_completed", "task_failed",
  "task_requeued", "task_timeout", "task_cancelled", "health_update"];
const FEED_MAX = 300;
const REFRESH_DEBOUNCE_MS = 250;
/* Re-reading the page on screen besides the events (heartbeat ages): every 5 s, or every
 * ?refresh=N seconds; ?refresh=0 re-reads on events only. */
const POLL_MS = (() => {
  const v = new URLSearchParams(location.search).get("refresh");
  const n = v === null ? 5 : Number(v);
  if (!Number.isFinite(n) || n < 0) return 5000;
  return n === 0 ? 0 : Math.max(n, 1) * 1000;
})();

const state = {
  token: sessionStorage.getItem("cp_token"),
  feed: [],          /* newest first */
  lastEventId: null,
  source: null,
  refreshTimer: null,
  rendering: false,
  again: false,
  feedFilter: "",
  retryMs: 0,        /* the next delay before reopening a refused event stream */
};

/* ---- small DOM helpers ------------------------------------------------------------------- */

function $(sel) { return document.querySelector(sel); }

/* el("td", {class: "num"}, "text", childNode, ...) */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

function pill(value) {
  const v = value === null || value === undefined ? "—" : String(value);
  return el("span", { class: "pill s-" + v.replace(/[^a-z_]/g, "") }, v);
}

function taskLink(id) {
  return id ? el("a", { href: "#/task/" + encodeURIComponent(id), class: "mono" }, id) : "—";
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "—";
}

function json(v) {
  return v === null || v === undefined ? "null" : JSON.stringify(v, null, 2);
}

function table(id, headers, rows, emptyText) {
  if (!rows.length) return el("p", { class: "empty", id: id }, emptyText);
  const head = el("tr", {}, ...headers.map(h =>
    el("th", { class: h.endsWith("#") ? "num" : null }, h.replace(/#$/, ""))));
  return el("table", { id: id }, el("thead", {}, head), el("tbody", {}, ...rows));
}

function card(n, label) {
  return el("div", { class: "card" }, el("div", { class: "n" }, n), el("div", { class: "l" }, label));
}

/* ---- the API ----------------------------------------------------------------------------- */

class AuthError extends Error {}

async function api(path) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const r = await fetch(API + path, { headers, cache: "no-store" });
  if (r.status === 401) throw new AuthError("the server wants a token");
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const err = new Error((body && body.error) || ("HTTP " + r.status));
    err.status = r.status;
    err.code = body && body.code;
    throw err;
  }
  return body;
}

/* ---- auth -------------------------------------------------------------------------------- */

function setCookie(token) {
  /* Cookie values cannot hold these; such a token works for everything but the live feed. */
  const ok = token && /^[\x21-\x7e]+$/.test(token) && !/[;,"\\]/.test(token);
  document.cookie = "cp_token=" + (ok ? token : "") + "; path=" + EVENTS_PATH +
    "; SameSite=Strict" + (ok ? "" : "; max-age=0");
}

function showLogin(message) {
  stopEvents();
  $("#login").hidden = false;
  $("#view").hidden = true;
  $("#logout").hidden = true;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    await api("stats");
  } catch (e) {
    state.token = null;
    showLogin(e instanceof AuthError ? "That token was refused." : e.message);
    return;
  }
  sessionStorage.setItem("cp_token", token);
  setCookie(token);
  start();
}

function forget() {
  sessionStorage.removeItem("cp_token");
  state.token = null;
  setCookie(null);
  showLogin("");
}

/* ---- the event stream -------------------------------------------------------------------- */

function setLive(on, text) {
  const p = $("#live");
  p.className = "pill " + (on ? "ok" : "off");
  p.textContent = text;
}

function startEvents() {
  stopEvents();
  const src = new EventSource(EVENTS_PATH);
  state.source = src;
  src.onopen = () => { state.retryMs = 0; setLive(true, "live"); };
  src.onerror = () => {
    setLive(false, "reconnecting");
    /* EventSource retries a dropped connection by itself; a refused one (401 after the token
     * changed, 503 when cpd is at its connection limit) closes for good: try again later,
     * backing off to 30 s, unless the token itself is refused now. */
    if (src.readyState === EventSource.CLOSED && state.source === src) {
      state.retryMs = Math.min(30000, (state.retryMs || 1500) * 2);
      api("stats").then(() => setTimeout(() => {
        if (state.source === src) startEvents();
      }, state.retryMs), e => {
        if (e instanceof AuthError) showLogin("The token no longer works.");
      });
    }
  };
  for (const type of EVENT_TYPES) src.addEventListener(type, onEvent);
  src.addEventListener("resync", onControl);
  src.addEventListener("overflow", onControl);
}

function stopEvents() {
  if (state.source) state.source.close();
  state.source = null;
}

function remember(entry) {
  state.feed.unshift(entry);
  if (state.feed.length > FEED_MAX) state.feed.length = FEED_MAX;
}

function onEvent(ev) {
  let data = {};
  try { data = JSON.parse(ev.data); } catch (e) { data = { text: ev.data }; }
  if (ev.lastEventId) state.lastEventId = ev.lastEventId;
  remember({ id: ev.lastEventId, type: ev.type, data: data });
  scheduleRefresh();
}

function onControl(ev) {
  let data = {};
  try { data = JSON.parse(ev.data); } catch (e) { data = {}; }
  remember({ id: null, type: ev.type, data: data, control: true });
  scheduleRefresh(); /* a resync: the state is re-read anyway */
}

function describe(e) {
  const d = e.data || {};
  if (e.control) return d.reason || "";
  const parts = [];
  if (d.agent_id) parts.push("agent " + d.agent_id);
  if (d.task_id) parts.push("task " + d.task_id + (d.task_type ? " (" + d.task_type + ")" : ""));
  if (d.old_status !== undefined || d.new_status !== undefined)
    parts.push((d.old_status || "∅") + " → " + (d.new_status || "∅"));
  if (e.type === "health_update")
    parts.push("health " + (d.old_health || "∅") + " → " + (d.new_health || "∅") +
      ", circuit " + (d.old_circuit || "∅") + " → " + (d.new_circuit || "∅"));
  if (d.attempt) parts.push("attempt " + d.attempt);
  if (d.reason) parts.push(d.reason);
  return parts.join(" · ");
}

/* ---- views ------------------------------------------------------------------------------- */

async function viewFleet() {
  const body = await api("agents?available=false");
  const agents = body.agents;
  const count = s => agents.filter(a => a.status === s).length;
  const rows = agents.map(a => el("tr", { "data-agent-id": a.agent_id },
    el("td", { class: "mono" }, a.agent_id),
    el("td", {}, pill(a.status)),
    el("td", {}, pill(a.health)),
    el("td", {}, pill(a.circuit)),
    el("td", { class: "num" }, a.tasks_in_flight + " / " + a.max_concurrent_tasks),
    el("td", { class: "num" }, a.avg_latency_ms ? Math.round(a.avg_latency_ms) + " ms" : "—"),
    el("td", { class: "num" }, String(a.tasks_completed), " / ", String(a.tasks_failed)),
    el("td", { title: a.last_heartbeat || "" }, ago(a.last_heartbeat)),
    el("td", {}, (a.capabilities || []).join(", ")),
    el("td", {}, a.model + " · " + a.provider)));
  return [
    el("h2", {}, "Fleet"),
    el("div", { class: "cards", id: "fleet-cards" },
      card(body.total, "agents"), card(count("ready"), "ready"), card(count("busy"), "busy"),
      card(count("draining"), "draining"), card(count("offline") + count("failed"), "offline / failed"),
      card(agents.filter(a => a.circuit === "open").length, "circuits open")),
    agents.length < body.total ? el("p", { class: "empty" }, "Showing " + agents.length +
      " of " + body.total + " agents.") : null,
    table("fleet", ["Agent", "Status", "Health", "Circuit", "In flight#", "Avg latency#",
      "Done / failed#", "Last heartbeat", "Capabilities", "Model"], rows,
      "No agents registered."),
  ];
}

function groupCount(tasks, key, order) {
  const m = new Map((order || []).map(k => [k, 0]));
  for (const t of tasks) m.set(t[key], (m.get(t[key]) || 0) + 1);
  return [...m.entries()];
}

async function viewQueue() {
  const [stats, pending, claimed, running, completed, failed, timeout, cancelled] =
    await Promise.all([api("stats"), api("tasks?status=pending&limit=500"),
      api("tasks?status=claimed&limit=200"), api("tasks?status=running&limit=200"),
      api("tasks?status=completed&limit=25"), api("tasks?status=failed&limit=25"),
      api("tasks?status=timeout&limit=25"), api("tasks?status=cancelled&limit=25")]);
  const s = stats.scheduler.by_status;
  const active = claimed.tasks.concat(running.tasks);
  const outcomes = completed.tasks.concat(failed.tasks, timeout.tasks, cancelled.tasks)
    .sort((a, b) => (b.completed_at || "").localeCompare(a.completed_at || "")).slice(0, 25);
  const countRows = pairs => pairs.map(([k, n]) =>
    el("tr", {}, el("td", {}, k), el("td", { class: "num" }, n)));
  const note = pending.total > pending.tasks.length ?
    el("p", { class: "empty" }, "Showing the newest " + pending.tasks.length + " of " +
      pending.total + " pending tasks.") : null;
  return [
    el("h2", {}, "Queue"),
    el("div", { class: "cards", id: "queue-cards" },
      card(s.pending, "pending"), card(s.claimed + s.running, "claimed / running"),
      card(s.completed, "completed"), card(s.failed, "failed"), card(s.timeout, "timed out"),
      card(s.cancelled, "cancelled"), card(stats.scheduler.held_claims, "waiting claims")),
    el("div", { class: "grid" },
      el("div", {}, el("h2", {}, "Pending by priority"),
        table("pending-by-priority", ["Priority", "Tasks#"],
          countRows(groupCount(pending.tasks, "priority", ["critical", "high", "normal", "low"])),
          "")),
      el("div", {}, el("h2", {}, "Pending by type"),
        table("pending-by-type", ["Task type", "Tasks#"],
          countRows(groupCount(pending.tasks, "task_type")), "Nothing pending."))),
    el("h2", {}, "Pending"), note,
    table("pending", ["Task", "Type", "Priority", "Needs", "Submitted"],
      pending.tasks.map(t => el("tr", { "data-task-id": t.id }, el("td", {}, taskLink(t.id)),
        el("td", {}, t.task_type), el("td", {}, pill(t.priority)),
        el("td", {}, t.required_capabilities.join(", ") || "—"),
        el("td", { title: t.created_at }, ago(t.created_at)))), "Nothing pending."),
    el("h2", {}, "Running"),
    table("running", ["Task", "Type", "Status", "Agent", "Attempt#", "Since"],
      active.map(t => el("tr", { "data-task-id": t.id }, el("td", {}, taskLink(t.id)),
        el("td", {}, t.task_type), el("td", {}, pill(t.status)),
        el("td", { class: "mono" }, t.assigned_agent || "—"),
        el("td", { class: "num" }, t.attempt),
        el("td", {}, ago(t.started_at || t.claimed_at)))), "Nothing running."),
    el("h2", {}, "Recent outcomes"),
    table("outcomes", ["Task", "Type", "Outcome", "Agent", "Attempts#", "Ended", "Error"],
      outcomes.map(t => el("tr", { "data-task-id": t.id }, el("td", {}, taskLink(t.id)),
        el("td", {}, t.task_type), el("td", {}, pill(t.status)),
        el("td", { class: "mono" }, t.assigned_agent || "—"),
        el("td", { class: "num" }, t.attempt), el("td", { title: t.completed_at }, ago(t.completed_at)),
        el("td", {}, t.error || ""))), "No finished tasks yet."),
  ];
}

async function viewTask(id) {
  let t;
  try {
    t = await api("tasks/" + encodeURIComponent(id));
  } catch (e) {
    if (e.status === 404 || e.status === 400) return [el("h2", {}, "Task"),
      el("p", { class: "empty", id: "task-missing" }, "No task " + id + " (it may have been " +
        "deleted by retention).")];
    throw e;
  }
  const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v)];
  const history = state.feed.filter(e => e.data && e.data.task_id === t.id).reverse();
  return [
    el("h2", {}, "Task ", el("span", { class: "mono" }, t.id)),
    el("dl", { class: "kv", id: "task-detail", "data-status": t.status },
      ...kv("Status", pill(t.status)), ...kv("Type", t.task_type),
      ...kv("Priority", t.priority),
      ...kv("Attempts", t.attempt + " (retries " + t.retries + " of " + t.max_retries + ")"),
      ...kv("Agent", t.assigned_agent || "—"),
      ...kv("Needs", t.required_capabilities.join(", ") || "—"),
      ...kv("Created", t.created_at), ...kv("Claimed", t.claimed_at || "—"),
      ...kv("Started", t.started_at || "—"), ...kv("Ended", t.completed_at || "—"),
      ...kv("Timeout", t.timeout_seconds + " s"),
      ...(t.deadline_at ? kv("Deadline", t.deadline_at) : []),
      ...(t.progress ? kv("Progress", (t.progress.percent !== undefined ?
        t.progress.percent + " %" : "") + (t.progress.message ? " " + t.progress.message : "")) : []),
      ...kv("Strategy", t.strategy || "default")),
    el("h2", {}, "Attempts"),
    table("task-attempts", ["#", "Agent", "Started", "Ended", "Outcome", "Error"],
      (t.attempts || []).map((a, i) => el("tr", {}, el("td", { class: "num" }, i + 1),
        el("td", { class: "mono" }, a.agent_id || "—"), el("td", {}, a.started_at || "—"),
        el("td", {}, a.ended_at || "—"), el("td", {}, pill(a.outcome || "in progress")),
        el("td", {}, a.error || ""))), "Never claimed."),
    el("h2", {}, "Payload"), el("pre", { id: "task-payload" }, json(t.payload)),
    el("h2", {}, "Result"), el("pre", { id: "task-result" }, json(t.result)),
    el("h2", {}, "Error"), el("pre", { id: "task-error" }, t.error === null ? "null" : t.error),
    el("h2", {}, "Metadata"), el("pre", {}, json(t.metadata)),
    el("h2", {}, "Events seen here"),
    history.length ? el("ul", { id: "feed" }, ...history.map(feedItem)) :
      el("p", { class: "empty" }, "None since this page was opened."),
  ];
}

function feedItem(e) {
  return el("li", { "data-type": e.type, class: e.control ? "control" : null },
    el("span", { class: "t" }, clock(e.data && e.data.timestamp) !== "—" ?
      clock(e.data.timestamp) : "now"),
    el("span", {}, pill(e.type)),
    el("span", {}, e.data && e.data.task_id ?
      el("a", { href: "#/task/" + encodeURIComponent(e.data.task_id) }, describe(e)) :
      describe(e)));
}

async function viewEvents() {
  const select = el("select", { id: "feed-filter" }, el("option", { value: "" }, "every event"),
    ...EVENT_TYPES.map(t => el("option", { value: t }, t)));
  select.value = state.feedFilter;
  select.addEventListener("change", () => { state.feedFilter = select.value; render(); });
  const shown = state.feed.filter(e => !state.feedFilter || e.type === state.feedFilter);
  return [
    el("h2", {}, "Live events"),
    el("div", { class: "filters" }, "Show ", select, " · last id ",
      el("span", { class: "mono", id: "last-event-id" }, state.lastEventId || "—"),
      " · newest first, the last " + FEED_MAX + " kept in this tab"),
    shown.length ? el("ul", { id: "feed" }, ...shown.map(feedItem)) :
      el("p", { class: "empty", id: "feed-empty" }, "Waiting for events…"),
  ];
}

async function viewSystem() {
  const [health, stats] = await Promise.all([api("health"), api("stats")]);
  const st = health.storage || {};
  const kv = (k, v) => [el("dt", {}, k), el("dd", {}, v)];
  const h = stats.health;
  return [
    el("h2", {}, "System"),
    el("div", { class: "cards", id: "system-cards" },
      card(pill(health.status), "system health"),
      card(pill(st.available ? "available" : "unavailable"), "storage"),
      card(h.healthy_count, "healthy agents"), card(h.degraded_count, "degraded"),
      card(h.unhealthy_count, "unhealthy"), card(h.unknown_count, "unknown"),
      card(h.circuits_open, "circuits open")),
    el("h2", {}, "Storage"),
    el("dl", { class: "kv", id: "storage" },
      ...kv("Backend", st.backend), ...kv("Available", String(st.available)),
      ...kv("Fallback", st.fallback ? "yes: " + (st.fallback_reason || "") : "no"),
      ...(st.mode ? kv("Mode", st.mode) : []),
      ...(st.mode ? kv("Address", st.address || "—") : [])),
    el("h2", {}, "Registry and scheduler"),
    el("dl", { class: "kv" },
      ...kv("Agents", stats.registry.total_agents + " (" + stats.registry.available_agents +
        " available)"),
      ...kv("By capability", Object.entries(stats.registry.by_capability)
        .map(([k, n]) => k + " " + n).join(", ") || "—"),
      ...kv("By provider", Object.entries(stats.registry.by_provider)
        .map(([k, n]) => k + " " + n).join(", ") || "—"),
      ...kv("Tasks stored", String(stats.scheduler.total)),
      ...kv("By type", Object.entries(stats.scheduler.by_type)
        .map(([k, n]) => k + " " + n).join(", ") || "—"),
      ...kv("Waiting claims", String(stats.scheduler.held_claims)),
      ...kv("Event stream", (state.source && state.source.readyState === EventSource.OPEN ?
        "connected" : "not connected") + ", last id " + (state.lastEventId || "—"))),
  ];
}

/* ---- routing and refresh ----------------------------------------------------------------- */

function route() {
  const h = location.hash.replace(/^#\/?/, "");
  if (h.startsWith("task/")) return { name: "task", arg: decodeURIComponent(h.slice(5)) };
  return { name: ["fleet", "queue", "events", "system"].includes(h) ? h : "fleet" };
}

async function render() {
  if (state.rendering) { state.again = true; return; }
  state.rendering = true;
  const r = route();
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.view === r.name);
  try {
    const parts = r.name === "queue" ? await viewQueue() : r.name === "events" ?
      await viewEvents() : r.name === "system" ? await viewSystem() : r.name === "task" ?
      await viewTask(r.arg) : await viewFleet();
    if (route().name === r.name) {
      $("#view").replaceChildren(...parts.filter(p => p !== null));
      $("#updated").textContent = "Updated " + new Date().toLocaleTimeString();
      $("#error").textContent = "";
    }
  } catch (e) {
    if (e instanceof AuthError) { showLogin("Your token was refused."); }
    else { $("#error").textContent = "Could not load: " + e.message; }
  } finally {
    state.rendering = false;
    if (state.again) { state.again = false; scheduleRefresh(); }
  }
}

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; render(); },
    REFRESH_DEBOUNCE_MS);
}

function start() {
  $("#login").hidden = true;
  $("#view").hidden = false;
  $("#logout").hidden = !state.token;
  startEvents();
  render();
}

async function boot() {
  $("#login-form").addEventListener("submit", ev => {
    ev.preventDefault();
    signIn($("#token").value.trim());
  });
  $("#logout").addEventListener("click", forget);
  window.addEventListener("hashchange", render);
  if (POLL_MS > 0)
    setInterval(() => { if (!$("#view").hidden && route().name !== "events") render(); }, POLL_MS);
  try {
    await api("stats"); /* with the kept token, or none when auth is off */
  } catch (e) {
    if (e instanceof AuthError) {
      if (state.token) forget(); else showLogin("");
      return;
    }
  }
  if (state.token) setCookie(state.token);
  start();
}

boot();
