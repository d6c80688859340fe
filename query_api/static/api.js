// The dashboard's only way to the query service: the read key lives in this tab's sessionStorage
// and travels as "Authorization: Bearer" on every call, never in an address, never logged.
"use strict";

const KEY_ITEM = "telemetry.readKey";

class ApiError extends Error {
  // kind: "auth" (100-103), "storage" (503: ClickHouse unreachable), "invalid" (422), "other"
  constructor(kind, status, code, message, errors) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.errors = errors || {};
  }
}

const Api = {
  key() { return sessionStorage.getItem(KEY_ITEM); },
  setKey(key) { sessionStorage.setItem(KEY_ITEM, key); },
  forget() { sessionStorage.removeItem(KEY_ITEM); },

  query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(name, value);
    }
    return search.toString();
  },

  async fetch(path, params) {
    const qs = Api.query(params || {});
    let response;
    try {
      response = await fetch(path + (qs ? "?" + qs : ""), {
        headers: { "Authorization": "Bearer " + (Api.key() || "") },
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (err) {
      throw new ApiError("network", 0, 0, "The query service cannot be reached.");
    }
    return response;
  },

  // The "response" object of a signed envelope (the page shows data; it does not verify).
  async get(path, params) {
    const response = await Api.fetch(path, params);
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    const answer = body && body.response ? body.response : null;
    if (response.ok && answer) return answer;
    throw Api.error(response.status, answer);
  },

  error(status, answer) {
    const code = answer ? answer.code : status;
    const message = answer ? answer.message : "Unexpected answer (HTTP " + status + ")";
    const kind = status === 401 ? "auth" : status === 503 ? "storage" : status === 422 ? "invalid" : "other";
    return new ApiError(kind, status, code, message, answer && answer.errors);
  },

  // An export of the current filter: fetched with the Bearer header, saved from a blob.
  async download(params, filename) {
    const response = await Api.fetch("/api/v1/get-telemetry-data", params);
    if (!response.ok) {
      let answer = null;
      try { answer = (await response.json()).response; } catch (err) { answer = null; }
      throw Api.error(response.status, answer);
    }
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return blob.size;
  },
};

window.Api = Api;
window.ApiError = ApiError;
