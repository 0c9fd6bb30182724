/* Job page: live Pareto front (canvas: zoom, pan, box-select, log latency, PNG), client-side re-scoring,
 * trial panel, trial table, scaling table, the NetAdapt panel of netadapt.js, and the search views of views.js.
 *
 * Data flow: GET /jobs/{id} and the dashboard's /xy columns together (the first draw needs only them), then
 * the server's /pareto (front block strings) and every trial's row from the dashboard's /points columns (the
 * API's trial pages as a fallback); then the event stream of the job applies `job` and `trial` deltas, and
 * the views (/history, /choices, /importance) load.
 * Everything that depends on T, alpha, beta (reward, colours, best trial, table order, the front's
 * hypervolume) is recomputed here without a request; only the server's views are re-fetched. The scatter is drawn on one <canvas>: points are batched into one path per colour
 * bucket, so 10,000 trials draw in a few milliseconds. */
(function () {
  "use strict";
  const nas = window.nas;
  const charts = window.nasCharts;
  const { viridis, niceTicks, logTicks } = charts;
  const PAGE_SIZE = 500; // the API's largest page (schemas.MAX_PAGE)
  const PARALLEL_PAGES = 2;
  const TABLE_PAGE = 50;
  const BUCKETS = 32;
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const M = { left: 62, right: 18, top: 14, bottom: 42 };
  const R_POINT = 3.5;   // off-front points (px radius)
  const R_FRONT = 5.5;   // front points

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
  let drawQueued = false;

  // ---- data helpers -------------------------------------------------------------------------------
  const { latencyOf, blocksOf, blocksText, resolutionOf, paramsOf } = window.nasPanels.trial;
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
    dataVersion++;
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

  // ---- colours ---------------------------------------------------------------------------------
  const BUCKET_COLORS = Array.from({ length: BUCKETS }, (_, i) => viridis(i / (BUCKETS - 1)));
  const BUCKET_RGB = Uint32Array.from(BUCKET_COLORS.concat(["rgb(173,181,189)"]), (c) => {
    const [r, g, b] = c.slice(4, -1).split(",").map(Number);
    return (r << 16) | (g << 8) | b;
  });
  function bucketOf(r) {
    if (r == null) return -1;
    const span = S.rMax - S.rMin;
    const u = span > 0 ? (r - S.rMin) / span : 1;
    return Math.max(0, Math.min(BUCKETS - 1, Math.round(u * (BUCKETS - 1))));
  }
  function colorOf(t) {
    if (t.state !== "completed") return "rgb(173,181,189)";
    const b = bucketOf(t._reward);
    return b < 0 ? "rgb(173,181,189)" : BUCKET_COLORS[b];
  }

  // ---- scatter ---------------------------------------------------------------------------------
  const canvas = document.getElementById("pareto");
  let ctx = canvas.getContext("2d");
  let view = null;

  // The data box of every plotted point (and T), padded; latency > 0 on a log axis.
  function autoBox() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const t of S.plotted) {
      const l = latencyOf(t);
      if (S.logX && !(l > 0)) continue;
      if (l < x0) x0 = l;
      if (l > x1) x1 = l;
      if (t.accuracy < y0) y0 = t.accuracy;
      if (t.accuracy > y1) y1 = t.accuracy;
    }
    if (!isFinite(x0)) { x0 = S.T / 2; x1 = 2 * S.T; y0 = 0; y1 = 1; }
    x0 = Math.min(x0, S.T); x1 = Math.max(x1, S.T);
    const py = (y1 - y0) * 0.06 || 0.05;
    if (S.logX) { x0 /= 1.12; x1 *= 1.12; }
    else { const px = (x1 - x0) * 0.05 || 1; x0 = Math.max(0, x0 - px); x1 += px; }
    y0 = Math.max(0, y0 - py); y1 = Math.min(1, y1 + py);
    if (y1 <= y0) y1 = y0 + 0.01;
    return { x0: x0, x1: x1, y0: y0, y1: y1 };
  }

  // Screen <-> data mapping of a box on a w x h canvas (linear or log latency).
  function makeView(box, w, h) {
    const pw = w - M.left - M.right, ph = h - M.top - M.bottom;
    const fx = S.logX ? Math.log : (v) => v;
    const gx = S.logX ? Math.exp : (v) => v;
    const a = fx(box.x0), b = fx(box.x1);
    return {
      w: w, h: h, x0: box.x0, x1: box.x1, y0: box.y0, y1: box.y1, log: S.logX, pw: pw, ph: ph,
      sx: (v) => M.left + ((fx(v) - a) / (b - a)) * pw,
      sy: (v) => M.top + (1 - (v - box.y0) / (box.y1 - box.y0)) * ph,
      ix: (px) => gx(a + ((px - M.left) / pw) * (b - a)),
      iy: (py) => box.y0 + (1 - (py - M.top) / ph) * (box.y1 - box.y0),
    };
  }

  function computeView(w, h) {
    const box = S.zoom || autoBox();
    if (S.logX && !(box.x0 > 0)) box.x0 = autoBox().x0;
    return makeView(box, w, h);
  }

  function xTicks(v) {
    if (v.log) return logTicks(v.x0, v.x1, 8).map((x) => ({ v: x, label: String(x) }));
    const t = niceTicks(v.x0, v.x1, 8, 1);
    return t.values.map((x) => ({ v: x, label: x.toFixed(t.decimals) }));
  }
  function yTicks(v) {
    const t = niceTicks(v.y0, v.y1, 6, 100);  // percent labels, as many decimals as the step needs
    return t.values.map((y) => ({ v: y, label: (100 * y).toFixed(t.decimals) + "%" }));
  }

  function drawAxes(v) {
    ctx.strokeStyle = "#d9dde5"; ctx.fillStyle = "#667085"; ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const x of xTicks(v)) {
      const px = Math.round(v.sx(x.v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, M.top); ctx.lineTo(px, v.h - M.bottom); ctx.stroke();
      ctx.fillText(x.label, px, v.h - M.bottom + 4);
    }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const y of yTicks(v)) {
      const py = Math.round(v.sy(y.v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(M.left, py); ctx.lineTo(v.w - M.right, py); ctx.stroke();
      ctx.fillText(y.label, M.left - 6, py);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText("latency (ms)" + (v.log ? ", log scale" : ""), M.left + (v.w - M.left - M.right) / 2, v.h - 4);
    ctx.save(); ctx.translate(12, M.top + (v.h - M.top - M.bottom) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText(S.metric, 0, 0); ctx.restore();
  }

  function vline(v, x, color, dash, label) {
    if (!(x >= v.x0 && x <= v.x1)) return;
    const px = v.sx(x);
    ctx.save(); ctx.strokeStyle = color; ctx.setLineDash(dash); ctx.lineWidth = 1.2;
    ctx.beginPath(); ctx.moveTo(px, M.top); ctx.lineTo(px, v.h - M.bottom); ctx.stroke(); ctx.restore();
    // The label goes on the line's left when it would run past the plot's right edge.
    const right = px + 4 + ctx.measureText(label).width > v.w - M.right;
    ctx.fillStyle = color; ctx.textAlign = right ? "right" : "left"; ctx.textBaseline = "top";
    ctx.fillText(label, right ? px - 4 : px + 4, M.top + (right ? 14 : 2));
  }

  // Background, axes and every point go to an offscreen layer, redrawn only when the data, colours, size or
  // view change; hover rings and the selection box are drawn over a copy of it.
  const layer = { canvas: document.createElement("canvas"), key: "" };
  let dataVersion = 0;

  function drawLayer(v, w, h, dpr) {
    const key = [dataVersion, w, h, dpr, v.x0, v.x1, v.y0, v.y1, v.log].join(",");
    if (layer.key === key) return;
    layer.key = key;
    const lc = layer.canvas;
    lc.width = canvas.width; lc.height = canvas.height;
    const saved = ctx;
    ctx = lc.getContext("2d");
    try {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);  // opaque, so that an exported PNG has a background
      drawAxes(v);
      // All points as pixels, low rewards first (the best on top), unfinished ones (grey) under everything.
      const n = S.plotted.length;
      const screen = new Float32Array(2 * n), xs = new Float32Array(n), ys = new Float32Array(n);
      const rgb = new Uint32Array(n), bucket = new Int16Array(n), counts = new Uint32Array(BUCKETS + 2);
      for (let i = 0; i < n; i++) {
        const t = S.plotted[i];
        const x = v.sx(latencyOf(t)), y = v.sy(t.accuracy);
        screen[2 * i] = xs[i] = x; screen[2 * i + 1] = ys[i] = y;
        const b = t.state === "completed" ? bucketOf(t._reward) : -1;
        bucket[i] = b;
        rgb[i] = BUCKET_RGB[b < 0 ? BUCKETS : b];
        counts[b + 2]++;
      }
      for (let b = 1; b < counts.length; b++) counts[b] += counts[b - 1];
      const order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[counts[bucket[i] + 1]++] = i;
      S.screen = screen;
      charts.splatDisks(ctx, xs, ys, rgb, order, R_POINT, 0.85, { x: M.left, y: M.top, w: v.pw, h: v.ph });
    } finally {
      ctx = saved;
    }
  }

  function draw() {
    drawQueued = false;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    }
    const v = (view = computeView(w, h));
    if (!canvas.width || !canvas.height) { updateLegend(); return; }  // not laid out (yet): nothing to paint
    drawLayer(v, w, h, dpr);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(layer.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.save();
    ctx.beginPath(); ctx.rect(M.left, M.top, v.pw, v.ph); ctx.clip();  // zoomed: nothing outside the axes

    // Target latency and the hypervolume's reference latency.
    vline(v, S.T, "#c92a2a", [5, 4], "T = " + S.T + " ms");
    if (S.hv) vline(v, S.hv.refLatency, "#868e96", [2, 3], "HV ref " + nas.fmtNum(S.hv.refLatency, 3) + " ms");

    // Front: step line (the attainment curve) then emphasised points.
    if (S.front.length) {
      ctx.strokeStyle = "#d9480f"; ctx.lineWidth = 1.5;
      ctx.beginPath();
      S.front.forEach((t, i) => {
        const x = v.sx(latencyOf(t)), y = v.sy(t.accuracy);
        if (i === 0) ctx.moveTo(x, y);
        else { ctx.lineTo(x, v.sy(S.front[i - 1].accuracy)); ctx.lineTo(x, y); }
      });
      ctx.stroke();
      for (const t of S.front) {
        const x = v.sx(latencyOf(t)), y = v.sy(t.accuracy);
        ctx.beginPath(); ctx.arc(x, y, R_FRONT, 0, 2 * Math.PI);
        ctx.fillStyle = colorOf(t); ctx.fill();
        ctx.lineWidth = 2; ctx.strokeStyle = "#d9480f"; ctx.stroke();
      }
    }
    for (const [t, color] of [[S.hover, "#1d2330"], [S.selected && S.trials.get(S.selected), "#2d6cdf"]]) {
      if (!t || !plottable(t)) continue;
      ctx.beginPath(); ctx.arc(v.sx(latencyOf(t)), v.sy(t.accuracy), 8, 0, 2 * Math.PI);
      ctx.lineWidth = 2; ctx.strokeStyle = color; ctx.stroke();
    }
    ctx.restore();
    if (S.drag && S.drag.mode === "select") {
      const d = S.drag;
      ctx.save(); ctx.fillStyle = "rgba(45,108,223,0.12)"; ctx.strokeStyle = "#2d6cdf"; ctx.lineWidth = 1;
      ctx.fillRect(Math.min(d.x, d.cx), Math.min(d.y, d.cy), Math.abs(d.cx - d.x), Math.abs(d.cy - d.y));
      ctx.strokeRect(Math.min(d.x, d.cx), Math.min(d.y, d.cy), Math.abs(d.cx - d.x), Math.abs(d.cy - d.y));
      ctx.restore();
    }
    updateLegend();
    if (S.loaded && window.__nasFrontDrawnAt == null) {
      window.__nasFrontDrawnAt = performance.now();
      performance.mark("nas-front-drawn");
    }
  }

  function scheduleDraw() {
    if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
  }

  function updateLegend() {
    canvas.dataset.frontCount = String(S.front.length);
    canvas.dataset.pointCount = String(S.plotted.length);
    canvas.dataset.bestTrial = S.best ? String(S.best.id) : "";
    canvas.dataset.target = String(S.T);
    canvas.dataset.zoomed = S.zoom ? "1" : "0";
    canvas.dataset.log = S.logX ? "1" : "0";
    document.getElementById("front-legend").textContent = "Pareto front: " + S.front.length + " points of " +
      S.plotted.length;
    document.getElementById("reward-min").textContent = nas.fmtNum(S.rMin, 3);
    document.getElementById("reward-max").textContent = nas.fmtNum(S.rMax, 3);
    document.getElementById("best-legend").textContent = S.best
      ? "best reward " + nas.fmtNum(S.best._reward, 4) + " (trial " +
        (S.best.number != null ? "#" + S.best.number : "id " + S.best.id) + ")" : "";
    const hv = document.getElementById("hv-legend");
    hv.textContent = S.hv ? "hypervolume " + nas.fmtNum(S.hv.value, 4) + " · reference: " + S.metric + " 0, latency " +
      nas.fmtNum(S.hv.refLatency, 3) + " ms = max(2·T, 1.1 × slowest front point)" : "";
    hv.dataset.value = S.hv ? String(S.hv.value) : "";
    hv.dataset.refLatency = S.hv ? String(S.hv.refLatency) : "";
  }

  function drawColorbar() {
    const cb = document.getElementById("colorbar");
    const c = cb.getContext("2d");
    for (let x = 0; x < cb.width; x++) { c.fillStyle = viridis(x / (cb.width - 1)); c.fillRect(x, 0, 1, cb.height); }
  }

  function nearest(mx, my, radius) {
    if (!S.screen) return null;
    let best = -1, bestD = radius * radius;
    for (let i = 0; i < S.plotted.length; i++) {
      const dx = S.screen[2 * i] - mx, dy = S.screen[2 * i + 1] - my;
      const d = dx * dx + dy * dy;
      // Front points win ties: they are drawn on top.
      if (d < bestD || (d === bestD && S.frontIds.has(S.plotted[i].id))) { bestD = d; best = i; }
    }
    return best < 0 ? null : S.plotted[best];
  }

  const tooltip = document.getElementById("tooltip");
  function showTooltip(t, mx, my) {
    const blocks = blocksOf(t).map((stage, i) =>
      "<code>" + i + ": " + nas.escapeHtml(stage.join(" ")) + "</code>").join("");
    const res = resolutionOf(t);
    tooltip.innerHTML = "<b>trial #" + nas.escapeHtml(t.number) + "</b> " + nas.escapeHtml(t.state) +
      (S.frontIds.has(t.id) ? " · <b>Pareto</b>" : "") + "<br>" +
      S.metric + " " + nas.fmtPct(t.accuracy) + " · latency " + nas.fmtNum(latencyOf(t), 3) + " ms · reward " +
      nas.fmtNum(t._reward, 4) + "<br>params " + nas.fmtCount(paramsOf(t)) + " · MACs " + nas.fmtCount(t.macs) +
      (res != null ? " · " + nas.escapeHtml(res) + " px" : "") + blocks;
    tooltip.classList.remove("hidden");
    const wrap = canvas.parentElement.getBoundingClientRect();
    const tw = tooltip.offsetWidth, th = tooltip.offsetHeight;
    tooltip.style.left = Math.max(0, mx + 14 + tw > wrap.width ? mx - tw - 14 : mx + 14) + "px";
    tooltip.style.top = Math.max(0, my + 14 + th > wrap.height ? my - th - 10 : my + 14) + "px";
  }

  // ---- zoom, pan, box-select -------------------------------------------------------------------
  function mouseAt(ev) {
    const r = canvas.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  }
  function boxOf(v) { return { x0: v.x0, x1: v.x1, y0: v.y0, y1: v.y1 }; }

  // Zoom by `factor` (< 1: in) around the screen point (px, py).
  function zoomAt(px, py, factor) {
    if (!view) return;
    const v = view;
    const cx = v.ix(px), cy = v.iy(py);
    const box = { y0: cy - (cy - v.y0) * factor, y1: cy + (v.y1 - cy) * factor };
    if (v.log) { box.x0 = cx * Math.pow(v.x0 / cx, factor); box.x1 = cx * Math.pow(v.x1 / cx, factor); }
    else { box.x0 = cx - (cx - v.x0) * factor; box.x1 = cx + (v.x1 - cx) * factor; }
    S.zoom = box;
    scheduleDraw();
  }

  function selectBox(d) {
    const x0 = Math.min(d.x, d.cx), x1 = Math.max(d.x, d.cx), y0 = Math.min(d.y, d.cy), y1 = Math.max(d.y, d.cy);
    const ids = new Set();
    for (let i = 0; i < S.plotted.length; i++) {
      const x = S.screen[2 * i], y = S.screen[2 * i + 1];
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1 && x >= M.left && x <= view.w - M.right &&
          y >= M.top && y <= view.h - M.bottom) ids.add(S.plotted[i].id);
    }
    setSelection(ids);
  }

  function setSelection(ids) {
    S.table.selection = ids;
    S.table.page = 0;
    const info = document.getElementById("selection-info");
    info.classList.toggle("hidden", !ids);
    document.getElementById("selection-text").textContent = ids ? "selection: " + ids.size + " trials" : "";
    renderTable();
  }

  canvas.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0 || !view) return;
    const p = mouseAt(ev);
    S.drag = { mode: ev.shiftKey ? "select" : "pan", x: p.x, y: p.y, cx: p.x, cy: p.y, box: boxOf(view), moved: false };
    ev.preventDefault();
  });
  window.addEventListener("mousemove", (ev) => {
    const d = S.drag;
    if (!d) return;
    const p = mouseAt(ev);
    d.cx = p.x; d.cy = p.y;
    if (Math.abs(d.cx - d.x) + Math.abs(d.cy - d.y) > 3) d.moved = true;
    if (d.mode === "pan" && d.moved) {
      const start = makeView(d.box, view.w, view.h);
      const dx0 = start.ix(M.left - (d.cx - d.x)), dx1 = start.ix(M.left + start.pw - (d.cx - d.x));
      const dy = (d.cy - d.y) / start.ph * (d.box.y1 - d.box.y0);
      S.zoom = { x0: dx0, x1: dx1, y0: d.box.y0 + dy, y1: d.box.y1 + dy };
    }
    scheduleDraw();
  });
  window.addEventListener("mouseup", (ev) => {
    const d = S.drag;
    if (!d) return;
    S.drag = null;
    if (d.mode === "select" && d.moved) selectBox(d);
    else if (!d.moved) {
      const p = mouseAt(ev);
      const t = nearest(p.x, p.y, 9);
      if (t) selectTrial(t.id);
    }
    scheduleDraw();
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const p = mouseAt(ev);
    zoomAt(p.x, p.y, ev.deltaY < 0 ? 1 / 1.25 : 1.25);
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { S.zoom = null; scheduleDraw(); });
  document.getElementById("reset-zoom").addEventListener("click", () => { S.zoom = null; scheduleDraw(); });
  document.getElementById("log-latency").addEventListener("change", (e) => {
    S.logX = e.target.checked; S.zoom = null; scheduleDraw();
  });
  document.getElementById("export-png").addEventListener("click", () => {
    draw();  // a fresh frame (no hover ring pending)
    const name = "nas-job-" + jobId + "-pareto.png";
    charts.downloadPng(canvas, name);
  });
  document.getElementById("clear-selection").addEventListener("click", () => setSelection(null));

  canvas.addEventListener("mousemove", (ev) => {
    if (S.drag) { tooltip.classList.add("hidden"); return; }
    const p = mouseAt(ev);
    const t = nearest(p.x, p.y, 9);
    if (t !== S.hover) { S.hover = t; scheduleDraw(); }
    if (t) showTooltip(t, p.x, p.y); else tooltip.classList.add("hidden");
  });
  canvas.addEventListener("mouseleave", () => {
    S.hover = null; tooltip.classList.add("hidden"); scheduleDraw();
  });
  window.addEventListener("resize", scheduleDraw);

  // ---- trial panel -----------------------------------------------------------------------------
  async function selectTrial(id) {
    S.selected = id;
    scheduleDraw();
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
    scheduleDraw();
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
        scheduleDraw();  // the first draw: scatter and front, nothing else
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
    colorOf(id) { const t = S.trials.get(id); return t ? colorOf(t) : null; },
    frontIds() { return S.front.map((t) => t.id); },
    positions() {
      const out = {};
      if (S.screen) S.plotted.forEach((t, i) => { out[t.id] = [S.screen[2 * i], S.screen[2 * i + 1]]; });
      return out;
    },
    view() { return view ? { x0: view.x0, x1: view.x1, y0: view.y0, y1: view.y1, log: view.log,
      left: M.left, top: M.top, width: view.pw, height: view.ph } : null; },
    xTicks() { return view ? xTicks(view).map((t) => t.label) : []; },
    yTicks() { return view ? yTicks(view).map((t) => t.label) : []; },
    selection() { return S.table.selection ? Array.from(S.table.selection) : null; },
    markerRadius() { return { offFront: R_POINT, front: R_FRONT }; },
  };

  drawColorbar();
  nas.initLogin(() => { if (S.stream) S.stream.stop(); load(); });
  load();
})();
