// BloomWatch built-in dashboard: filters -> /api/dashboard/* -> ECharts and tables.
// Initial filters come from the URL (?source=&from=&to= as ISO or epoch ms: alert links use them).
// The task table comes from /api/dashboard/options: the watched task (sentiment) is charted as
// shares of its labels, by source and by each other task (topic), which gets a mix chart too.
// Shares and mixes count the documents a task scored; the volumes count every document, and the
// unscored chart shows, per task, the share it left unscored (a language none of its models reads).
"use strict";

const TONES = { bad: "#e5484d", muted: "#98a2b3", good: "#2f9e6e" };
const PAGE_SIZE = 100;
const $ = (id) => document.getElementById(id);
const charts = {};
const tasks = { watched: null, described: [], all: [], unscoredReasons: [] };  // {name, labels, watched_label} from the options
const state = {
  range: 3600, from: null, to: null,     // relative range in s, or a fixed from/to (ms)
  filters: { q: "" },                    // filter bar dimension -> chosen value ("" = all)
  drill: null,                           // {from, to, extra: {dim: value}, label}
  offset: 0, bucketMs: 60000, lastPage: null, refreshS: 10, timer: null,
};
window.bloomwatch = { state, charts, tasks, firstRenderMs: null, refreshes: 0 };

function parseTime(value) {
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

function readUrl() {
  const params = new URLSearchParams(location.search);
  const from = parseTime(params.get("from")), to = parseTime(params.get("to"));
  if (from !== null) { state.from = from; state.to = to ?? Date.now(); }
  for (const dim of Object.keys(state.filters)) if (params.get(dim)) state.filters[dim] = params.get(dim);
}

function timeRange() {
  if (state.from !== null) return { from: state.from, to: state.to };
  const to = Date.now();
  return { from: to - state.range * 1000, to };
}

function query(extra = {}) {
  const { from, to } = timeRange();
  const p = new URLSearchParams({ from, to });
  for (const [key, value] of Object.entries({ ...state.filters, ...extra })) if (value !== "" && value != null) p.set(key, value);
  return p;
}

async function getJson(path, params) {
  const response = await fetch(`${path}?${params}`, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

const fmt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
const pct = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)}%`);
const time = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const words = (name) => name.replace(/_/g, " ");
const title = (name) => words(name).charAt(0).toUpperCase() + words(name).slice(1);

// A watched-task label's colour: the watched label red, the label at the far end of its scale
// green, those between grey (negative, neutral, positive).
function tone(label) {
  const labels = tasks.watched.labels, i = labels.indexOf(label), w = labels.indexOf(tasks.watched.watched_label);
  const far = w < labels.length / 2 ? labels.length - 1 : 0;
  return i === w ? "bad" : i === far ? "good" : "muted";
}

function rows(columns) {
  const names = Object.keys(columns);
  const n = names.length ? columns[names[0]].length : 0;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(names.map((k) => [k, columns[k][i]])));
}

function chart(name, onClick) {
  if (!charts[name]) {
    const c = echarts.init($(`chart-${name}`), null, { renderer: "canvas" });
    if (onClick) {
      c.on("click", (e) => onClick(e.value?.[0] ?? e.name, e));
      c.getZr().on("click", (e) => {  // a click on the plot area, between points
        if (e.target) return;
        const [t] = c.convertFromPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY]);
        if (Number.isFinite(t)) onClick(t, {});
      });
    }
    charts[name] = c;
  }
  return charts[name];
}

// Shown on a share or mix chart with nothing to count: in range, the task scored no document
// (e.g. the language filter picks a language none of its models reads).
const nothingScored = (task) => ({
  text: `No document in range scored by ${words(task)}`, left: "center", top: "middle",
  textStyle: { color: "#667085", fontSize: 12, fontWeight: "normal" },
});

const baseOption = () => ({
  animation: false,
  grid: { left: 48, right: 16, top: 30, bottom: 28 },
  tooltip: { trigger: "axis" },
  legend: { type: "scroll", top: 0, textStyle: { fontSize: 11 } },
  xAxis: { type: "time", min: state.lastPage && Math.floor(state.lastPage.from / state.bucketMs) * state.bucketMs, max: state.lastPage?.to, axisLabel: { hideOverlap: true } },
  yAxis: { type: "value", splitLine: { lineStyle: { color: "#f0f2f5" } } },
});

function drillBucket(t, extra, label) {
  const start = Math.floor(t / state.bucketMs) * state.bucketMs;
  drill({ from: start, to: start + state.bucketMs, extra, label: `${time(start)} – ${time(start + state.bucketMs).slice(11)} ${label || ""}` });
}

// An alert's pin sits on the spike it marks: the highest plotted share from its first window's
// start to its end (now, while it lasts). Not [started_at, observed]: an alert's row keeps its
// latest window's figures, so a resolved alert's `observed` is the calm level after the spike.
function alertPin(a, shares) {
  const from = a.started_at - (a.window_end - a.window_start), to = a.resolved_at ?? Infinity;  // epoch ms
  const during = shares.filter((x) => x.share != null && x.t >= from && x.t <= to);
  if (!during.length) return [a.started_at, a.observed];
  const peak = during.reduce((best, x) => (x.share > best.share ? x : best));
  return [peak.t, peak.share];
}

function renderNegativeShare(p, alerts) {
  const r = rows(p), { name, watched_label: label } = tasks.watched, shareName = `${label} share`;
  const opt = baseOption();
  opt.yAxis = { ...opt.yAxis, min: 0, max: (v) => Math.min(1, Math.max(0.1, v.max * 1.15)), axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } };
  opt.tooltip.valueFormatter = (v) => (typeof v === "number" ? pct(v) : v);
  const alertPoints = rows(alerts).map((a) => ({ value: alertPin(a, r), alert: a, itemStyle: { color: a.state === "resolved" ? "#98a2b3" : a.state === "pending" ? "#f79009" : "#b42318" } }));
  opt.series = [
    { name: "band", type: "line", stack: "band", data: r.map((x) => [x.t, x.band_low]), lineStyle: { opacity: 0 }, symbol: "none", tooltip: { show: false } },
    { name: "baseline band (±2σ)", type: "line", stack: "band", data: r.map((x) => [x.t, x.band_high == null ? null : x.band_high - x.band_low]), lineStyle: { opacity: 0 }, symbol: "none", color: "rgba(62,99,221,.35)", areaStyle: { color: "rgba(62,99,221,.12)" }, tooltip: { show: false } },
    { name: "baseline", type: "line", data: r.map((x) => [x.t, x.baseline]), symbol: "none", color: "#3e63dd", lineStyle: { type: "dashed", width: 1 } },
    { name: shareName, type: "line", data: r.map((x) => [x.t, x.share]), color: TONES.bad, showSymbol: r.length < 80, symbolSize: 5, lineStyle: { width: 2 } },
    { name: "alerts", type: "scatter", data: alertPoints, symbol: "pin", symbolSize: 26, z: 5, color: "#b42318",
      tooltip: { trigger: "item", formatter: (e) => `${esc(e.data.alert.rule)} · ${esc(e.data.alert.group_key)}<br>${e.data.alert.state} since ${time(e.data.alert.started_at)}` } },
  ];
  opt.legend.data = [shareName, "baseline", "baseline band (±2σ)", "alerts"];
  if (!r.length) opt.title = nothingScored(name);
  chart("negative_share", (t, e) => {
    if (e.data?.alert) {
      const a = e.data.alert, source = a.group_key.startsWith("source=") ? a.group_key.slice(7) : undefined;
      return drill({ from: a.window_start, to: a.window_end, extra: source ? { source } : {}, label: `alert ${a.rule} ${a.group_key}` });
    }
    drillBucket(t, { [name]: label }, `· ${label}`);
  }).setOption(opt, true);
}

function renderVolume(p) {
  const bySeries = {};
  rows(p).forEach((x) => (bySeries[`${x.kind} / ${x.source}`] ??= []).push([x.t, x.documents]));
  const opt = baseOption();
  opt.series = Object.entries(bySeries).map(([name, data]) => ({ name, type: "bar", stack: "all", data, barMaxWidth: 14 }));
  chart("volume", (t, e) => {
    const [kind, source] = (e.seriesName || "").split(" / ");
    drillBucket(t, e.seriesName ? { kind, source } : {}, e.seriesName ? `· ${e.seriesName}` : "");
  }).setOption(opt, true);
}

// Languages stacked biggest first (at the bottom), so the main market's bars keep one baseline.
function renderLanguages(p) {
  const bySeries = {}, total = {};
  rows(p).forEach((x) => {
    (bySeries[x.lang] ??= []).push([x.t, x.documents]);
    total[x.lang] = (total[x.lang] || 0) + x.documents;
  });
  const opt = baseOption();
  opt.series = Object.keys(bySeries).sort((a, b) => total[b] - total[a] || a.localeCompare(b))
    .map((name) => ({ name, type: "bar", stack: "lang", data: bySeries[name], barMaxWidth: 14 }));
  chart("volume_by_lang", (t, e) => drillBucket(t, e.seriesName ? { lang: e.seriesName } : {}, e.seriesName ? `· ${e.seriesName}` : ""))
    .setOption(opt, true);
}

const REASON_COLOURS = ["#f79009", "#98a2b3", "#7a5af8", "#3e63dd"];

// Every task of the table gets a bar (0 when it scored every document), stacked by reason; the
// label at its end: the task's unscored share and the languages most of those documents are in.
function renderUnscored(p) {
  const byTask = Object.fromEntries(rows(p).map((x) => [x.task, x]));
  const names = tasks.all.map((t) => t.name), reasons = tasks.unscoredReasons;
  const note = (name) => {
    const x = byTask[name];
    return x && x.unscored ? `${pct(x.unscored_share)} · ${x.languages.join(", ")}` : "0%";
  };
  chart("unscored").setOption({
    animation: false,
    grid: { left: 8, right: 96, top: 30, bottom: 24, containLabel: true },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    tooltip: {
      trigger: "axis", axisPointer: { type: "shadow" },
      formatter: (items) => {
        const x = byTask[names[items[0].dataIndex]];
        const lines = items.map((i) => `${i.marker}${esc(i.seriesName)}: ${pct(i.value)} (${fmt(Math.round(i.value * (x?.documents || 0)))})`);
        return [`<b>${esc(items[0].name)}</b> · ${fmt(x?.unscored || 0)} of ${fmt(x?.documents || 0)} documents unscored`, ...lines,
          ...(x?.unscored ? [`languages: ${esc(x.languages.join(", "))}`] : [])].join("<br>");
      },
    },
    xAxis: { type: "value", min: 0, max: 1, splitLine: { lineStyle: { color: "#f0f2f5" } }, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
    yAxis: { type: "category", data: names.map(title), inverse: true },
    series: reasons.map((reason, i) => ({
      name: words(reason), type: "bar", stack: "unscored", barMaxWidth: 22, color: REASON_COLOURS[i % REASON_COLOURS.length],
      data: names.map((name) => byTask[name]?.[reason] ?? 0),
      label: i === reasons.length - 1 ? { show: true, position: "right", formatter: (e) => note(names[e.dataIndex]), color: "#475467", fontSize: 11 } : { show: false },
    })),
  }, true);
}

const sharePanel = (group) => `${tasks.watched.name}_by_${group}`;  // dashboards.queries.panels()

function renderShare(group, panels) {
  const name = sharePanel(group), p = panels[name], watched = tasks.watched.name;
  const select = $(`g-${name}`), chosen = select.value;
  const groups = [...new Set(p.grp)].sort();
  select.replaceChildren(select.options[0], ...groups.map((g) => new Option(g, g, false, g === chosen)));
  const totals = {};
  rows(p).forEach((x) => {
    if (chosen && x.grp !== chosen) return;
    const b = (totals[x.t] ??= { all: 0 });
    b[x[watched]] = (b[x[watched]] || 0) + x.documents;
    b.all += x.documents;
  });
  const ts = Object.keys(totals).map(Number).sort((a, b) => a - b);
  const opt = baseOption();
  opt.yAxis = { ...opt.yAxis, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } };
  opt.tooltip.valueFormatter = pct;
  opt.series = tasks.watched.labels.map((s) => ({
    name: s, type: "line", stack: "share", symbol: "circle", showSymbol: ts.length < 3, color: TONES[tone(s)], areaStyle: { opacity: 0.85 }, lineStyle: { width: 0 },
    data: ts.map((t) => [t, (totals[t][s] || 0) / totals[t].all]),
  }));
  if (!ts.length) opt.title = nothingScored(watched);
  chart(name, (t, e) => {
    const extra = chosen ? { [group]: chosen } : {};
    if (e.seriesName) extra[watched] = e.seriesName;
    drillBucket(t, extra, Object.values(extra).map((v) => `· ${v}`).join(" "));
  }).setOption(opt, true);
}

function renderMix(task, p) {
  const r = rows(p);
  chart(`${task}_mix`, (label) => drill({ ...timeRange(), extra: { [task]: label }, label: `${words(task)} ${label}` })).setOption({
    animation: false,
    ...(r.length ? {} : { title: nothingScored(task) }),
    grid: { left: 70, right: 40, top: 10, bottom: 24 },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value", splitLine: { lineStyle: { color: "#f0f2f5" } } },
    yAxis: { type: "category", data: r.map((x) => x[task]), inverse: true },
    series: [{ type: "bar", name: "documents", data: r.map((x) => x.documents), color: "#3e63dd", barMaxWidth: 22,
      label: { show: true, position: "right", formatter: (e) => pct(r[e.dataIndex].negative_share), color: TONES.bad, fontSize: 11 } }],
  }, true);
}

function renderStored(p) {
  const opt = baseOption();
  opt.legend.show = false;
  opt.series = [{ name: "stored", type: "bar", data: rows(p).map((x) => [x.t, x.documents]), color: "#7a5af8", barMaxWidth: 14 }];
  chart("stored_per_bucket").setOption(opt, true);
}

function table(id, columns, data, empty = "No documents match.") {
  const el = $(id);
  if (!data.length) { el.innerHTML = `<tr><td class="empty">${empty}</td></tr>`; return; }
  el.innerHTML = `<thead><tr>${columns.map((c) => `<th>${c[0]}</th>`).join("")}</tr></thead>` +
    `<tbody>${data.map((row, i) => `<tr data-i="${i}">${columns.map((c) => c[1](row)).join("")}</tr>`).join("")}</tbody>`;
}

// A document's columns (dashboards.queries: the watched label, its probability, the other tasks'
// labels, the watched task's model), by key; `labelled` adds the watched task's label and the other tasks'.
// A task that left the document unscored has no label there ('' from the API): the reason instead.
const unscoredPill = (d, task) => `<span class="pill muted" title="${esc(words(d[`${task}_unscored`]))}">unscored</span>`;

function docColumns(labelled) {
  const { name, watched_label: label } = tasks.watched, probability = `${name}_${label}`;
  return [
    ["Published", (d) => `<td class="nowrap">${time(d.published_at)}</td>`],
    ["Source", (d) => `<td class="nowrap">${esc(d.source)} <small>${esc(d.kind)}</small></td>`],
    ["Text", (d) => `<td class="snippet">${esc(d.snippet)}</td>`],
    ...(labelled ? [[title(name), (d) => `<td>${d[name] ? `<span class="pill ${tone(d[name])}">${esc(d[name])}</span>` : unscoredPill(d, name)}</td>`]] : []),
    [`P(${label.slice(0, 3)})`, (d) => (d[probability] == null ? '<td class="num">–</td>'
      : `<td class="num"><span class="bar" style="width:${Math.round(d[probability] * 40)}px"></span>${d[probability].toFixed(2)}</td>`)],
    ...(labelled ? tasks.described.map((t) => [title(t.name), (d) => `<td>${d[t.name] ? esc(d[t.name]) : unscoredPill(d, t.name)}</td>`]) : []),
    ["Model", (d) => `<td class="nowrap"><small>${esc(d[`${name}_model`])}</small></td>`],
  ];
}

const ALERT_TONES = { firing: "bad", resolved: "muted", pending: "warn" };

function renderTables(panels) {
  table("table-top_negative", docColumns(false), rows(panels.top_negative));
  table("table-alerts", [
    ["Started", (a) => `<td class="nowrap">${time(a.started_at)}</td>`],
    ["Rule", (a) => `<td>${esc(a.rule)}</td>`],
    ["Group", (a) => `<td>${esc(a.group_key)}</td>`],
    ["State", (a) => `<td><span class="pill ${ALERT_TONES[a.state] || "muted"}">${esc(a.state)}</span></td>`],
    ["Severity", (a) => `<td>${esc(a.severity)}</td>`],
    ["Observed / baseline", (a) => `<td class="num">${pct(a.observed)} / ${pct(a.baseline)}</td>`],
  ], rows(panels.alerts), "No alerts in this range.");
}

function renderKpis(page) {
  const t = rows(page.panels.totals)[0] || {};
  $("kpi-documents").textContent = fmt(t.documents);
  const [from, to] = [time(page.from), time(page.to)];  // a tile is ~25 characters wide: the day once when it is one day
  $("kpi-range").textContent = from.slice(0, 10) === to.slice(0, 10) ? `${from.slice(5, 16)}–${to.slice(11, 16)} UTC` : `${from.slice(5, 16)}–${to.slice(5, 16)}`;
  $("kpi-range").title = `${from} – ${to} UTC`;
  $("kpi-negative-share").textContent = pct(t.negative_share);
  $("kpi-negative").textContent = `${fmt(t.negative)} of ${fmt(t.scored)} scored`;
  $("kpi-negative").title = `${fmt(t.negative)} ${tasks.watched.watched_label} of the ${fmt(t.scored)} documents ${tasks.watched.name} scored (of ${fmt(t.documents)})`;
  $("kpi-sources").textContent = fmt(t.sources);
  const alerts = rows(page.panels.alerts);
  $("kpi-firing").textContent = fmt(alerts.filter((a) => a.state === "firing").length);
  $("kpi-alerts").textContent = `${fmt(alerts.length)} in range`;
}

async function refreshHealth() {
  const h = await getJson("/api/dashboard/health", query());
  const p = h.pipeline;
  $("kpi-throughput").textContent = p.error ? "n/a" : p.throughput_per_s == null ? "…" : p.throughput_per_s.toFixed(1);
  $("kpi-lag").textContent = p.error ? "n/a" : fmt(p.consumer_lag);
  $("kpi-dead").textContent = p.error ? "n/a" : fmt(p.dead_lettered);
  $("kpi-consumed").textContent = p.error ? "worker metrics unreachable" : `of ${fmt(p.consumed)} consumed`;
  $("kpi-consumed").title = p.error || "";
  table("table-models", [
    ["Task", (m) => `<td>${esc(m.task)}</td>`],
    ["Model", (m) => `<td>${esc(m.model)} ${m.current ? '<span class="pill good">current</span>' : ""}${m.registry ? `<small> ${esc(m.registry)}</small>` : ""}</td>`],
    ["Documents in range", (m) => `<td class="num">${fmt(m.documents)}</td>`],
    ["Last seen", (m) => `<td class="nowrap">${time(m.last_seen)}</td>`],
    ["Held-out evaluation (accuracy · macro-F1 · n)", (m) => `<td>${Object.entries(m.evaluation).map(([s, e]) =>
      `${esc(s)}: ${pct(e.acc)} · ${e.macro_f1 == null ? "–" : e.macro_f1.toFixed(3)} · ${fmt(e.n)}`).join("<br>") || "–"}</td>`],
  ], h.models, "No model scored documents in range.");
}

async function loadDocuments() {
  const params = state.drill ? query({ ...state.drill.extra }) : query();
  if (state.drill) { params.set("from", state.drill.from); params.set("to", state.drill.to); }
  params.set("limit", PAGE_SIZE);
  params.set("offset", state.offset);
  const body = await getJson("/api/dashboard/documents", params);
  const docs = rows(body.rows);
  const { name, labels } = tasks.watched;
  // A document the task left unscored has no label to start from: the choice starts empty.
  const choices = (d) => (!d[name] ? `<option value="" selected>choose…</option>` : "") +
    labels.map((s) => `<option${s === d[name] ? " selected" : ""}>${s}</option>`).join("");
  table("table-documents", [...docColumns(true), ["Correct label", (d) =>
    `<td class="label-ctl nowrap"><select>${choices(d)}</select>` +
    `<button type="button" data-id="${esc(d.id)}">Save</button><span class="msg"></span></td>`]], docs);
  $("page").textContent = `${state.offset + 1}–${state.offset + docs.length}`;
  $("prev").disabled = state.offset === 0;
  $("next").disabled = docs.length < PAGE_SIZE;
  const csv = new URLSearchParams(params); csv.set("limit", 10000); csv.set("offset", 0);
  $("csv").href = `/api/dashboard/documents.csv?${csv}`;
  $("drill-label").textContent = state.drill ? `drill-down: ${state.drill.label}` : "newest first";
  $("drill-clear").hidden = !state.drill;
}

function drill(target) {
  state.drill = target;
  state.offset = 0;
  loadDocuments().then(() => $("documents-card").scrollIntoView({ behavior: "smooth", block: "start" })).catch(showError);
}

async function postLabel(button) {
  const row = button.closest("td"), msg = row.querySelector(".msg");
  const event = { document_id: button.dataset.id, task: tasks.watched.name, label: row.querySelector("select").value, annotator: "dashboard" };
  if (!event.label) { msg.textContent = "choose a label"; return; }
  msg.textContent = "…";
  try {
    const response = await fetch("/labels", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(event) });
    msg.textContent = response.ok ? "saved" : `${response.status} ${response.statusText}`;
  } catch (err) { msg.textContent = String(err); }
}

function showError(err) { $("status").innerHTML = `<span class="error">${esc(err.message || err)}</span>`; }

// Charts first: every request is served by the one store thread, so the documents table and the
// health figures are asked for once the charts are drawn.
async function refresh(pending = null) {
  const started = performance.now();
  const page = await (pending ?? getJson("/api/dashboard/panels", query()));
  state.bucketMs = page.bucket_s * 1000;
  state.lastPage = page;
  const p = page.panels;
  renderKpis(page);
  renderNegativeShare(p.negative_share, p.alerts);
  renderStored(p.stored_per_bucket);
  renderVolume(p.volume);
  renderLanguages(p.volume_by_lang);
  renderUnscored(p.unscored);
  for (const group of shareGroups()) renderShare(group, p);
  for (const task of tasks.described) renderMix(task.name, p[`${task.name}_mix`]);
  renderTables(p);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  if (window.bloomwatch.firstRenderMs === null) window.bloomwatch.firstRenderMs = performance.now();
  $("status").textContent = `updated ${new Date().toLocaleTimeString()} · ${page.bucket_s}s intervals · charts in ${Math.round(performance.now() - started)} ms`;
  await Promise.all([refreshHealth(), loadDocuments()]);
  window.bloomwatch.refreshes += 1;
}

function schedule() {
  clearInterval(state.timer);
  if ($("f-live").checked && state.from === null) state.timer = setInterval(() => refresh().catch(showError), state.refreshS * 1000);
}

const shareGroups = () => ["source", ...tasks.described.map((t) => t.name)];

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text) el.textContent = text;
  return el;
}

function chartCard(size, name, heading, extra) {
  const card = element("article", `card ${size}`), h2 = element("h2", null, heading);
  if (extra) h2.append(" ", extra);
  const body = element("div", "chart");
  body.id = `chart-${name}`;
  card.append(h2, body);
  return card;
}

function groupSelect(group) {
  const select = element("select", "group");
  select.id = `g-${sharePanel(group)}`;
  select.add(new Option(`Every ${words(group)}`, ""));
  return select;
}

// The task table onto the page: names in the titles, a filter per describing task (before
// Language), the share chart by source beside the volume, then per describing task its share
// chart beside its mix.
function layOutTasks(table) {
  tasks.all = table;
  tasks.watched = table.find((t) => t.watched_label);
  tasks.described = table.filter((t) => t !== tasks.watched);
  const { name, watched_label: label } = tasks.watched;
  const fill = { "watched-task": title(name), "watched-label": label, "watched-label-title": title(label) };
  for (const el of document.querySelectorAll("[data-fill]")) el.textContent = fill[el.dataset.fill];
  document.title = `BloomWatch · ${title(name)}`;
  const language = $("f-lang").closest("label");
  for (const t of tasks.described) {
    const select = element("select");
    select.id = `f-${t.name}`;
    select.name = t.name;
    select.add(new Option("All", ""));
    const filter = element("label", null, `${title(t.name)} `);
    filter.append(select);
    language.before(filter);
  }
  $("chart-volume").closest("article").after(chartCard("half", sharePanel("source"), `${title(name)} share by source`, groupSelect("source")));
  const tables = $("table-top_negative").closest("article");
  for (const t of tasks.described) {
    tables.before(chartCard("wide", sharePanel(t.name), `${title(name)} share by ${words(t.name)}`, groupSelect(t.name)));
    const note = element("small", null, `documents · ${label} share`);
    tables.before(chartCard("", `${t.name}_mix`, `${title(t.name)} mix`, note));
  }
}

async function init() {
  const options = await getJson("/api/dashboard/options", new URLSearchParams());
  state.refreshS = options.refresh_s;
  tasks.unscoredReasons = options.unscored_reasons;
  layOutTasks(options.tasks);
  const dims = ["source", "kind", ...tasks.described.map((t) => t.name), "lang"];
  for (const dim of dims) state.filters[dim] = "";
  readUrl();
  const first = getJson("/api/dashboard/panels", query());
  for (const dim of dims) {
    const select = $(`f-${dim}`);
    for (const value of options.values[dim]) select.add(new Option(value, value));
    if (state.filters[dim] && ![...select.options].some((o) => o.value === state.filters[dim])) select.add(new Option(state.filters[dim], state.filters[dim]));
    select.value = state.filters[dim];
  }
  $("f-q").value = state.filters.q;
  if (state.from !== null) { $("f-range").value = "custom"; $("f-range").options[5].hidden = false; }
  $("filters").addEventListener("change", (e) => {
    if (e.target.id === "f-range") {
      if (e.target.value !== "custom") { state.range = Number(e.target.value); state.from = state.to = null; }
    } else if (e.target.id !== "f-live") {
      state.filters[e.target.name] = e.target.value;
    }
    state.offset = 0;
    state.drill = null;
    schedule();
    refresh().catch(showError);
  });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  for (const group of shareGroups()) {
    $(`g-${sharePanel(group)}`).addEventListener("change", () => renderShare(group, state.lastPage.panels));
  }
  $("drill-clear").addEventListener("click", () => { state.drill = null; state.offset = 0; loadDocuments().catch(showError); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadDocuments().catch(showError); });
  $("next").addEventListener("click", () => { state.offset += PAGE_SIZE; loadDocuments().catch(showError); });
  $("table-documents").addEventListener("click", (e) => { if (e.target.dataset.id) postLabel(e.target); });
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  await refresh(first);
  schedule();
}

init().catch(showError);
