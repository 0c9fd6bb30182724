/* Job page: the live Pareto front (scatter.js draws it: zoom, pan, box-select, log latency, PNG), client-side
 * re-scoring, trial panel, trial table, scaling table, the NetAdapt panel of netadapt.js, and the search views
 * of views.js.
 *
 * Data flow: GET /jobs/{id} and the dashboard's /xy columns together (the first draw needs only them), then
 * the server's /pareto (front block strings) and every trial's row from the dashboard's /points columns (the
 * API's trial pages as a fallback); then the event stream of the job applies `job` and `trial` deltas, and
 * the views (/history, /choices, /importance) load.
 * Everything that depends on T, alpha, beta (reward, colours, best trial, table order, the front's
 * hypervolume) is recomputed here without a request; only the server's views are re-fetched. */
(function () {
  "use strict";
  const nas = window.nas;
  const charts = window.nasCharts;
  const PAGE_SIZE = 500; // the API's largest page (schemas.MAX_PAGE)
  const PARALLEL_PAGES = 2;
  const TABLE_PAGE = 50;
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);

  const jobId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop());
  const S = {
    metric: "accuracy",      // the y axis: "mAP" on a detection job
    job: null,
    trials: new Map(),       // id -> trial (merged deltas)
    T: 5, alpha: -0.07, beta: -0.07,
    plotted: [],             // trials with accuracy and latency
    front: [],               // non-dominated completed trials, latency ascending
    frontIds: new Set(),
    rMin: 0, rMax: 1,
    best: null,
    screen: null,            // Float32Array of x,y per plotted trial
    hover: null, selected: null,
    table: { key: "reward", order: "desc", state: "", q: "", frontOnly: false, page: 0, selection: null },
    zoom: null,              // {x0, x1, y0, y1} in data units, or null: fit every point
    logX: false,
    drag: null,              // an active pan or box-select gesture
    hv: null,                // {value, refLatency} of the page's front under the page's T
    stream: null,
    loaded: false,
  };

  // ---- data helpers -------------------------------------------------------------------------------
  const { latencyOf, blocksText, resolutionOf, paramsOf } = window.nasPanels.trial;
  function rewardOf(t) { return nas.reward(t.accuracy, latencyOf(t), S.T, S.alpha, S.beta); }
  function plottable(t) { return t.accuracy != null && latencyOf(t) != null; }
  // Live training progress from the event stream's trial events: "epoch 2/3 · val 91.00%".
  function progressOf(t) {
    if (t.state !== "running" || !t.epochs_run) return "";
    const total = S.job && S.job.spec && S.job.spec.proxy ? S.job.spec.proxy.epochs : null;
    const last = t.last_epoch;
    return "epoch " + t.epochs_run + (total ? "/" + total : "") +
      (last && last.val_accuracy != null ? " · val " + nas.fmtPct(last.val_accuracy) : "");
  }

  // Trial ids are integers in the API; a DOM attribute gives them back as strings.
  function parseId(raw) { return /^\d+$/.test(raw) ? Number(raw) : raw; }

  function upsertTrial(delta) {
    if (!delta || delta.id == null) return;
    const prev = S.trials.get(delta.id);
    S.trials.set(delta.id, prev ? Object.assign(prev, delta) : delta);
  }

  function rewardSettings(job) {
    const r = (job.spec && job.spec.reward) || job.reward || {};
    return { T: r.target_ms != null ? r.target_ms : 5, alpha: r.alpha != null ? r.alpha : -0.07,
      beta: r.beta != null ? r.beta : -0.07 };
  }

  // charts.paretoFront over the completed plotted trials, sorted through typed arrays (100,000 trials).
  function frontOf(plotted) {
    const done = plotted.filter((t) => t.state === "completed");
    const n = done.length;
    const lat = new Float64Array(n), acc = new Float64Array(n);
    for (let i = 0; i < n; i++) { lat[i] = latencyOf(done[i]); acc[i] = done[i].accuracy; }
    const idx = Array.from(charts.paretoFront(Uint32Array.from({ length: n }, (_, i) => i), (i) => lat[i], (i) => acc[i]));
    return idx.map((i) => done[i]);
  }

  function recompute() {
    scatter.invalidate();
    S.plotted = [];
    for (const t of S.trials.values()) {
      if (plottable(t)) {
        t._reward = rewardOf(t);
        S.plotted.push(t);
      } else {
        t._reward = null;
      }
    }
    S.front = frontOf(S.plotted);
    S.frontIds = new Set(S.front.map((t) => t.id));
    // The hypervolume follows the page's T: its reference latency is max(2 T, 1.1 x worst front latency).
    const refLatency = charts.referenceLatency(S.front.map(latencyOf), S.T);
    S.hv = { value: charts.hypervolume2d(S.front.map((t) => [t.accuracy, latencyOf(t)]), refLatency),
      refLatency: refLatency };
    let lo = Infinity, hi = -Infinity, best = null;
    for (const t of S.plotted) {
      if (t.state !== "completed" || t._reward == null) continue;
      if (t._reward < lo) lo = t._reward;
      if (t._reward > hi) hi = t._reward;
      if (!best || t._reward > best._reward) best = t;
    }
    S.rMin = isFinite(lo) ? lo : 0;
    S.rMax = isFinite(hi) ? hi : 1;
    S.best = best;
  }

  // ---- the scatter (scatter.js) ---------------------------------------------------------------
  const scatter = window.nasScatter.create(S, {
    jobId: jobId,
    onPick: (id) => selectTrial(id),
    onSelect: (ids) => setSelection(ids),
  });

  function setSelection(ids) {
    S.table.selection = ids;
    S.table.page = 0;
    const info = document.getElementById("selection-info");
    info.classList.toggle("hidden", !ids);
    document.getElementById("selection-text").textContent = ids ? "selection: " + ids.size + " trials" : "";
    renderTable();
  }
  document.getElementById("clear-selection").addEventListener("click", () => setSelection(null));

  // ---- trial panel -----------------------------------------------------------------------------
  async function selectTrial(id) {
    S.selected = id;
    scatter.scheduleDraw();
    renderTable();
    const title = document.getElementById("trial-title");
    let t = S.trials.get(id) || { id: id };
    try {
      const full = await nas.api("/trials/" + encodeURIComponent(id));
      if (S.selected !== id) return;
      t = Object.assign({}, t, full);
    } catch (e) {
      title.textContent = "Trial: " + e.message;
      return;
    }
    window.nasPanels.renderTrial(t, rewardOf(t), S.metric);
  }

  // ---- trial table -----------------------------------------------------------------------------
  const SORT_VALUE = {
    number: (t) => t.number, state: (t) => t.state, accuracy: (t) => t.accuracy,
    latency: (t) => latencyOf(t), reward: (t) => t._reward, params: (t) => paramsOf(t), macs: (t) => t.macs,
    resolution: (t) => resolutionOf(t),
  };

  function tableRows() {
    const f = S.table;
    const q = f.q.toLowerCase();
    let rows = Array.from(S.trials.values());
    if (f.state) rows = rows.filter((t) => t.state === f.state);
    if (f.frontOnly) rows = rows.filter((t) => S.frontIds.has(t.id));
    if (f.selection) rows = rows.filter((t) => f.selection.has(t.id));
    if (q) rows = rows.filter((t) => blocksText(t).toLowerCase().includes(q));
    const get = SORT_VALUE[f.key];
    const dir = f.order === "asc" ? 1 : -1;
    rows.sort((a, b) => {
      const va = get(a), vb = get(b);
      if (va == null && vb == null) return a.number - b.number;
      if (va == null) return 1;       // missing values last, whatever the order
      if (vb == null) return -1;
      return (va < vb ? -1 : va > vb ? 1 : 0) * dir || a.number - b.number;
    });
    return rows;
  }

  function renderTable() {
    const rows = tableRows();
    const pages = Math.max(1, Math.ceil(rows.length / TABLE_PAGE));
    S.table.page = Math.min(S.table.page, pages - 1);
    const start = S.table.page * TABLE_PAGE;
    document.querySelector("#trials-table tbody").innerHTML = rows.slice(start, start + TABLE_PAGE).map((t) =>
      '<tr class="clickable' + (t.id === S.selected ? " selected" : "") + '" data-id="' + nas.escapeHtml(t.id) +
      '"><td class="num">' + nas.escapeHtml(t.number) + "</td><td>" + nas.stateBadge(t.state) +
      (progressOf(t) ? ' <span class="muted progress">' + nas.escapeHtml(progressOf(t)) + "</span>" : "") +
      '</td><td class="num">' + nas.fmtPct(t.accuracy) + '</td><td class="num">' + nas.fmtNum(latencyOf(t), 3) +
      '</td><td class="num">' + nas.fmtNum(t._reward, 4) + '</td><td class="num">' +
      (resolutionOf(t) != null ? nas.escapeHtml(resolutionOf(t)) : "–") + '</td><td class="num">' + nas.fmtCount(paramsOf(t)) +
      '</td><td class="num">' + nas.fmtCount(t.macs) + '</td><td class="blocks" title="' +
      nas.escapeHtml(blocksText(t)) + '">' + nas.escapeHtml(blocksText(t)) + "</td></tr>").join("");
    document.getElementById("trials-summary").textContent = rows.length + " of " + S.trials.size + " trials";
    document.getElementById("trials-page").textContent = "page " + (S.table.page + 1) + " / " + pages;
    document.getElementById("trials-prev").disabled = S.table.page === 0;
    document.getElementById("trials-next").disabled = S.table.page >= pages - 1;
    document.querySelectorAll("#trials-table th.sortable").forEach((th) => {
      th.classList.toggle("sorted-asc", th.dataset.key === S.table.key && S.table.order === "asc");
      th.classList.toggle("sorted-desc", th.dataset.key === S.table.key && S.table.order === "desc");
    });
  }

  document.querySelectorAll("#trials-table th.sortable").forEach((th) => th.addEventListener("click", () => {
    const key = th.dataset.key;
    if (S.table.key === key) S.table.order = S.table.order === "asc" ? "desc" : "asc";
    else { S.table.key = key; S.table.order = key === "number" || key === "latency" ? "asc" : "desc"; }
    S.table.page = 0;
    renderTable();
  }));
  document.getElementById("trial-state-filter").addEventListener("change", (e) => {
    S.table.state = e.target.value; S.table.page = 0; renderTable();
  });
  document.getElementById("trial-search").addEventListener("input", (e) => {
    S.table.q = e.target.value.trim(); S.table.page = 0; renderTable();
  });
  document.getElementById("front-only").addEventListener("change", (e) => {
    S.table.frontOnly = e.target.checked; S.table.page = 0; renderTable();
  });
  document.getElementById("trials-prev").addEventListener("click", () => { S.table.page--; renderTable(); });
  document.getElementById("trials-next").addEventListener("click", () => { S.table.page++; renderTable(); });
  document.querySelector("#trials-table tbody").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) selectTrial(parseId(tr.dataset.id));
  });

  // ---- re-scoring --------------------------------------------------------------------------------
  const inputs = { T: document.getElementById("target-ms"), alpha: document.getElementById("alpha"),
    beta: document.getElementById("beta") };
  function setInputs() {
    inputs.T.value = S.T; inputs.alpha.value = S.alpha; inputs.beta.value = S.beta;
  }
  function onRewardInput() {
    const T = parseFloat(inputs.T.value), a = parseFloat(inputs.alpha.value), b = parseFloat(inputs.beta.value);
    if (!(T > 0) || !isFinite(a) || !isFinite(b)) return;
    S.T = T; S.alpha = a; S.beta = b;
    refresh();
    views.refetch();
  }
  Object.values(inputs).forEach((el) => el.addEventListener("input", onRewardInput));
  document.getElementById("reset-reward").addEventListener("click", () => {
    if (!S.job) return;
    Object.assign(S, rewardSettings(S.job));
    setInputs();
    refresh();
    views.refetch();
  });

  function refresh() {
    recompute();
    scatter.scheduleDraw();
    renderTable();
    views.recolour();
  }

  // ---- search views (history, parallel coordinates, importance): views.js ------------------------------
  const views = window.nasViews.attach({
    jobId: jobId,
    settings: () => ({ T: S.T, alpha: S.alpha, beta: S.beta }),
    rewardOf: (id) => { const t = S.trials.get(id); return t ? t._reward : null; },
    range: () => [S.rMin, S.rMax],
    completed: () => (S.job && S.job.counters ? S.job.counters.completed : null),
  });

  // Live trial events come in bursts (a page of up to 200 per poll): fold them into one refresh per frame
  // instead of re-sorting 10,000 rows per event.
  let refreshQueued = false;
  function scheduleRefresh() {
    if (refreshQueued) return;
    refreshQueued = true;
    requestAnimationFrame(() => { refreshQueued = false; refresh(); });
  }

  // ---- job header, scaling table, NetAdapt panel ---------------------------------------------------
  function renderJob() {
    const job = S.job;
    // What the accuracy axis holds: a detection job's trials report mAP@[.5:.95] there.
    S.metric = job.spec && job.spec.task === "detection" ? "mAP" : "accuracy";
    document.getElementById("pareto-title").textContent = "Pareto front: " + S.metric + " vs latency";
    document.querySelector('#trials-table th[data-key="accuracy"]').textContent =
      S.metric === "mAP" ? "mAP" : "Accuracy";
    const name = job.name || (job.spec && job.spec.name) || job.id;
    document.title = "nas-service · " + name;
    document.getElementById("job-title").textContent = name;
    document.getElementById("job-crumb").textContent = "/ " + name;
    const c = job.counters || {};
    const done = (c.completed || 0) + (c.pruned || 0) + (c.failed || 0);
    const total = (job.spec && job.spec.budget && job.spec.budget.max_trials) || "?";
    const strategy = job.strategy || (job.spec && job.spec.strategy && job.spec.strategy.name) || "";
    document.getElementById("job-meta").innerHTML = nas.stateBadge(job.state) + " · " +
      nas.escapeHtml(job.kind || (job.spec && job.spec.kind) || "search") + " · " + nas.escapeHtml(strategy) +
      " · " + done + " / " + total + " trials · best reward " + nas.fmtNum(job.best_reward, 4) +
      " (server T) · created " + nas.fmtTime(job.created_at) +
      (job.error ? '<div class="error">' + nas.escapeHtml(job.error) + "</div>" : "");
    const kind = job.kind || (job.spec && job.spec.kind) || "search";
    if (kind === "final") loadFidelity();
    const finalizable = kind === "search" || kind === "netadapt";  // a netadapt job: the networks it kept
    document.getElementById("finalize-controls").classList.toggle("hidden", !finalizable || !(c.completed > 0));
    if (job.scaling_table) window.nasPanels.renderScaling(job.scaling_table);
    else if (job.kind === "scaling" || (job.spec && job.spec.strategy && job.spec.strategy.name === "compound-scaling")) loadScaling();
    if (kind === "netadapt") netadapt.load();
  }
  const netadapt = window.nasNetadapt.attach({ jobId: jobId, selectTrial: (id) => selectTrial(parseId(id)) });

  async function loadFidelity() {
    try {
      window.nasPanels.renderFidelity(await nas.api("/jobs/" + encodeURIComponent(jobId) + "/fidelity"));
    } catch (_) { /* optional panel: shown once the final job has results */ }
  }

  async function finalize() {
    const status = document.getElementById("finalize-status");
    const body = { top_k: Number(document.getElementById("finalize-k").value),
      epochs: Number(document.getElementById("finalize-epochs").value) };
    if (S.job && S.job.kind === "netadapt") body.by = "netadapt";
    try {
      const made = await nas.api("/jobs/" + encodeURIComponent(jobId) + "/finalize",
        { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
      window.location.href = "/dashboard/jobs/" + encodeURIComponent(made.id);
    } catch (err) {
      status.textContent = String(err.message || err);
    }
  }
  document.getElementById("finalize-btn").addEventListener("click", finalize);

  let scalingPending = false;
  async function loadScaling() {
    if (scalingPending) return;
    scalingPending = true;
    try {
      const r = await nas.api("/dashboard/api/jobs/" + encodeURIComponent(jobId) + "/scaling", null, true);
      window.nasPanels.renderScaling(r.rows, r.note);
    } catch (_) { /* optional panel */ } finally { scalingPending = false; }
  }

  // ---- loading and live updates --------------------------------------------------------------------
  // Trials come from the dashboard's compact, column-wise endpoint (no architecture documents: ~15x less
  // JSON than the API's trial pages), in chunks fetched a few at a time; the API's pages are the fallback.
  const POINTS_CHUNK = 10000;  // 10,000 trials in one request (the server reads them in one narrow query)
  function pointsUrl(offset, limit) {
    return "/dashboard/api/jobs/" + encodeURIComponent(jobId) + "/points?offset=" + offset + "&limit=" + limit;
  }
  function addColumns(cols) {
    const n = cols.id.length;
    for (let i = 0; i < n; i++) {
      const t = {};
      for (const name in cols) t[name] = cols[name][i];
      upsertTrial(t);
    }
  }
  async function loadPoints() {
    const first = await nas.api(pointsUrl(0, POINTS_CHUNK), null, true);
    addColumns(first.columns);
    const offsets = [];
    for (let off = first.columns.id.length; off < first.total; off += POINTS_CHUNK) offsets.push(off);
    await inParallel(offsets, async (off) => addColumns((await nas.api(pointsUrl(off, POINTS_CHUNK), null, true)).columns));
  }

  async function inParallel(items, fn) {
    let next = 0;
    async function worker() { while (next < items.length) await fn(items[next++]); }
    await Promise.all(Array.from({ length: PARALLEL_PAGES }, worker));
  }

  async function loadTrialPages() {
    const base = "/jobs/" + encodeURIComponent(jobId) + "/trials?sort=number&order=asc&limit=";
    const first = await nas.api(base + PAGE_SIZE + "&offset=0");
    first.items.forEach(upsertTrial);
    const offsets = [];
    for (let off = first.items.length; off < first.total; off += PAGE_SIZE) offsets.push(off);
    await inParallel(offsets, async (off) => (await nas.api(base + PAGE_SIZE + "&offset=" + off)).items.forEach(upsertTrial));
  }

  async function loadTrials() {
    try {
      await loadPoints();
    } catch (e) {
      if (!(e instanceof nas.ApiError) || e.status !== 404 || e.code === "not_found") throw e;
      await loadTrialPages();  // a server without the dashboard's data endpoint
    }
  }

  function onEvent(ev) {
    if (ev.event === "job") {
      S.job = Object.assign(S.job || {}, ev.data.job || ev.data);
      renderJob();
      views.maybeReload();  // new results: at most every few seconds
    } else if (ev.event === "trial") {
      upsertTrial(ev.data.trial || ev.data);
      scheduleRefresh();
    } else if (ev.event === "end" && S.job && ev.data && ev.data.state) {
      S.job.state = ev.data.state;
      renderJob();
    }
  }

  function follow() {
    if (TERMINAL.has(S.job.state)) return;
    const live = document.getElementById("live-legend");
    S.stream = nas.followEvents("/jobs/" + encodeURIComponent(jobId) + "/events", onEvent, {
      isDone: () => TERMINAL.has(S.job.state),
      onStatus: (status) => {
        live.textContent = status === "live" ? "● live" : status === "reconnecting" ? "reconnecting…" : "";
        live.className = status === "live" ? "badge-live" : "muted";
        if (status === "closed") views.load();
      },
    });
  }

  // Two phases. (1) The first draw waits only for the two smallest requests, sent together: the job (reward
  // settings, hence colours) and the narrow x/y columns of the completed trials, from which the page computes
  // the front itself. Nothing else is in flight meanwhile (the server shares its CPU among requests). (2) Then,
  // deferred: the server's /pareto (block strings of the front, hypervolume), every trial's row (table, tooltips
  // of the other points), the table itself and the event stream. window.__nasFrontDrawnAt /
  // __nasTrialsLoadedAt time the two phases.
  // The /xy columns arrive as three float64 arrays (ids, accuracies, latencies) one after the other.
  function applyXy(buf) {
    const n = buf.byteLength / 24;
    const ids = new Float64Array(buf, 0, n), acc = new Float64Array(buf, 8 * n, n), lat = new Float64Array(buf, 16 * n, n);
    for (let i = 0; i < n; i++) {
      upsertTrial({ id: ids[i], state: "completed", accuracy: acc[i], latency_ms: lat[i] });
    }
  }

  function applyFront(front) {
    for (const p of front.points) {
      upsertTrial({ id: p.trial_id, number: p.number, state: "completed", accuracy: p.accuracy,
        latency_ms: p.latency_ms, params_count: p.params, macs: p.macs, block_strings: p.block_strings });
    }
  }

  function startJob(job) {
    S.job = job;
    Object.assign(S, rewardSettings(S.job));
    setInputs();
    renderJob();
  }

  // Resolves after the next frame has been drawn (deferred work must not delay the first paint).
  function afterPaint() {
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  }

  async function load() {
    const err = document.getElementById("job-error");
    try {
      const jobReq = nas.api("/jobs/" + encodeURIComponent(jobId));
      const xyReq = nas.apiBytes("/dashboard/api/jobs/" + encodeURIComponent(jobId) + "/xy?format=f64")
        .catch(() => null);
      startJob(await jobReq);
      const xy = await xyReq;
      let frontReq;
      if (xy) {
        performance.mark("nas-xy-received");
        applyXy(xy);
        performance.mark("nas-xy-applied");
        S.loaded = true;
        recompute();
        performance.mark("nas-recomputed");
        scatter.scheduleDraw();  // the first draw: scatter and front, nothing else
        await afterPaint();
        frontReq = nas.api("/jobs/" + encodeURIComponent(jobId) + "/pareto").then(applyFront, () => null);
        renderTable();
      } else {  // a server without the dashboard's data endpoints: the front comes with the trials
        frontReq = nas.api("/jobs/" + encodeURIComponent(jobId) + "/pareto").then(applyFront, () => null);
      }
      await loadTrials();
      await frontReq;
      S.loaded = true;
      refresh();
      window.__nasTrialsLoadedAt = performance.now();
      err.classList.add("hidden");
      follow();
      views.load();
    } catch (e) {
      err.textContent = e.message;
      err.classList.remove("hidden");
      document.getElementById("job-meta").textContent = "";
    }
  }

  // A small hook for tests and the benchmark: positions of points and their colours, no internals.
  window.__nasDashboard = {
    pointPosition(id) {
      const i = S.plotted.findIndex((t) => t.id === id);
      return i < 0 || !S.screen ? null : { x: S.screen[2 * i], y: S.screen[2 * i + 1] };
    },
    colorOf(id) { const t = S.trials.get(id); return t ? scatter.colorOf(t) : null; },
    frontIds() { return S.front.map((t) => t.id); },
    positions() {
      const out = {};
      if (S.screen) S.plotted.forEach((t, i) => { out[t.id] = [S.screen[2 * i], S.screen[2 * i + 1]]; });
      return out;
    },
    view() {
      const v = scatter.view();
      return v ? { x0: v.x0, x1: v.x1, y0: v.y0, y1: v.y1, log: v.log, left: scatter.margins.left,
        top: scatter.margins.top, width: v.pw, height: v.ph } : null;
    },
    xTicks() { const v = scatter.view(); return v ? scatter.xTicks(v).map((t) => t.label) : []; },
    yTicks() { const v = scatter.view(); return v ? scatter.yTicks(v).map((t) => t.label) : []; },
    selection() { return S.table.selection ? Array.from(S.table.selection) : null; },
    markerRadius() { return scatter.markerRadius; },
  };

  scatter.drawColorbar();
  nas.initLogin(() => { if (S.stream) S.stream.stop(); load(); });
  load();
})();
