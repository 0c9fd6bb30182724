/* The job page's Pareto scatter on one <canvas>: drawing (points batched per colour bucket, so 10,000 trials
 * draw in a few milliseconds; an offscreen layer redrawn only when the data, colours, size or view change), the
 * target and hypervolume lines, the front's attainment curve, hover tooltips, zoom (wheel), pan (drag),
 * box-select (shift-drag), log latency and PNG export. It reads the page's state `S` (job.js owns it) and tells
 * the page what the user picked through `hooks`. */
(function () {
  "use strict";
  const nas = window.nas;
  const charts = window.nasCharts;
  const { viridis, niceTicks, logTicks } = charts;
  const { latencyOf, blocksOf, resolutionOf, paramsOf } = window.nasPanels.trial;
  const BUCKETS = 32;
  const M = { left: 62, right: 18, top: 14, bottom: 42 };
  const R_POINT = 3.5;   // off-front points (px radius)
  const R_FRONT = 5.5;   // front points

  function plottable(t) { return t.accuracy != null && latencyOf(t) != null; }

  /** The scatter over the page's state `S`; `hooks`: `jobId`, `onPick(id)` (a point clicked), `onSelect(ids)`
   * (a box selected). Returns what the page calls: `scheduleDraw`, `invalidate` (the points changed),
   * `colorOf`, `drawColorbar`, and what the page's test hook reads (`view`, ticks, margins, marker radii). */
  function create(S, hooks) {
    let drawQueued = false;
    let dataVersion = 0;

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
      hooks.onSelect(ids);
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
        if (t) hooks.onPick(t.id);
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
      const name = "nas-job-" + hooks.jobId + "-pareto.png";
      charts.downloadPng(canvas, name);
    });

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

    return {
      scheduleDraw: scheduleDraw,
      invalidate() { dataVersion++; },
      colorOf: colorOf,
      drawColorbar: drawColorbar,
      view() { return view; },
      xTicks: xTicks,
      yTicks: yTicks,
      margins: M,
      markerRadius: { offFront: R_POINT, front: R_FRONT },
    };
  }

  window.nasScatter = { create: create };
})();
