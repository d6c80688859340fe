// The dashboard's state and flow: sign in, load every section for the filters, follow links
// into the raw view, retry while ClickHouse is unreachable.
"use strict";

const API = "/api/v1/dashboard/";
const RETRY_SECONDS = 5;
const $ = (id) => document.getElementById(id);

const state = { streams: [], window: null, retry: null, cursor: null, rawParams: null, generation: 0 };

function show(view) {
  $("signin").hidden = view !== "signin";
  $("app").hidden = view !== "app";
  $("signout").hidden = view !== "app";
}

function banner(text) {
  $("banner").hidden = !text;
  $("banner").textContent = text || "";
}

function signedOut(message) {
  Api.forget();
  clearTimeout(state.retry);
  banner(null);
  show("signin");
  $("signin-error").hidden = !message;
  $("signin-error").textContent = message ? message : "";
  $("key").focus();
}

// One place decides what a failed call shows: the sign-in form (100-103), the retrying banner
// (503 or no answer), or the API's message.
function failed(err, retry) {
  if (err.kind === "auth") { signedOut("Error " + err.code + ": " + err.message); return; }
  if (err.kind === "storage" || err.kind === "network") {
    const what = err.kind === "storage" ? "Telemetry storage (ClickHouse) is unreachable" : err.message;
    banner(what + " — retrying every " + RETRY_SECONDS + " s. The figures shown may be out of date.");
    clearTimeout(state.retry);
    state.retry = setTimeout(retry, RETRY_SECONDS * 1000);
    return;
  }
  const details = Object.entries(err.errors || {}).map(([k, v]) => k + ": " + v.join(" ")).join("; ");
  banner("Error " + err.code + ": " + err.message + (details ? " " + details : ""));
}

function filters() {
  const range = document.querySelector("input[name=range]:checked").value;
  const [dataType, dataGroup] = ($("f-stream").value || "|").split("|");
  return { range: range, product_id: $("f-product").value, data_type: dataType, data_group: dataGroup };
}

function options(select, items, first) {
  const keep = select.value;
  const opts = items.map(([value, text]) => { const o = document.createElement("option"); o.value = value; o.textContent = text; return o; });
  if (first) { const o = document.createElement("option"); o.value = ""; o.textContent = first; opts.unshift(o); }
  select.replaceChildren(...opts);
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

async function loadStreams() {
  const answer = await Api.get(API + "streams", {});
  state.streams = answer.streams;
  const streams = answer.streams.map((s) => [s.data_type + "|" + s.data_group, s.data_type + " · " + s.data_group]);
  options($("f-stream"), streams, "All data types and groups");
  options($("r-stream"), streams, null);
  options($("f-product"), answer.products.map((p) => [p.product_id, p.product_id]), "All products");
  return answer.streams.length > 0;
}

async function refresh() {
  const generation = ++state.generation;
  try {
    const hasData = await loadStreams();
    $("empty").hidden = hasData;
    $("content").hidden = !hasData;
    if (!hasData) { banner(null); return; }
    const params = filters();
    const [stats, alerts, offenders, trends, versions] = await Promise.all(
      ["stats", "alerts", "offenders", "trends", "versions"].map((name) => Api.get(API + name, params)));
    if (generation !== state.generation) return; // a newer selection is on its way
    banner(null);
    state.window = stats.window;
    $("window").textContent = "UTC " + Render.utc(stats.window.from) + " to " + Render.utc(stats.window.to) +
      " (" + stats.window.bucket + " buckets)";
    Render.stats(stats);
    Render.alerts(alerts, (r) => openRaw({ red_flag: r.reason, data_type: r.data_type, data_group: r.data_group }));
    Render.offenders("top-licenses", offenders.license_keys,
      (o) => openRaw({ license_key: o.value, has_red_flags: "1", data_type: o.data_type, data_group: o.data_group }), "license key");
    Render.offenders("top-activations", offenders.activations,
      (o) => openRaw({ activation_identifier: o.value, has_red_flags: "1", data_type: o.data_type, data_group: o.data_group }), "activation");
    Render.trends(trends);
    Render.versions(versions);
    document.body.dataset.loaded = String(generation);
    if (!state.rawParams) loadRaw(false);
  } catch (err) {
    if (err instanceof ApiError) failed(err, refresh); else throw err;
  }
}

const RAW_FIELDS = ["product_id", "license_key", "activation_identifier", "user_identifier", "red_flag", "has_red_flags"];

// Open the raw view filtered on one alert reason or offender, in the stream holding most of them.
function openRaw(filter) {
  const f = filters();
  for (const name of RAW_FIELDS) $("r-" + name).value = filter[name] || "";
  $("r-product_id").value = filter.product_id || f.product_id || "";
  const stream = (f.data_type ? f.data_type + "|" + f.data_group : filter.data_type + "|" + filter.data_group);
  if (filter.data_type || f.data_type) $("r-stream").value = stream;
  $("r-in-range").checked = true;
  loadRaw(false);
  $("raw").scrollIntoView();
  $("raw").focus();
}

function rawParams() {
  const [dataType, dataGroup] = ($("r-stream").value || "|").split("|");
  const params = { data_type: dataType, data_group: dataGroup };
  for (const name of RAW_FIELDS) params[name] = $("r-" + name).value.trim();
  if ($("r-in-range").checked && state.window) { params.from = state.window.from; params.to = state.window.to; }
  return params;
}

async function loadRaw(more) {
  if (!$("r-stream").value) { $("raw-status").textContent = "No data yet."; return; }
  if (!more) { state.rawParams = rawParams(); state.cursor = null; }
  const params = { ...state.rawParams, limit: "50" };
  if (more && state.cursor) params.cursor = state.cursor;
  $("raw-status").textContent = "Loading records…";
  try {
    const page = await Api.get("/api/v1/get-telemetry-data", params);
    Render.records(document.querySelector("#raw-table tbody"), page.data, more, openRecord);
    state.cursor = page.next_cursor || null;
    $("raw-more").hidden = !state.cursor;
    const shown = document.querySelectorAll("#raw-table tbody tr[data-id]").length;
    $("raw-status").textContent = shown + " records shown" + (state.cursor ? "; more are available" : "") +
      " · " + state.rawParams.data_type + " · " + state.rawParams.data_group;
    $("raw-table").dataset.loaded = String(shown);
  } catch (err) {
    $("raw-status").textContent = "";
    if (err instanceof ApiError) failed(err, () => loadRaw(more)); else throw err;
  }
}

async function openRecord(record, opener) {
  try {
    const answer = await Api.get(API + "record", {
      id: record.id, data_type: record.data_type, data_group: record.data_group, created_at: record.created_at });
    $("record-title").textContent = "Record " + record.id;
    $("record-json").textContent = JSON.stringify(answer.record, null, 2);
    $("record").hidden = false;
    $("record").focus();
    state.opener = opener;
  } catch (err) {
    if (err instanceof ApiError) failed(err, () => openRecord(record, opener)); else throw err;
  }
}

async function exportAs(format) {
  const params = { ...(state.rawParams || rawParams()), format: format };
  const name = "telemetry-" + params.data_type + "-" + params.data_group + "." + format;
  $("raw-status").textContent = "Exporting " + format.toUpperCase() + "…";
  try {
    const size = await Api.download(params, name);
    $("raw-status").textContent = "Exported " + Render.number(size) + " bytes as " + name;
  } catch (err) {
    $("raw-status").textContent = "";
    if (err instanceof ApiError) failed(err, () => exportAs(format)); else throw err;
  }
}

function wire() {
  const reasons = Object.entries(REASON_LABELS).map(([value, text]) => [value, text]);
  options($("r-red_flag"), reasons, "Any");
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    Api.setKey($("key").value.trim());
    $("key").value = "";
    $("signin-error").hidden = true;
    show("app");
    state.rawParams = null;
    refresh();
  });
  $("signout").addEventListener("click", () => signedOut(null));
  $("filters").addEventListener("change", () => refresh());
  $("raw-filters").addEventListener("submit", (event) => { event.preventDefault(); loadRaw(false); });
  $("r-reset").addEventListener("click", () => { for (const n of RAW_FIELDS) $("r-" + n).value = ""; loadRaw(false); });
  $("raw-more").addEventListener("click", () => loadRaw(true));
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-ndjson").addEventListener("click", () => exportAs("ndjson"));
  $("record-close").addEventListener("click", () => { $("record").hidden = true; if (state.opener) state.opener.focus(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("record").hidden) $("record-close").click();
  });
  if (Api.key()) { show("app"); refresh(); } else signedOut(null);
}

document.addEventListener("DOMContentLoaded", wire);
