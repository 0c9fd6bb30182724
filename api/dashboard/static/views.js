/* The job page's search views, drawn from the server's computations (nas_service.insights):
 *   history      GET /jobs/{id}/history     best reward and front hypervolume after each completed trial
 *   parallel     GET /jobs/{id}/choices     per-stage choices as codes; lines coloured by the page's reward
 *   importance   GET /jobs/{id}/importance  Optuna's importance evaluators on the completed trials
 * Pure drawing: each function takes the data and an element; no page state. */
(function () {
  "use strict";
  const charts = window.nasCharts;
  const nas = window.nas;

  function drawHistory(el, h) {
    const { c, w, h: hh } = charts.fitCanvas(el);
    const n = h && h.number ? h.number.length : 0;
    el.dataset.count = String(n);
    el.dataset.lastHv = n ? String(h.hypervolume[n - 1]) : "";
    el.dataset.lastBest = n ? String(h.best_reward[n - 1]) : "";
    c.fillStyle = "#fff"; c.fillRect(0, 0, w, hh);
    c.fillStyle = "#667085";
    if (!n) { c.fillText("no completed trial yet", 12, 20); return; }
    const m = { l: 58, r: 58, t: 10, b: 30 };
    const x0 = h.number[0], x1 = Math.max(h.number[n - 1], x0 + 1);
    let r0 = Infinity, r1 = -Infinity;
    for (const r of h.reward) { if (r < r0) r0 = r; if (r > r1) r1 = r; }
    if (!(r1 > r0)) { r0 -= 0.01; r1 += 0.01; }
    const hv1 = Math.max(h.hypervolume[n - 1], 1e-12);
    const pw = w - m.l - m.r, ph = hh - m.t - m.b;
    const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * pw;
    const sy = (y) => m.t + (1 - (y - r0) / (r1 - r0)) * ph;
    const sh = (y) => m.t + (1 - y / hv1) * ph;
    c.strokeStyle = "#d9dde5"; c.lineWidth = 1; c.textBaseline = "middle";
    const yt = charts.niceTicks(r0, r1, 5, 1);
    for (const y of yt.values) {
      const py = Math.round(sy(y)) + 0.5;
      c.beginPath(); c.moveTo(m.l, py); c.lineTo(w - m.r, py); c.stroke();
      c.textAlign = "right"; c.fillText(y.toFixed(yt.decimals), m.l - 5, py);
    }
    const ht = charts.niceTicks(0, hv1, 5, 1);
    c.textAlign = "left";
    for (const y of ht.values) c.fillText(y.toFixed(ht.decimals), w - m.r + 5, sh(y));
    c.textAlign = "center"; c.textBaseline = "top";
    const xt = charts.niceTicks(x0, x1, 8, 1);
    for (const x of xt.values) c.fillText(String(x), sx(x), hh - m.b + 4);
    c.fillText("trial number", m.l + pw / 2, hh - 14);
    // Every trial's reward (dots), the best so far (step line, left axis), hypervolume (right axis).
    c.fillStyle = "rgba(134,142,150,0.45)";
    const dots = new Path2D();
    for (let i = 0; i < n; i++) { const x = sx(h.number[i]), y = sy(h.reward[i]); dots.moveTo(x + 1.5, y); dots.arc(x, y, 1.5, 0, 2 * Math.PI); }
    c.fill(dots);
    const step = (ys, f, color) => {
      c.strokeStyle = color; c.lineWidth = 2; c.beginPath();
      for (let i = 0; i < n; i++) {
        const x = sx(h.number[i]), y = f(ys[i]);
        if (i === 0) c.moveTo(x, y); else { c.lineTo(x, f(ys[i - 1])); c.lineTo(x, y); }
      }
      c.lineTo(sx(x1), f(ys[n - 1]));
      c.stroke();
    };
    step(h.best_reward, sy, "#2d6cdf");
    step(h.hypervolume, sh, "#d9480f");
  }

  function historyLegend(el, h) {
    const n = h && h.number ? h.number.length : 0;
    el.innerHTML = n ? '<span style="color:#2d6cdf">━ best reward ' + nas.fmtNum(h.best_reward[n - 1], 4) +
      ' (left axis)</span><span style="color:#d9480f">━ hypervolume ' + nas.fmtNum(h.hypervolume[n - 1], 4) +
      " (right axis)</span><span>reference: accuracy 0, latency " + nas.fmtNum(h.reference.latency_ms, 3) +
      " ms · T = " + nas.fmtNum(h.target_ms, 3) + " ms</span>" : "";
  }

  /** Parallel coordinates: one axis per varying choice, then reward; `rewardOf(id)` colours each line
   *  (the page's re-scored reward), `range` = [min, max] of the colour scale. */
  function drawParallel(el, data, rewardOf, range) {
    const { c, w, h } = charts.fitCanvas(el);
    c.fillStyle = "#fff"; c.fillRect(0, 0, w, h);
    const params = data && data.parameters ? data.parameters : [];
    const ids = data && data.trial_ids ? data.trial_ids : [];
    el.dataset.axes = String(params.length ? params.length + 1 : 0);
    el.dataset.lines = String(params.length ? ids.length : 0);
    c.fillStyle = "#667085";
    if (!params.length || !ids.length) { c.fillText("no varying choices among completed trials yet", 12, 20); return; }
    const m = { l: 30, r: 50, t: 18, b: 64 };
    const axes = params.length + 1;
    const ax = (i) => m.l + (i / (axes - 1)) * (w - m.l - m.r);
    const ph = h - m.t - m.b;
    const [lo, hi] = range;
    const span = hi - lo || 1;
    const rewards = ids.map((id, i) => { const r = rewardOf(id); return r == null ? data.reward[i] : r; });
    const yOf = (p, code) => {
      const k = params[p].values.length;
      return m.t + (code < 0 ? ph : (1 - (k > 1 ? code / (k - 1) : 0.5)) * ph);
    };
    // Lines by colour bucket, best drawn last (on top).
    const BUCKETS = 24;
    const paths = Array.from({ length: BUCKETS }, () => new Path2D());
    const order = ids.map((_, i) => i).sort((a, b) => rewards[a] - rewards[b]);
    for (const i of order) {
      const u = Math.max(0, Math.min(1, (rewards[i] - lo) / span));
      const path = paths[Math.round(u * (BUCKETS - 1))];
      for (let p = 0; p < params.length; p++) {
        const y = yOf(p, data.codes[params[p].name][i]);
        if (p === 0) path.moveTo(ax(0), y); else path.lineTo(ax(p), y);
      }
      path.lineTo(ax(axes - 1), m.t + (1 - Math.max(0, Math.min(1, (rewards[i] - lo) / span))) * ph);
    }
    c.lineWidth = 1; c.globalAlpha = ids.length > 2000 ? 0.15 : ids.length > 300 ? 0.35 : 0.6;
    paths.forEach((path, b) => { c.strokeStyle = charts.viridis(b / (BUCKETS - 1)); c.stroke(path); });
    c.globalAlpha = 1;
    // Axes with their category labels.
    c.strokeStyle = "#495057"; c.fillStyle = "#1d2330"; c.font = "10px system-ui, sans-serif";
    for (let p = 0; p < axes; p++) {
      const x = ax(p);
      c.beginPath(); c.moveTo(x, m.t); c.lineTo(x, m.t + ph); c.stroke();
      c.save(); c.translate(x, m.t + ph + 6); c.rotate(Math.PI / 5); c.textAlign = "left"; c.textBaseline = "top";
      c.fillText(p < params.length ? params[p].name : "reward", 0, 0); c.restore();
      c.textBaseline = "middle"; c.textAlign = "left";
      if (p < params.length) {
        params[p].values.forEach((v, k) => c.fillText(String(v), x + 3, yOf(p, k)));
      } else {
        c.fillText(nas.fmtNum(hi, 3), x + 3, m.t); c.fillText(nas.fmtNum(lo, 3), x + 3, m.t + ph);
      }
    }
  }

  function renderImportance(list, meta, imp) {
    const items = imp && imp.importances ? imp.importances : [];
    const top = items.length ? items[0].importance || 1 : 1;
    list.innerHTML = items.map((it) =>
      '<li data-name="' + nas.escapeHtml(it.name) + '"><span class="name" title="' + nas.escapeHtml(it.name) + '">' +
      nas.escapeHtml(it.name) + '</span><span><span class="bar" style="display:block;width:' +
      (100 * Math.max(0, it.importance) / top).toFixed(1) + '%"></span></span><span class="val">' +
      nas.fmtNum(it.importance, 3) + "</span></li>").join("") ||
      '<li class="muted">needs at least two completed trials with varying choices</li>';
    meta.textContent = imp ? "(" + (imp.evaluator === "fanova" ? "fANOVA" : "PED-ANOVA") + " on " + imp.n_trials +
      " completed trials, T = " + nas.fmtNum(imp.target_ms, 3) + " ms)" : "";
  }

  /** Load, draw and keep the three views of one job page up to date. `page` gives the job id and, when
   *  asked, the page's reward settings ({T, alpha, beta}), a trial's reward under them (by id), the colour
   *  range [lo, hi] and the job's completed-trial count. The server computes the views (nas_service.insights)
   *  under the page's settings: a change re-fetches history and importance after a short pause; the parallel
   *  lines are re-coloured at once. */
  function attach(page) {
    const V = { history: null, choices: null, importance: null, timer: null, fetchedAt: 0, completed: -1 };
    const base = "/jobs/" + encodeURIComponent(page.jobId);
    const el = (id) => document.getElementById(id);
    function rewardQuery() {
      const r = page.settings();
      return "target_ms=" + encodeURIComponent(r.T) + "&alpha=" + encodeURIComponent(r.alpha) +
        "&beta=" + encodeURIComponent(r.beta);
    }
    function recolour() {
      if (!V.choices) return;
      drawParallel(el("parallel-chart"), V.choices, page.rewardOf, page.range());
      const n = V.choices.parameters.length;
      const shown = V.choices.trial_ids.length;
      const done = page.completed() != null ? page.completed() : shown;
      el("parallel-legend").textContent = n
        ? (shown < done ? "the latest " + shown + " of " + done : shown) + " completed trials over " + n +
          " varying choices; colour and last axis: reward (page T)"
        : "";
    }
    function redrawHistory() {
      drawHistory(el("history-chart"), V.history);
      historyLegend(el("history-legend"), V.history);
    }
    async function loadHistory() {
      V.history = await nas.api(base + "/history?" + rewardQuery());
      redrawHistory();
    }
    async function loadImportance() {
      const list = el("importance-list");
      list.dataset.loading = "1";
      if (!V.importance) list.innerHTML = '<li class="muted">computing…</li>';
      try {
        const ev = el("importance-evaluator").value;
        V.importance = await nas.api(base + "/importance?evaluator=" + encodeURIComponent(ev) + "&" + rewardQuery());
        renderImportance(list, el("importance-meta"), V.importance);
      } finally {
        delete list.dataset.loading;
      }
    }
    async function load() {
      V.fetchedAt = Date.now();
      V.completed = page.completed();
      const choices = nas.api(base + "/choices").then((c) => { V.choices = c; recolour(); });
      await Promise.all([loadHistory(), choices, loadImportance()].map((p) => p.catch((e) => {
        el("history-legend").textContent = "views: " + e.message;
      })));
      if (window.__nasViewsLoadedAt == null) window.__nasViewsLoadedAt = performance.now();
    }
    function refetch() {
      clearTimeout(V.timer);
      V.timer = setTimeout(() => { loadHistory().catch(() => null); loadImportance().catch(() => null); }, 400);
    }
    function maybeReload() {
      if (page.completed() !== V.completed && Date.now() - V.fetchedAt > 3000) load();
    }
    el("importance-evaluator").addEventListener("change", () => loadImportance().catch(() => null));
    window.addEventListener("resize", () => { if (V.history) redrawHistory(); recolour(); });
    return { load: load, refetch: refetch, recolour: recolour, maybeReload: maybeReload };
  }

  window.nasViews = {
    attach: attach,
    drawHistory: drawHistory,
    historyLegend: historyLegend,
    drawParallel: drawParallel,
    renderImportance: renderImportance,
  };
})();
