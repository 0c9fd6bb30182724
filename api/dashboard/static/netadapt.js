/* The NetAdapt panel of a `kind: netadapt` job's page (GET /api/v1/jobs/{id}/netadapt): a summary line (status,
 * note, budget, base -> network so far), one row per finished step (the reduction kept, its measured latency
 * and accuracy, their changes and the accuracy change per millisecond saved) and a row for the step in
 * progress. Every number comes from the server's report (NetAdaptStrategy.report): nothing is recomputed here.
 * Trial ids are buttons that open the trial in the page's trial panel. */
(function () {
  "use strict";
  const nas = window.nas;

  function reduction(r) {
    if (r.kind == null) return "base network";
    return "stage " + r.stage + " " + r.kind + " ×" + r.notches;
  }
  function signed(x, digits, scale) {
    if (x == null || !isFinite(x)) return "–";
    const v = (scale || 1) * x;
    return (v > 0 ? "+" : "") + v.toFixed(digits);
  }
  function trialButton(id) {
    return id == null ? "–" : '<button type="button" class="link" data-trial-id="' + nas.escapeHtml(id) + '">' +
      nas.escapeHtml(id) + "</button>";
  }
  function cells(values) {
    return values.map(([v, num]) => (num ? '<td class="num">' : "<td>") + v + "</td>").join("");
  }

  function summary(r) {
    const parts = [nas.stateBadge(r.status)];
    if (r.budget_ms != null) {
      parts.push("budget " + nas.fmtNum(r.budget_ms, 3) + " ms" +
        (r.budget_fraction != null ? " (" + nas.escapeHtml(r.budget_fraction) + " × base)" : ""));
    }
    if (r.base) {
      const cur = r.current || {};
      parts.push("base " + nas.fmtNum(r.base.latency_ms, 3) + " ms · " + nas.fmtPct(r.base.accuracy) + " → now " +
        nas.fmtNum(cur.latency_ms, 3) + " ms · " + nas.fmtPct(cur.accuracy));
    }
    if (r.note) parts.push(nas.escapeHtml(r.note));
    return parts.join(" · ");
  }

  /** The base-scale latency, with the trial's own measurement and its parent's beside it as a tooltip. */
  function measuredTitle(c) {
    if (c.measured_ms == null) return nas.fmtNum(c.latency_ms, 3);
    const beside = c.reference_ms != null ? ", its parent " + nas.fmtNum(c.reference_ms, 3) + " ms beside it" : "";
    return '<span title="' + nas.escapeHtml("measured " + nas.fmtNum(c.measured_ms, 3) + " ms in its trial" + beside) +
      '">' + nas.fmtNum(c.latency_ms, 3) + "</span>";
  }

  function stepRow(s) {
    const c = s.chosen;
    if (!c) {
      return '<tr data-step="' + nas.escapeHtml(s.step) + '">' + cells([[nas.escapeHtml(s.step), true],
        [nas.fmtNum(s.target_ms, 3), true], ['<span class="muted">no progress</span>'], ["–", true], ["–", true],
        ["–", true], ["–", true], ["–", true], [nas.escapeHtml(s.completed + " / " + s.asked), true], ["–"]]) + "</tr>";
    }
    return '<tr data-step="' + nas.escapeHtml(s.step) + '">' + cells([[nas.escapeHtml(s.step), true],
      [nas.fmtNum(s.target_ms, 3), true], [nas.escapeHtml(reduction(c))], [measuredTitle(c), true],
      [signed(c.delta_latency_ms, 3), true], [nas.fmtPct(c.accuracy), true], [signed(c.delta_accuracy, 2, 100), true],
      [signed(c.score, 4), true], [nas.escapeHtml(s.completed + " / " + s.asked), true], [trialButton(c.trial_id)]]) +
      "</tr>";
  }

  /** The step in progress: its proposals (estimated, then measured once trained) in one row. */
  function progressRow(r) {
    const ps = r.proposals;
    const asked = ps.filter((p) => p.state !== "planned").length;
    const done = ps.filter((p) => p.state !== "planned" && p.state !== "pending").length;
    const tried = ps.map((p) => {
      const measured = p.latency_ms != null ? nas.fmtNum(p.latency_ms, 3) + " ms, " + nas.fmtPct(p.accuracy)
        : p.estimated_ms != null ? "est. " + nas.fmtNum(p.estimated_ms, 3) + " ms" : null;
      return nas.escapeHtml(reduction(p)) + " (" + (measured ? measured + ", " : "") + nas.escapeHtml(p.state) + ")";
    }).join("<br>");
    const trials = ps.filter((p) => p.trial_id != null).map((p) => trialButton(p.trial_id)).join(" ");
    return '<tr class="in-progress">' + cells([[nas.escapeHtml(r.step), true], [nas.fmtNum(r.target_ms, 3), true],
      ['<span class="muted">in progress:</span><br>' + tried], ["–", true], ["–", true], ["–", true], ["–", true],
      ["–", true], [done + " / " + asked, true], [trials || "–"]]) + "</tr>";
  }

  /** Show a job's NetAdapt report; hide the panel for a report without a status (not a netadapt job). */
  function render(r) {
    const panel = document.getElementById("netadapt-panel");
    if (!r || r.status == null) { panel.classList.add("hidden"); return; }
    document.getElementById("netadapt-summary").innerHTML = summary(r);
    const rows = r.steps.map(stepRow);
    if (r.proposals.length) rows.push(progressRow(r));
    document.querySelector("#netadapt-table tbody").innerHTML = rows.join("");
    panel.dataset.status = r.status;
    panel.classList.remove("hidden");
  }

  /** Wire the panel to a job page: `load()` re-fetches the report (called on every job event); one request at a
   *  time, and a call during one fetches once more after it, so the last update is never dropped. */
  function attach(page) {
    let busy = false, again = false;
    document.querySelector("#netadapt-table tbody").addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-trial-id]");
      if (b) page.selectTrial(b.dataset.trialId);
    });
    async function load() {
      if (busy) { again = true; return; }
      busy = true;
      try {
        render(await nas.api("/jobs/" + encodeURIComponent(page.jobId) + "/netadapt"));
      } catch (_) { /* optional panel */ } finally { busy = false; }
      if (again) { again = false; load(); }
    }
    return { load: load };
  }

  window.nasNetadapt = { attach: attach, render: render };
})();
