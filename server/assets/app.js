// Ferry dashboard (served by `ferry serve`): plain JS, no framework, no build step.
//
// Element ids and classes a browser test can rely on:
//   Sign-in      #login-box (section), #token (input), #login (button), #login-error,
//                #whoami ("name · role" once signed in), #logout
//   Errors       #error (banner, hidden when empty; text "code: message" in #error-text)
//   Job list     #list-view; #jobs (table), one tr.job per job with data-id and data-status,
//                a.open in it links to "#/jobs/ID"; progress is a <progress> plus span.percent;
//                button.filter[data-status="running"] etc. (data-status="" is "all"; the
//                status buttons toggle and combine; the active ones have class "active");
//                #jobs-total
//   Start form   #start-form (hidden for viewers), #promotion, #mode, #package (inside
//                #package-field, shown for mode "restore"), #start
//   Job page     #job-view; #job with data-id and data-status kept current; #job-status,
//                #job-phase, #job-progress (<progress> max=100 value=percent), #job-percent
//                ("25% (10/40)"), #job-resumed (badge), #job-message, #cancel (queued/running,
//                not for viewers), #delete (admins, finished jobs; the first click arms it,
//                class "armed", the second within 5 s deletes), #download-report,
//                #download-package (export jobs that succeeded), #back (link to "#/")
//   Approval     #approval (jobs of a promotion that asks for it): #approval-needed,
//                #approval-digest (the plan awaiting approval), #approval-approved,
//                #approval-decisions; #approve, #reject-reason and #reject in
//                #approval-actions (approvers and admins, while it awaits approval)
//   Plan         #plan with data-loaded="true" once rendered; #plan-actions (tr.action per action with data-action),
//                #plan-rewrites (tr.rewrite per rewrite)
//   Report       #report with data-loaded="true" once rendered; #report-items (table, rows
//                tr.item with data-outcome; failed and skipped first), #report-kinds,
//                #report-files, #report-credentials, #report-warnings, #report-aborted
//   Log          #log (<pre>, the last 200 lines)
//
// Routes: "#/" is the job list, "#/jobs/ID" a job's page.
// The token lives in sessionStorage only ("ferry-token"); it never goes into the page or a URL.
"use strict";

const TOKEN_KEY = "ferry-token";
const STATUSES = ["queued", "running", "awaiting_approval", "succeeded", "failed", "cancelling", "cancelled"];
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const LOG_TAIL = 200;
const LIST_EVERY_MS = 2000;
const POLL_EVERY_MS = 1000;

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// Everything that depends on the signed-in user or the current page.
const state = {
  user: null,            // {name, role}
  filter: new Set(),     // statuses shown; empty is all
  listTimer: null,
  page: 0,               // bumped on every route change so stale async work can tell
  job: null,             // the job shown on its page
  stream: null,          // AbortController of the events stream
  pollTimer: null,
  logLines: [],
  lastSeq: 0,
  planLoaded: false,
  reportLoaded: false,
  deleteArmed: null,     // timer while #delete is armed
};

// ---------- small DOM helpers (text only: data never goes through innerHTML) ----------

// el("td", {class: "x", title: t}, "text", childNode, ...)
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setText(sel, text) {
  $(sel).textContent = text ?? "";
}

function show(sel, visible) {
  $(sel).hidden = !visible;
}

function table(id, headers, rows) {
  return el("table", { id, class: "grid" },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  for (n = Number(n) || 0; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

// ULIDs share their leading (time) characters, so the tail tells jobs apart.
const shortId = (id) => (id.length > 10 ? "…" + id.slice(-8) : id);
// "dev @ http://host" -> "dev": the list has no room for URLs (the title keeps them).
const sideName = (s) => String(s ?? "").split(" @ ")[0];
const percentText = (p) => `${p?.percent ?? 0}%` + (p?.total ? ` (${p.done}/${p.total})` : "");

// ---------- errors ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function showError(err) {
  if (!err || err.code === "signed_out") return;
  const text = err instanceof ApiError ? `${err.code}: ${err.message}` : `error: ${err.message ?? err}`;
  setText("#error-text", text);
  show("#error", true);
}

function clearError() {
  setText("#error-text", "");
  show("#error", false);
}

// ---------- the API ----------

function authHeaders(extra = {}) {
  return { ...extra, Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ""}` };
}

// Turns a non-2xx response into an ApiError; a 401 also signs out.
async function failure(res) {
  let code = `http_${res.status}`;
  let message = res.statusText || "request failed";
  try {
    const body = await res.json();
    if (body?.error) ({ code, message } = body.error);
  } catch { /* not JSON: keep the status line */ }
  if (res.status === 401) {
    signOut(`${code}: ${message}`);
    return new ApiError(401, "signed_out", message);
  }
  return new ApiError(res.status, code, message);
}

// Only our own API gets the token (the package link comes from the server, but still).
function checkPath(path) {
  if (!path.startsWith("/v1/")) throw new ApiError(0, "bad_path", `refusing to fetch ${path}`);
}

async function raw(path, opts = {}) {
  checkPath(path);
  let res;
  try {
    res = await fetch(path, { ...opts, headers: authHeaders(opts.headers) });
  } catch (e) {
    throw new ApiError(0, "network", e.message || "the server cannot be reached");
  }
  if (!res.ok) throw await failure(res);
  return res;
}

async function api(path, { method = "GET", body } = {}) {
  const opts = { method };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers = { "Content-Type": "application/json" };
  }
  const res = await raw(path, opts);
  return res.status === 204 ? null : res.json();
}

const jobPath = (id, rest = "") => `/v1/jobs/${encodeURIComponent(id)}${rest}`;

// ---------- signing in and out ----------

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    state.user = await api("/v1/whoami");
  } catch (e) {
    if (e.code !== "signed_out") signOut(`${e.code}: ${e.message}`);
    return;
  }
  $("#token").value = "";
  setText("#login-error", "");
  setText("#whoami", `${state.user.name} · ${state.user.role}`);
  show("#user", true);
  show("#login-box", false);
  show("#app", true);
  applyRole();
  loadPromotions();
  route();
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  state.user = null;
  leavePage();
  clearError();
  show("#app", false);
  show("#user", false);
  setText("#whoami", "");
  show("#login-box", true);
  setText("#login-error", message);
  $("#token").focus();
}

const canOperate = () => ["operator", "approver", "admin"].includes(state.user?.role);
const canApprove = () => ["approver", "admin"].includes(state.user?.role);
const isAdmin = () => state.user?.role === "admin";

function applyRole() {
  show("#start-form", canOperate());
}

// ---------- routing ----------

// Stops whatever the previous page was doing (list timer, events stream, polling).
function leavePage() {
  state.page++;
  clearTimeout(state.listTimer);
  clearTimeout(state.pollTimer);
  state.stream?.abort();
  state.stream = null;
  disarmDelete();
}

function route() {
  if (!state.user) return;
  leavePage();
  clearError();
  const m = location.hash.match(/^#\/jobs\/([^/]+)$/);
  show("#list-view", !m);
  show("#job-view", !!m);
  if (m) return openJob(decodeURIComponent(m[1]));
  refreshList(state.page);
  if ($("#mode").value === "restore") onModeChange(); // new exports may have finished
}

// ---------- the job list ----------

function filterQuery() {
  const s = [...state.filter].join(",");
  return s ? `status=${encodeURIComponent(s)}&` : "";
}

// Refreshes the list, then again every 2 s while this page is shown.
async function refreshList(page) {
  try {
    if (!document.hidden) {
      const data = await api(`/v1/jobs?${filterQuery()}offset=0&limit=50`);
      if (page !== state.page) return;
      renderJobs(data.jobs ?? [], data.total ?? 0);
    }
  } catch (e) {
    if (page !== state.page) return;
    showError(e);
    if (e.code === "signed_out") return;
  }
  if (page === state.page) state.listTimer = setTimeout(() => refreshList(page), LIST_EVERY_MS);
}

// Updates rows in place (keyed by id) so links and focus survive the 2 s refresh.
function renderJobs(jobs, total) {
  const tbody = $("#jobs tbody");
  const rows = new Map($$("tr.job", tbody).map((tr) => [tr.dataset.id, tr]));
  for (const job of jobs) {
    let tr = rows.get(job.id);
    if (!tr) tr = jobRow(job.id);
    rows.delete(job.id);
    fillJobRow(tr, job);
    tbody.append(tr); // moves it into list order
  }
  for (const tr of rows.values()) tr.remove();
  show("#jobs-empty", jobs.length === 0);
  setText("#jobs-total", total > jobs.length ? `${jobs.length} of ${total} jobs` : `${total} job${total === 1 ? "" : "s"}`);
}

function jobRow(id) {
  const href = `#/jobs/${encodeURIComponent(id)}`;
  return el("tr", { class: "job", dataset: { id } },
    el("td", { class: "mono" }, el("a", { class: "open", href, title: id }, shortId(id))),
    el("td", { class: "c-promotion" }), el("td", { class: "c-mode" }),
    el("td", {}, el("span", { class: "status" })), el("td", { class: "c-phase" }),
    el("td", { class: "c-progress" }, el("progress", { max: 100, value: 0 }), el("span", { class: "percent" })),
    el("td", { class: "c-by" }), el("td", { class: "c-created" }), el("td", { class: "c-sides" }));
}

function fillJobRow(tr, job) {
  tr.dataset.status = job.status;
  $(".c-promotion", tr).textContent = job.promotion;
  $(".c-mode", tr).textContent = job.mode;
  setStatus($(".status", tr), job.status);
  $(".c-phase", tr).textContent = job.phase;
  $("progress", tr).value = job.progress?.percent ?? 0;
  $(".percent", tr).textContent = percentText(job.progress);
  $(".c-by", tr).textContent = job.started_by;
  $(".c-created", tr).textContent = fmtTime(job.created);
  const sides = $(".c-sides", tr);
  sides.textContent = `${sideName(job.source)} → ${sideName(job.target)}`;
  sides.title = `${job.source} → ${job.target}`;
}

function setStatus(node, status) {
  node.textContent = status;
  node.dataset.status = status;
}

// "all" clears the filter; a status toggles (several combine into ?status=a,b).
function onFilter(button) {
  const s = button.dataset.status;
  if (!s) state.filter.clear();
  else if (state.filter.has(s)) state.filter.delete(s);
  else state.filter.add(s);
  markFilters();
  leavePage();
  refreshList(state.page);
}

function markFilters() {
  for (const b of $$("button.filter")) {
    const on = b.dataset.status ? state.filter.has(b.dataset.status) : state.filter.size === 0;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", String(on));
  }
}

// ---------- starting a job ----------

async function loadPromotions() {
  try {
    const { promotions = [] } = await api("/v1/promotions");
    $("#promotion").replaceChildren(...promotions.map((p) =>
      el("option", { value: p.name, title: p.description ?? "", dataset: { info: promotionInfo(p) } },
        `${p.name} (${p.source} → ${p.target})`)));
    showPromotionInfo();
  } catch (e) {
    showError(e);
  }
}

function promotionInfo(p) {
  return `${p.platform}: ${p.source} → ${p.target}` + (p.description ? ` · ${p.description}` : "");
}

function showPromotionInfo() {
  setText("#promotion-info", $("#promotion").selectedOptions[0]?.dataset.info ?? "No promotions.");
  updateStartButton();
}

// A restore takes the package of an export job that succeeded.
async function onModeChange() {
  const restore = $("#mode").value === "restore";
  show("#package-field", restore);
  if (restore) {
    try {
      const { jobs: exports = [] } = await api("/v1/jobs?status=succeeded&mode=export&offset=0&limit=200");
      const options = exports.map((j) =>
        el("option", { value: j.id }, `${shortId(j.id)} · ${j.promotion} · ${fmtTime(j.finished)}`));
      $("#package").replaceChildren(...(options.length ? options : [el("option", { value: "" }, "no finished export job")]));
    } catch (e) {
      showError(e);
    }
  }
  updateStartButton();
}

function updateStartButton() {
  const needsPackage = $("#mode").value === "restore" && !$("#package").value;
  $("#start").disabled = !$("#promotion").value || needsPackage;
}

async function onStart(ev) {
  ev.preventDefault();
  const body = { promotion: $("#promotion").value, mode: $("#mode").value };
  if (body.mode === "restore") body.package = $("#package").value;
  $("#start").disabled = true;
  try {
    const job = await api("/v1/jobs", { method: "POST", body });
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  } catch (e) {
    showError(e);
  } finally {
    updateStartButton();
  }
}

// ---------- a job's page ----------

function resetJobPage(id) {
  Object.assign(state, { job: null, logLines: [], lastSeq: 0, planLoaded: false, reportLoaded: false });
  const root = $("#job");
  root.dataset.id = id;
  root.dataset.status = "";
  for (const sel of ["#job-promotion", "#job-mode", "#job-status", "#job-phase", "#job-percent", "#log"]) setText(sel, "");
  setText("#job-id", id);
  $("#job-progress").value = 0;
  for (const sel of ["#cancel", "#delete", "#download-report", "#download-package", "#job-resumed", "#job-message"]) show(sel, false);
  $("#plan-body").replaceChildren(el("p", { class: "muted" }, "Not planned yet."));
  $("#report-body").replaceChildren(el("p", { class: "muted" }, "The report is ready once the job has finished."));
  $("#report").dataset.loaded = "false";
  $("#plan").dataset.loaded = "false";
}

async function openJob(id) {
  const page = state.page;
  resetJobPage(id);
  try {
    renderJob(await api(jobPath(id)));
    await loadLog(page);
  } catch (e) {
    if (page === state.page) showError(e);
    return;
  }
  if (page !== state.page) return;
  loadPlan(page);
  if (FINISHED.has(state.job.status)) loadReport(page);
  else watchEvents(page);
}

function renderJob(job) {
  const prev = state.job;
  state.job = job;
  $("#job").dataset.status = job.status;
  setText("#job-promotion", job.promotion);
  setText("#job-mode", job.mode);
  setStatus($("#job-status"), job.status);
  show("#job-resumed", !!job.resumed);
  setText("#job-sides", `${job.source} → ${job.target}`);
  setText("#job-by", job.started_by);
  setText("#job-created", fmtTime(job.created));
  setText("#job-started", fmtTime(job.started));
  setText("#job-finished", fmtTime(job.finished));
  setText("#job-attempts", job.attempts ?? 1);
  setText("#job-counts", countsText(job.counts));
  setText("#job-message", job.message);
  show("#job-message", !!job.message);
  setText("#job-phase", job.phase);
  $("#job-progress").value = job.progress?.percent ?? 0;
  setText("#job-percent", percentText(job.progress));
  renderJobButtons(job);
  renderApproval(job);
  // The plan shows up once the job is past planning: look again when the phase moves on,
  // and when a new plan awaits approval.
  if (prev && prev.phase !== job.phase && !state.planLoaded) loadPlan(state.page);
  if (prev && prev.approval?.digest !== job.approval?.digest) loadPlan(state.page);
}

// Who must approve, the plan awaiting it (the digest the plan section shows), who decided.
function renderApproval(job) {
  const a = job.approval;
  show("#approval", !!a);
  if (!a) return;
  setText("#approval-needed", a.needed);
  setText("#approval-digest", a.digest ?? "not planned yet");
  setText("#approval-approved", a.approved ?? "—");
  const decisions = (a.decisions ?? []).map((d) =>
    `${d.verdict} by ${d.by} (${fmtTime(d.at)})${d.reason ? `: ${d.reason}` : ""}`);
  setText("#approval-decisions", decisions.length ? decisions.join("; ") : "none yet");
  show("#approval-actions", canApprove() && job.status === "awaiting_approval");
}

async function onApprove() {
  const digest = state.job?.approval?.digest;
  try {
    renderJob(await api(jobPath(state.job.id, "/approve"), { method: "POST", body: { digest } }));
  } catch (e) {
    showError(e);
  }
}

async function onReject() {
  const reason = $("#reject-reason").value.trim() || null;
  try {
    renderJob(await api(jobPath(state.job.id, "/reject"), { method: "POST", body: { reason } }));
    finishJob(state.page);
  } catch (e) {
    showError(e);
  }
}

function countsText(counts = {}) {
  const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  return parts.length ? parts.join(", ") : "—";
}

function renderJobButtons(job) {
  const finished = FINISHED.has(job.status);
  show("#cancel", canOperate() && ["queued", "running", "awaiting_approval"].includes(job.status));
  show("#delete", isAdmin() && finished);
  show("#download-report", finished);
  show("#download-package", !!job.package);
}

// ---------- live updates: the events stream, or polling when it fails ----------

async function watchEvents(page) {
  const id = state.job.id;
  const ctl = new AbortController();
  state.stream = ctl;
  let ended = false;
  try {
    const res = await raw(jobPath(id, "/events"), { signal: ctl.signal, headers: { Accept: "text/event-stream" } });
    if (!res.body) throw new Error("no stream");
    await readEvents(res.body, (type, data) => {
      if (page !== state.page) return;
      if (type === "job") renderJob(JSON.parse(data));
      else if (type === "log") addLogLines([JSON.parse(data)]);
      else if (type === "end") {
        ended = true;
        renderJob(JSON.parse(data));
        finishJob(page);
      }
    });
  } catch (e) {
    if (e.code === "signed_out" || page !== state.page) return;
  }
  if (state.stream === ctl) state.stream = null;
  // Closed or broken before `end`: fall back to polling.
  if (!ended && page === state.page) poll(page);
}

// Server-sent events over fetch: blocks of "event:"/"data:" lines ended by a blank line.
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue; // comment / keep-alive
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
      }
      if (data.length) dispatch(type, data.join("\n"));
    }
  }
}

async function poll(page) {
  try {
    renderJob(await api(jobPath(state.job.id)));
    await loadLog(page);
  } catch (e) {
    if (page !== state.page) return;
    showError(e);
    if (e.code === "signed_out" || e.status === 404) return; // signed out, or deleted
  }
  if (page !== state.page) return;
  if (FINISHED.has(state.job.status)) finishJob(page);
  else state.pollTimer = setTimeout(() => poll(page), POLL_EVERY_MS);
}

function finishJob(page) {
  if (!state.planLoaded) loadPlan(page);
  loadReport(page);
}

// ---------- the log ----------

async function loadLog(page) {
  const after = state.lastSeq ? `?after=${state.lastSeq}` : "";
  const { lines = [] } = await api(jobPath(state.job.id, `/log${after}`));
  if (page === state.page) addLogLines(lines);
}

// Lines may come twice (GET /log, then the stream): keep each seq once, and only the tail.
function addLogLines(lines) {
  const fresh = lines.filter((l) => l.seq > state.lastSeq);
  if (!fresh.length) return;
  state.lastSeq = fresh[fresh.length - 1].seq;
  state.logLines = state.logLines.concat(fresh.map(logText)).slice(-LOG_TAIL);
  const pre = $("#log");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = state.logLines.join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

const logText = (l) => `${fmtTime(l.at)} ${String(l.level ?? "").padEnd(5)} ${l.message}`;

// ---------- the plan ----------

async function loadPlan(page) {
  try {
    const plan = await api(jobPath(state.job.id, "/plan"));
    if (page !== state.page) return;
    state.planLoaded = true;
    renderPlan(plan);
  } catch (e) {
    if (page !== state.page) return;
    if (e.code !== "not_ready") showError(e);
    else if (FINISHED.has(state.job.status)) $("#plan-body").replaceChildren(el("p", { class: "muted" }, "This job has no plan."));
  }
}

function renderPlan(plan) {
  const items = plan.items ?? [];
  const byAction = new Map();
  for (const it of items) byAction.set(it.action, (byAction.get(it.action) ?? 0) + 1);
  const actionRows = [...byAction].map(([a, n]) =>
    el("tr", { class: "action", dataset: { action: a } }, el("td", {}, el("span", { class: "tag", dataset: { outcome: a } }, a)), el("td", { class: "num" }, n)));
  const rewrites = items.flatMap((it) => (it.rewrites ?? []).map((r) => [it, r]));
  const rewriteRows = rewrites.map(([it, r]) => el("tr", { class: "rewrite" },
    el("td", {}, it.kind), el("td", {}, it.key), el("td", { class: "mono" }, r.pointer),
    el("td", { class: "mono old" }, r.old ?? "(absent)"), el("td", { class: "mono new" }, r.new ?? "(absent)"),
    el("td", { class: "muted" }, r.by)));
  const deletes = plan.deletes ?? [];
  $("#plan-body").replaceChildren(
    el("p", {}, `${items.length} resources`, deletes.length ? `, ${deletes.length} to prune` : "", "."),
    el("p", { id: "plan-digest", class: "mono muted" }, plan.digest ? `digest ${plan.digest}` : ""),
    table("plan-actions", ["Action", "Resources"], actionRows),
    el("h4", {}, `Rewrites (${rewrites.length})`),
    rewrites.length
      ? table("plan-rewrites", ["Kind", "Key", "Field", "Old", "New", "By"], rewriteRows)
      : el("p", { class: "muted" }, "No rule or hook changes anything."),
  );
  $("#plan").dataset.loaded = "true";
}

// ---------- the report ----------

async function loadReport(page) {
  try {
    const report = await api(jobPath(state.job.id, "/report"));
    if (page !== state.page) return;
    state.reportLoaded = true;
    renderReport(report);
  } catch (e) {
    if (page !== state.page) return;
    if (e.code === "not_ready") $("#report-body").replaceChildren(el("p", { class: "muted" }, "This job has no report."));
    else showError(e);
  }
}

// Failed, then skipped, then the rest (each group in the report's order).
function outcomeRank(it) {
  const o = it.outcome ?? it.action;
  return o === "failed" || o === "fail" ? 0 : o === "skipped" || o === "skip" ? 1 : 2;
}

function renderReport(r) {
  const items = (r.items ?? []).map((it, i) => [it, i])
    .sort(([a, i], [b, j]) => outcomeRank(a) - outcomeRank(b) || i - j)
    .map(([it]) => it);
  const creds = r.credentials_needed ?? [];
  const warnings = r.warnings ?? [];
  const deletes = r.deletes ?? [];
  $("#report-body").replaceChildren(
    el("p", {}, `${r.dry_run ? "Dry run" : "Run"} · ${fmtMs(r.duration_ms)} · ${r.source} → ${r.target}`),
    r.aborted ? el("p", { id: "report-aborted", class: "message" }, `Aborted: ${r.aborted}`) : null,
    el("h4", {}, `Resources (${items.length})`), itemsTable(items),
    el("h4", {}, "Per kind"), kindsTable(r.kinds ?? {}),
    el("h4", {}, "Files"), filesBlock(r.files ?? {}),
    el("h4", {}, `Credentials needed (${creds.length})`), credentialsTable(creds),
    el("h4", {}, `Warnings (${warnings.length})`), warningsList(warnings),
    deletes.length ? [el("h4", {}, `Prune (${deletes.length})`), deletesTable(deletes)] : null,
  );
  $("#report").dataset.loaded = "true";
}

const none = () => el("p", { class: "muted" }, "None.");
const cells = (...values) => values.map((v) => el("td", {}, v ?? ""));

function credentialsTable(creds) {
  if (!creds.length) return none();
  return table("report-credentials", ["Kind", "Key", "Reason"],
    creds.map((c) => el("tr", {}, cells(c.kind, c.key, c.reason))));
}

function warningsList(warnings) {
  if (!warnings.length) return none();
  return el("ul", { id: "report-warnings", class: "warnings" },
    warnings.map((w) => el("li", {}, typeof w === "string" ? w : JSON.stringify(w))));
}

function deletesTable(deletes) {
  return table("report-deletes", ["Kind", "Key", "Target id", "Outcome", "Reason"],
    deletes.map((d) => el("tr", {}, cells(d.kind, d.key, d.target_id, d.outcome, d.reason))));
}

function kindsTable(kinds) {
  const cols = ["created", "adopted", "updated", "skipped", "failed"];
  const rows = Object.entries(kinds).map(([kind, k]) => el("tr", {},
    el("td", {}, kind), cols.map((c) => el("td", { class: "num" }, k[c] ?? 0)), el("td", { class: "num" }, fmtMs(k.work_ms))));
  return table("report-kinds", ["Kind", ...cols, "Work"], rows);
}

function itemsTable(items) {
  const rows = items.map((it) => {
    const outcome = it.outcome ?? it.action;
    const key = it.source_key && it.source_key !== it.key ? `${it.source_key} → ${it.key}` : it.key;
    return el("tr", { class: "item", dataset: { outcome } },
      el("td", {}, el("span", { class: "tag", dataset: { outcome } }, outcome)),
      el("td", {}, it.kind), el("td", {}, key), el("td", {}, it.action),
      el("td", { class: "mono" }, it.target_id ?? ""), el("td", {}, it.reason ?? ""),
      el("td", { class: "num" }, fmtMs(it.duration_ms)));
  });
  return table("report-items", ["Outcome", "Kind", "Key", "Action", "Target id", "Reason", "Time"], rows);
}

function filesBlock(f) {
  const list = (name, xs = []) => xs.length
    ? el("p", {}, el("strong", {}, `${name}: `), xs.join(", "))
    : null;
  return el("div", { id: "report-files" },
    el("p", {}, `${f.moved ?? 0} moved, ${fmtBytes(f.bytes)}`),
    list("Too large", f.too_large), list("Unsupported", f.unsupported), list("Failed", f.failed));
}

// ---------- job actions ----------

async function onCancel() {
  const page = state.page;
  try {
    renderJob(await api(jobPath(state.job.id, "/cancel"), { method: "POST" }));
  } catch (e) {
    showError(e);
    // 409 "finished": it ended meanwhile, show how.
    if (e.code === "finished" && page === state.page) renderJob(await api(jobPath(state.job.id)).catch(() => state.job));
  }
}

// Two clicks: the first arms the button for 5 s, the second deletes.
async function onDelete() {
  const btn = $("#delete");
  if (!state.deleteArmed) {
    btn.classList.add("armed");
    btn.textContent = "Really delete?";
    state.deleteArmed = setTimeout(disarmDelete, 5000);
    return;
  }
  disarmDelete();
  try {
    await api(jobPath(state.job.id), { method: "DELETE" });
    location.hash = "#/";
  } catch (e) {
    showError(e);
  }
}

function disarmDelete() {
  clearTimeout(state.deleteArmed);
  state.deleteArmed = null;
  const btn = $("#delete");
  btn.classList.remove("armed");
  btn.textContent = "Delete";
}

// Downloads need the Authorization header, so fetch then save through a Blob URL.
async function download(path, fallbackName) {
  try {
    const res = await raw(path);
    const blob = await res.blob();
    const name = filenameOf(res.headers.get("Content-Disposition")) ?? fallbackName;
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    showError(e);
  }
}

function filenameOf(disposition) {
  const m = disposition?.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  // Only a plain file name: nothing that could point at a folder.
  return m ? decodeURIComponent(m[1]).replace(/[\\/]/g, "_") : null;
}

function onDownloadReport() {
  const j = state.job;
  download(jobPath(j.id, "/report"), `ferry-report-${j.promotion}-${j.id}.json`);
}

function onDownloadPackage() {
  const j = state.job;
  download(j.package || jobPath(j.id, "/package"), `${j.promotion}-${j.id}.ferrypkg`);
}

// ---------- wiring ----------

function init() {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("#token").value.trim();
    if (!token) setText("#login-error", "Paste an API token first.");
    else signIn(token);
  });
  $("#logout").addEventListener("click", () => signOut());
  $("#error-close").addEventListener("click", clearError);
  for (const b of $$("button.filter")) b.addEventListener("click", () => onFilter(b));
  $("#start-form").addEventListener("submit", onStart);
  $("#promotion").addEventListener("change", showPromotionInfo);
  $("#mode").addEventListener("change", onModeChange);
  $("#package").addEventListener("change", updateStartButton);
  $("#cancel").addEventListener("click", onCancel);
  $("#approve").addEventListener("click", onApprove);
  $("#reject").addEventListener("click", onReject);
  $("#delete").addEventListener("click", onDelete);
  $("#download-report").addEventListener("click", onDownloadReport);
  $("#download-package").addEventListener("click", onDownloadPackage);
  window.addEventListener("hashchange", route);
  markFilters();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else signOut();
}

document.addEventListener("DOMContentLoaded", init);
