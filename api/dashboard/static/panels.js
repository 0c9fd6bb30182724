/* The trial panel and the scaling table of the job page (rendering only), and the accessors of a trial's
 * fields that the page's parts share. A trial is an API TrialPublic/TrialDetail or a row of the dashboard's
 * compact /points columns. The per-stage table shows the server's decoding of the block strings
 * (GET /trials/{id} -> blocks): the dashboard has no block-string parser. */
(function () {
  "use strict";
  const nas = window.nas;
  const { miniChart } = window.nasCharts;

  function latencyOf(t) {
    if (t.latency_ms != null) return t.latency_ms;
    return t.latency && t.latency.median_ms != null ? t.latency.median_ms : null;
  }
  function blocksOf(t) {
    if (t.block_strings) return t.block_strings;
    if (t.architecture && t.architecture.block_strings) return t.architecture.block_strings;
    return [];
  }
  function blocksText(t) { return blocksOf(t).map((s) => s.join(" ")).join(" | "); }
  function resolutionOf(t) {
    if (t.resolution != null) return t.resolution;
    return t.architecture && t.architecture.resolution != null ? t.architecture.resolution : null;
  }
  function paramsOf(t) {
    if (typeof t.params_count === "number") return t.params_count;
    return typeof t.params === "number" ? t.params : null;
  }

  /** A detector's summary line (levels, BiFPN, heads, anchors), or null for a classifier. */
  function detectorOf(t) {
    const a = t.architecture;
    if (!a || !a.backbone) return null;
    return "P" + a.min_level + "-P" + a.max_level + " · BiFPN " + a.fpn_channels + " ch x" + a.fpn_repeats +
      " (" + a.fpn_weighting + ") · heads x" + a.head_repeats + " · anchors " + a.num_scales + " scales x " +
      (a.aspect_ratios || []).length + " ratios, size " + a.anchor_scale + " · " + a.num_classes + " classes";
  }

  /** Fill the trial panel with a trial's detail (`reward`: under the page's T, alpha, beta; `metric`: what
   * the accuracy is, "accuracy" or a detection job's "mAP"). */
  function renderTrial(t, reward, metric) {
    const label = metric || "accuracy";
    document.getElementById("trial-title").textContent = "Trial #" + t.number;
    document.getElementById("trial-hint").classList.add("hidden");
    const body = document.getElementById("trial-body");
    body.classList.remove("hidden");
    const lat = t.latency || {};
    const kv = [
      ["id", t.id], ["state", t.state], [label === "mAP" ? "mAP@[.5:.95]" : label, nas.fmtPct(t.accuracy)],
      ["latency", nas.fmtNum(latencyOf(t), 3) + " ms" + (lat.device ? " on " + lat.device : "")],
      ["reward (page T, α, β)", nas.fmtNum(reward, 4)],
      ["resolution", resolutionOf(t) != null ? resolutionOf(t) + " px" : "–"],
      ["params", nas.fmtCount(paramsOf(t))], ["MACs", nas.fmtCount(t.macs)],
      ["epochs", t.epochs_run != null ? t.epochs_run : (t.epochs || []).length],
    ];
    document.getElementById("epoch-title").textContent = "Validation " + label + " per epoch";
    const detector = detectorOf(t);
    if (detector) kv.push(["detector", detector]);
    if (t.error) kv.push(["error", t.error]);
    document.getElementById("trial-kv").innerHTML = kv.map(([k, v]) =>
      "<dt>" + nas.escapeHtml(k) + "</dt><dd>" + nas.escapeHtml(v) + "</dd>").join("");

    // The server decodes the block strings (GET /trials/{id} -> blocks): no block-string parser here.
    const rows = [];
    const strings = blocksOf(t);
    (t.blocks || []).forEach((stage, si) => stage.forEach((b, bi) => {
      const text = (strings[si] || [])[bi] || "";
      rows.push("<tr><td>" + si + "." + bi + '</td><td class="mono">' +
        nas.escapeHtml(text).split("_").join("_<wbr>") + "</td><td>" + nas.escapeHtml(b.type) +
        '</td><td class="num">' + b.repeats + "</td><td>" + nas.escapeHtml(b.kernel_sizes.join("/")) +
        '</td><td class="num">' + b.expansion + '</td><td class="num">' + b.stride + '</td><td class="num">' +
        b.out_channels + '</td><td class="num">' + (b.se_ratio != null ? b.se_ratio : "–") + "</td><td>" +
        nas.escapeHtml(b.act || "default") + "</td></tr>");
    }));
    document.querySelector("#stage-table tbody").innerHTML = rows.join("");

    const epochs = t.epochs || t.epoch_reports || [];
    miniChart(document.getElementById("epoch-chart"), epochs.map((e) => e.epoch),
      epochs.map((e) => e.val_accuracy), { xlabel: "epoch", color: "#2d6cdf", line: true,
        fmt: (y) => (100 * y).toFixed(1) + "%" });
    const samples = t.latency_samples || lat.samples_ms || [];
    // latency.mode predict: nothing was measured; predict-then-measure: the prediction made before training
    const predicted = lat.runtime === "predicted"
      ? "predicted (not measured): " + nas.fmtNum(lat.median_ms, 3) + " ms ± " + nas.fmtNum(lat.std_ms, 3) + " ms"
      : lat.predicted_ms != null ? " · predicted before training " + nas.fmtNum(lat.predicted_ms, 3) + " ms" : "";
    document.getElementById("latency-summary").textContent = lat.runtime === "predicted" ? predicted
      : samples.length
        ? samples.length + " samples · median " + nas.fmtNum(lat.median_ms != null ? lat.median_ms : latencyOf(t), 3) +
          " ms · p90 " + nas.fmtNum(lat.p90_ms, 3) + " ms" + predicted
        : "no latency samples recorded";
    miniChart(document.getElementById("latency-chart"), samples.map((_, i) => i), samples,
      { xlabel: "repeat", color: "#d9480f", line: false, fmt: (y) => y.toFixed(2) + " ms" });
  }

  function renderScaling(rows, note) {
    const panel = document.getElementById("scaling-panel");
    if (!Array.isArray(rows) || !rows.length) { panel.classList.add("hidden"); return; }
    document.getElementById("scaling-note").textContent = note || "";
    // The columns a reader compares; the multipliers follow from alpha/beta/gamma and phi (the API has them all).
    const shown = ["phi", "alpha", "beta", "gamma", "resolution", "flops_planned", "macs_ratio", "params_ratio",
      "accuracy", "latency_ms", "reward", "params", "macs", "state"];
    const cols = shown.filter((k) => k in rows[0]);
    document.querySelector("#scaling-table thead").innerHTML =
      "<tr>" + cols.map((c) => "<th>" + nas.escapeHtml(c) + "</th>").join("") + "</tr>";
    document.querySelector("#scaling-table tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => {
      const v = r[c];
      return typeof v === "number" ? '<td class="num">' + (Number.isInteger(v) ? v : v.toFixed(4)) + "</td>"
        : "<td>" + nas.escapeHtml(v) + "</td>";
    }).join("") + "</tr>").join("");
    panel.classList.remove("hidden");
  }

  /** A final job's fidelity (GET /jobs/{id}/fidelity): summary, proxy-vs-final scatter, per-network table. */
  function renderFidelity(f) {
    const panel = document.getElementById("fidelity-panel");
    const num = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
    document.getElementById("fidelity-summary").textContent =
      "source job " + f.source_job_id + " · " + f.n + " finished of " + f.networks.length +
      " · Kendall τ " + num(f.kendall_tau, 3) + " · Spearman ρ " + num(f.spearman, 3) +
      " · top-1 agrees " + (f.top1_agrees === null ? "–" : f.top1_agrees ? "yes" : "no") +
      " · regret " + num(f.regret, 4);
    const done = f.networks.filter((n) => n.proxy_accuracy !== null && n.final_accuracy !== null);
    const chart = document.getElementById("fidelity-chart");
    miniChart(chart, done.map((n) => n.proxy_accuracy), done.map((n) => n.final_accuracy),
      { xlabel: "proxy accuracy", color: "#1c7ed6", line: false, fmt: (y) => (100 * y).toFixed(1) + " %" });
    chart.dataset.points = String(done.length);
    const cols = ["source_trial_id", "final_trial_id", "state", "proxy_accuracy", "final_accuracy", "proxy_reward",
      "final_reward", "latency_ms"];
    document.querySelector("#fidelity-table thead").innerHTML =
      "<tr>" + cols.map((c) => "<th>" + nas.escapeHtml(c) + "</th>").join("") + "</tr>";
    document.querySelector("#fidelity-table tbody").innerHTML = f.networks.map((n) => "<tr>" + cols.map((c) => {
      const v = n[c];
      return typeof v === "number" ? '<td class="num">' + (Number.isInteger(v) ? v : v.toFixed(4)) + "</td>"
        : "<td>" + nas.escapeHtml(v === null || v === undefined ? "–" : v) + "</td>";
    }).join("") + "</tr>").join("");
    panel.classList.remove("hidden");
  }

  window.nasPanels = {
    trial: { latencyOf: latencyOf, blocksOf: blocksOf, blocksText: blocksText, resolutionOf: resolutionOf,
      paramsOf: paramsOf },
    renderTrial: renderTrial,
    renderScaling: renderScaling,
    renderFidelity: renderFidelity,
  };
})();
