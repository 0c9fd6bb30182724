/* Pure drawing and analysis helpers of the job page (no page state): colour map, axis ticks, the 2-D Pareto
 * front, block-string decoding for the stage table, and the small line/dot charts of the trial panel. */
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
  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const step0 = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  /** Non-dominated set (maximise accuracy, minimise latency) of `points`, latency ascending.
   *  A point is dominated when another is at least as good in both and better in one; exact duplicates
   *  therefore stay on the front together (as in the server's incremental front). */
  function paretoFront(points, latencyOf) {
    const done = points.slice();
    done.sort((a, b) => (latencyOf(a) - latencyOf(b)) || (b.accuracy - a.accuracy));
    const front = [];
    let bestBefore = -Infinity;  // best accuracy among strictly faster points
    for (let i = 0; i < done.length;) {
      const lat = latencyOf(done[i]);
      const groupMax = done[i].accuracy;
      let j = i;
      for (; j < done.length && latencyOf(done[j]) === lat; j++) {
        if (done[j].accuracy === groupMax && groupMax > bestBefore) front.push(done[j]);
      }
      if (groupMax > bestBefore) bestBefore = groupMax;
      i = j;
    }
    return front;
  }

  function decodeBlock(s) {
    const out = { type: "", repeats: 1, kernel: "3", exp: 1, stride: 1, out: "", se: "" };
    s.split("_").forEach((tok, i) => {
      if (i === 0) { out.type = tok; return; }
      let m;
      if ((m = /^se(\d+(\.\d+)?)$/.exec(tok))) out.se = m[1];
      else if (tok === "noskip" || tok === "mexp") { /* flags */ }
      else if ((m = /^r(\d+)$/.exec(tok))) out.repeats = +m[1];
      else if ((m = /^k([\d.]+)$/.exec(tok))) out.kernel = m[1].split(".").join("/");
      else if ((m = /^s(\d+)$/.exec(tok))) out.stride = +m[1][0];
      else if ((m = /^e(\d+(\.\d+)?)$/.exec(tok))) out.exp = +m[1];
      else if ((m = /^c(\d+)$/.exec(tok))) out.out = +m[1];
    });
    return out;
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

  window.nasCharts = {
    viridis: viridis,
    niceTicks: niceTicks,
    paretoFront: paretoFront,
    decodeBlock: decodeBlock,
    miniChart: miniChart,
  };
})();
