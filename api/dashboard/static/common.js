/* Shared helpers of the dashboard pages: token storage, authenticated fetch, server-sent events over fetch,
 * number formatting and the reward rule. No framework, no build step.
 *
 * Auth: the token lives in localStorage ("nas-token"), set from the header's login box or once from a
 * `?token=` query parameter (removed from the address bar right away). Every request, the event stream
 * included, sends it as `Authorization: Bearer`: the stream is read with fetch() and parsed here, because
 * EventSource cannot set headers, and a token in a URL would end up in access logs. */
(function () {
  "use strict";

  const TOKEN_KEY = "nas-token";
  const API = "/api/v1";

  function adoptTokenFromUrl() {
    const url = new URL(window.location.href);
    const token = url.searchParams.get("token");
    if (token) {
      localStorage.setItem(TOKEN_KEY, token);
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }

  function getToken() {
    return localStorage.getItem(TOKEN_KEY) || "";
  }

  function authHeaders(extra) {
    const headers = Object.assign({ Accept: "application/json" }, extra || {});
    const token = getToken();
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  async function errorFrom(resp) {
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    const err = (body && body.error) || {};
    let message = err.message || (body && typeof body.detail === "string" ? body.detail : "") || resp.statusText;
    if (resp.status === 401 || resp.status === 403) message += " (set the API token in the box above)";
    return new ApiError(resp.status, err.code || "http_" + resp.status, message, err.field);
  }

  /** GET/POST a JSON endpoint under /api/v1 (or, with `raw`, any path of this server). */
  async function api(path, options, raw) {
    const opts = Object.assign({}, options || {});
    opts.headers = authHeaders(opts.headers);
    const resp = await fetch((raw ? "" : API) + path, opts);
    if (!resp.ok) throw await errorFrom(resp);
    if (resp.status === 204) return null;
    return resp.json();
  }

  /** GET any path of this server as an ArrayBuffer (binary columns), with the token. */
  async function apiBytes(path) {
    const resp = await fetch(path, { headers: authHeaders({ Accept: "application/octet-stream" }) });
    if (!resp.ok) throw await errorFrom(resp);
    return resp.arrayBuffer();
  }

  /** Follow a server-sent event stream, reconnecting with Last-Event-ID until stop() or isDone() says so.
   *  onEvent({event, data, id}) gets every event with its JSON data decoded. */
  function followEvents(path, onEvent, hooks) {
    const h = Object.assign({ isDone: () => false, onStatus: () => {} }, hooks || {});
    let lastId = null;
    let stopped = false;
    let controller = null;
    let delay = 1000;

    function dispatch(block) {
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const idx = line.indexOf(":");
        const name = idx < 0 ? line : line.slice(0, idx);
        let value = idx < 0 ? "" : line.slice(idx + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "event") event = value;
        else if (name === "data") data.push(value);
        else if (name === "id") lastId = value;
        else if (name === "retry" && /^\d+$/.test(value)) delay = Number(value);
      }
      if (!data.length) return;
      let parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (_) { parsed = data.join("\n"); }
      onEvent({ event: event, data: parsed, id: lastId });
    }

    async function connectOnce() {
      controller = new AbortController();
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const resp = await fetch(API + path, { headers: headers, signal: controller.signal, cache: "no-store" });
      if (!resp.ok) throw await errorFrom(resp);
      delay = 1000;
      h.onStatus("live");
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    }

    (async function loop() {
      while (!stopped) {
        try {
          await connectOnce();
        } catch (err) {
          if (stopped) break;
          if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
            h.onStatus("error", err);
            break;
          }
          h.onStatus("reconnecting", err);
        }
        if (stopped || h.isDone()) break;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
      h.onStatus("closed");
    })();

    return {
      stop() {
        stopped = true;
        if (controller) controller.abort();
      },
    };
  }

  function initLogin(onSaved) {
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    if (!form || !input) return;
    input.value = getToken();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      localStorage.setItem(TOKEN_KEY, input.value.trim());
      if (onSaved) onSaved();
    });
  }

  function escapeHtml(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function fmtNum(x, digits) {
    return x == null || !isFinite(x) ? "–" : Number(x).toFixed(digits);
  }
  function fmtPct(x) { return x == null ? "–" : (100 * x).toFixed(2) + "%"; }
  function fmtCount(x) {
    if (x == null) return "–";
    const a = Math.abs(x);
    if (a >= 1e9) return (x / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return (x / 1e6).toFixed(2) + "M";
    if (a >= 1e3) return (x / 1e3).toFixed(1) + "k";
    return String(x);
  }
  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  /** MnasNet reward: acc * (lat / T) ** w, w = alpha if lat <= T else beta. */
  function reward(acc, lat, T, alpha, beta) {
    if (acc == null || lat == null || !(lat > 0) || !(T > 0)) return null;
    return acc * Math.pow(lat / T, lat <= T ? alpha : beta);
  }

  function stateBadge(state) {
    const s = escapeHtml(state || "unknown");
    return '<span class="state state-' + s + '">' + s + "</span>";
  }

  adoptTokenFromUrl();

  window.nas = {
    api: api,
    apiBytes: apiBytes,
    ApiError: ApiError,
    followEvents: followEvents,
    initLogin: initLogin,
    getToken: getToken,
    escapeHtml: escapeHtml,
    fmtNum: fmtNum,
    fmtPct: fmtPct,
    fmtCount: fmtCount,
    fmtTime: fmtTime,
    reward: reward,
    stateBadge: stateBadge,
  };
})();
