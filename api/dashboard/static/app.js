/* Jobs list: state, progress and best reward of every job, refreshed every few seconds. */
(function () {
  "use strict";
  const nas = window.nas;
  const PAGE = 50;
  const REFRESH_MS = 5000;
  let offset = 0;
  let total = 0;
  let timer = null;

  function jobName(job) { return job.name || (job.spec && job.spec.name) || job.id; }
  function jobKind(job) { return job.kind || (job.spec && job.spec.kind) || "search"; }
  function jobStrategy(job) {
    return job.strategy || (job.spec && job.spec.strategy && job.spec.strategy.name) || "–";
  }
  function progressOf(job) {
    const c = job.counters || {};
    const done = (c.completed || 0) + (c.pruned || 0) + (c.failed || 0);
    const max = job.max_trials || (job.spec && job.spec.budget && job.spec.budget.max_trials) || c.total || 0;
    return { done: done, total: max };
  }

  function row(job) {
    const p = progressOf(job);
    const pct = p.total ? Math.min(100, (100 * p.done) / p.total) : 0;
    const href = "/dashboard/jobs/" + encodeURIComponent(job.id);
    return '<tr class="clickable" data-href="' + href + '">' +
      '<td class="num">' + nas.escapeHtml(job.id) + "</td>" +
      '<td><a href="' + href + '">' + nas.escapeHtml(jobName(job)) + "</a></td>" +
      "<td>" + nas.stateBadge(job.state) + "</td>" +
      "<td>" + nas.escapeHtml(jobKind(job)) + "</td>" +
      "<td>" + nas.escapeHtml(jobStrategy(job)) + "</td>" +
      '<td><span class="progress"><span style="width:' + pct.toFixed(1) + '%"></span></span> ' +
      p.done + " / " + (p.total || "?") + "</td>" +
      '<td class="num">' + nas.fmtNum(job.best_reward, 4) + "</td>" +
      "<td>" + nas.fmtTime(job.created_at) + "</td></tr>";
  }

  async function load() {
    const err = document.getElementById("jobs-error");
    const state = document.getElementById("state-filter").value;
    const q = "?limit=" + PAGE + "&offset=" + offset + (state ? "&state=" + encodeURIComponent(state) : "");
    try {
      const page = await nas.api("/jobs" + q);
      total = page.total;
      document.querySelector("#jobs-table tbody").innerHTML = page.items.map(row).join("") ||
        '<tr><td colspan="8" class="muted">No jobs yet. Submit one with <code>nas job submit FILE.yaml</code>.</td></tr>';
      document.getElementById("jobs-summary").textContent = total + " job(s)";
      document.getElementById("page-info").textContent = total
        ? (offset + 1) + "–" + Math.min(offset + PAGE, total) + " of " + total : "";
      document.getElementById("prev-page").disabled = offset === 0;
      document.getElementById("next-page").disabled = offset + PAGE >= total;
      err.classList.add("hidden");
    } catch (e) {
      err.textContent = e.message;
      err.classList.remove("hidden");
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => { await load(); schedule(); }, REFRESH_MS);
  }

  document.getElementById("state-filter").addEventListener("change", () => { offset = 0; load(); });
  document.getElementById("prev-page").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  document.getElementById("next-page").addEventListener("click", () => { offset += PAGE; load(); });
  document.querySelector("#jobs-table tbody").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-href]");
    if (tr && ev.target.tagName !== "A") window.location.href = tr.dataset.href;
  });
  nas.initLogin(load);
  load().then(schedule);
})();
