/* Pure drawing and analysis helpers of the job page (no page state): colour map, axis ticks, the 2-D Pareto
 * front and its hypervolume, and the small line/dot charts of the trial panel.
 *
 * The front, its hypervolume and reference latency re-implement nas_service.pareto (paretoFront,
 * hypervolume2d, referenceLatency): the page recomputes them when T changes without asking the server.
 * tests/dashboard/test_definitions_browser.py checks them against the Python definitions on the shared table
 * of cases (tests/cases/definition_cases.json). Block strings are never parsed here: the API serves them
 * decoded (GET /trials/{id} -> blocks). */
(function () {
  "use strict";
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

  function viridis(u) {
    const x = Math.max(0, Math.min(1, u)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    const a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k]))).join(",") + ")";
  }

  /** At most about `n` ticks in [lo, hi] at an even step of 1, 2 or 5 times a power of ten.
   *  Returns {values, step, decimals}: `decimals` digits show every tick exactly (scale: multiplier of the
   *  label, e.g. 100 for percent). */
  function niceTicks(lo, hi, n, scale) {
    const k = scale || 1;
    const span = hi - lo;
    if (!(span > 0)) return { values: [lo], step: 0, decimals: 0 };
    const mag = Math.pow(10, Math.floor(Math.log10(span / n)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const values = [];
    for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) values.push(+(i * step).toPrecision(12));
    const decimals = Math.max(0, -Math.floor(Math.log10(step * k) + 1e-9));
    return { values: values, step: step, decimals: decimals };
  }

  /** Ticks of a log axis over [lo, hi] (> 0): 1, 2, 5 times powers of ten, thinned to about `n`. */
  function logTicks(lo, hi, n) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = +(m * Math.pow(10, e)).toPrecision(12);
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    if (out.length <= n) return out;
    const decades = out.filter((v) => /^1(e|$)|^0\.0*1$|^10*$/.test(String(v)));
    return decades.length >= 2 ? decades : out.filter((_, i) => i % Math.ceil(out.length / n) === 0);
  }

  /** Non-dominated set (maximise accuracy, minimise latency) of `points`, latency ascending
   *  (nas_service.pareto.pareto_front). A point is dominated when another is at least as good in both and
   *  better in one; exact duplicates therefore stay on the front together. */
  function paretoFront(points, latencyOf, accuracyOf) {
    const acc = accuracyOf || ((p) => p.accuracy);
    const done = points.slice();
    done.sort((a, b) => (latencyOf(a) - latencyOf(b)) || (acc(b) - acc(a)));
    const front = [];
    let bestBefore = -Infinity;  // best accuracy among strictly faster points
    for (let i = 0; i < done.length;) {
      const lat = latencyOf(done[i]);
      const groupMax = acc(done[i]);
      let j = i;
      for (; j < done.length && latencyOf(done[j]) === lat; j++) {
        if (acc(done[j]) === groupMax && groupMax > bestBefore) front.push(done[j]);
      }
      if (groupMax > bestBefore) bestBefore = groupMax;
      i = j;
    }
    return front;
  }

  /** Latency of the hypervolume reference point: max(2 T, 1.1 x the front's worst latency)
   *  (nas_service.pareto.front_reference_latency). */
  function referenceLatency(frontLatencies, T) {
    let ref = 2 * T;
    for (const l of frontLatencies) if (1.1 * l > ref) ref = 1.1 * l;
    return ref;
  }

  /** Area dominated by [accuracy, latency] `points` within the reference (accuracy 0, `refLatency`)
   *  (nas_service.pareto.hypervolume_2d with directions (max, min)). */
  function hypervolume2d(points, refLatency) {
    // The same sweep as Python: by accuracy descending, each point adds its accuracy times the latency gap.
    const inside = points.filter((p) => -p[0] < 0 && p[1] < refLatency)
      .sort((a, b) => (b[0] - a[0]) || (a[1] - b[1]));
    let area = 0, curLat = refLatency;
    for (const [acc, lat] of inside) {
      if (lat < curLat) { area += acc * (curLat - lat); curLat = lat; }
    }
    return area;
  }

  function miniChart(el, xs, ys, opts) {
    const dpr = window.devicePixelRatio || 1;
    const w = el.clientWidth, h = el.clientHeight;
    el.width = Math.round(w * dpr); el.height = Math.round(h * dpr);
    const c = el.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, h);
    c.font = "11px system-ui, sans-serif"; c.fillStyle = "#667085";
    if (!ys.length) { c.fillText("no data", 8, 16); return; }
    const m = { l: 60, r: 8, t: 8, b: 20 };
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => m.l + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (w - m.l - m.r);
    const sy = (y) => m.t + (1 - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5)) * (h - m.t - m.b);
    c.textAlign = "right"; c.textBaseline = "middle";
    c.fillText(opts.fmt(y1), m.l - 4, sy(y1)); c.fillText(opts.fmt(y0), m.l - 4, sy(y0));
    c.textAlign = "center"; c.textBaseline = "top";
    c.fillText(opts.xlabel, w / 2, h - m.b + 4);
    c.strokeStyle = opts.color; c.fillStyle = opts.color; c.lineWidth = 1.5;
    if (opts.line) {
      c.beginPath();
      xs.forEach((x, i) => (i ? c.lineTo(sx(x), sy(ys[i])) : c.moveTo(sx(x), sy(ys[i]))));
      c.stroke();
    }
    xs.forEach((x, i) => { c.beginPath(); c.arc(sx(x), sy(ys[i]), opts.line ? 3 : 2, 0, 2 * Math.PI); c.fill(); });
  }

  /** Paint anti-aliased disks straight into the pixels of a canvas region (device pixels), in the given
   *  order: 100,000 points in tens of milliseconds, where as many canvas arc() fills take seconds in
   *  software rendering. `rgb[k]` is 0xRRGGBB; `order` lists point indices (later ones paint over earlier). */
  function splatDisks(ctx, xs, ys, rgb, order, radius, alpha, region) {
    const dpr = window.devicePixelRatio || 1;
    const X0 = Math.floor(region.x * dpr), Y0 = Math.floor(region.y * dpr);
    const W = Math.ceil(region.w * dpr), H = Math.ceil(region.h * dpr);
    if (W <= 0 || H <= 0) return;
    const img = ctx.getImageData(X0, Y0, W, H);
    const d = img.data;
    const R = radius * dpr, K = Math.ceil(R + 0.5);
    // The disk's pixels with their coverage (times alpha), as offsets from the centre pixel.
    const di = [], dj = [], cover = [];
    for (let j = -K; j <= K; j++) {
      for (let i = -K; i <= K; i++) {
        const a = Math.max(0, Math.min(1, R + 0.5 - Math.hypot(i, j))) * alpha;
        if (a > 0) { di.push(i); dj.push(j); cover.push(a); }
      }
    }
    const m = cover.length;
    const offs = Int32Array.from(di, (i, k) => 4 * (dj[k] * W + i));
    const mask = Float32Array.from(cover);
    for (let q = 0; q < order.length; q++) {
      const k = order[q];
      const cx = Math.round(xs[k] * dpr) - X0, cy = Math.round(ys[k] * dpr) - Y0;
      if (cx < -K || cy < -K || cx >= W + K || cy >= H + K) continue;
      const c = rgb[k], cr = (c >> 16) & 255, cg = (c >> 8) & 255, cb = c & 255;
      const centre = 4 * (cy * W + cx);
      const inside = cx >= K && cy >= K && cx < W - K && cy < H - K;
      for (let p = 0; p < m; p++) {
        if (!inside) {
          const x = cx + di[p], y = cy + dj[p];
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
        }
        const o = centre + offs[p], a = mask[p];
        d[o] += (cr - d[o]) * a; d[o + 1] += (cg - d[o + 1]) * a; d[o + 2] += (cb - d[o + 2]) * a;
      }
    }
    ctx.putImageData(img, X0, Y0);
  }

  /** Size a canvas to its CSS box at the device pixel ratio; returns its 2-D context in CSS pixels. */
  function fitCanvas(el) {
    const dpr = window.devicePixelRatio || 1;
    const w = el.clientWidth, h = el.clientHeight;
    if (el.width !== Math.round(w * dpr) || el.height !== Math.round(h * dpr)) {
      el.width = Math.round(w * dpr); el.height = Math.round(h * dpr);
    }
    const c = el.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, h);
    c.font = "11px system-ui, sans-serif";
    return { c: c, w: w, h: h };
  }

  /** Save a canvas as a PNG file (its pixels, on a white background). */
  function downloadPng(el, name) {
    const out = document.createElement("canvas");
    out.width = el.width; out.height = el.height;
    const c = out.getContext("2d");
    c.fillStyle = "#fff"; c.fillRect(0, 0, out.width, out.height);
    c.drawImage(el, 0, 0);
    const a = document.createElement("a");
    a.href = out.toDataURL("image/png");
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    return a.href;
  }

  window.nasCharts = {
    viridis: viridis,
    niceTicks: niceTicks,
    logTicks: logTicks,
    paretoFront: paretoFront,
    referenceLatency: referenceLatency,
    hypervolume2d: hypervolume2d,
    miniChart: miniChart,
    fitCanvas: fitCanvas,
    splatDisks: splatDisks,
    downloadPng: downloadPng,
  };
})();
