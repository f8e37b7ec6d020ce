// The jobs panel: polls /api/v1/jobs/ and shows queued and running jobs with a progress bar,
// and for a while the outcome of the jobs it saw running. Polls faster while something runs,
// pauses while the page is hidden, backs off on errors.

import { api, rows } from "./config.js";
import { formatNumber, h } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
const ACTIVE_POLL_MS = 3000;
const IDLE_POLL_MS = 20000;
const MAX_BACKOFF_MS = 120000;
const SHOW_FINISHED_MS = 60000;

export function createJobs(url) {
  const panel = document.getElementById("jobs-panel");
  const list = document.getElementById("jobs-list");
  const seen = new Map(); // job id → when it was last seen active
  let timer = null;
  let failures = 0;
  let stopped = !url;

  function item(job) {
    const active = ACTIVE.has(job.status);
    const progress = Math.max(0, Math.min(1, Number(job.progress) || 0));
    return h(
      "li",
      { class: `job ${job.status}`, "data-job-id": job.id, "data-status": job.status },
      h(
        "div",
        { class: "job-title" },
        h("strong", {}, job.kind),
        h("span", { class: "job-status" }, active ? `${job.status} · ${formatNumber(progress * 100, 0)} %` : job.status),
      ),
      active || job.status === "succeeded"
        ? h("progress", { max: 1, value: progress, "aria-label": `${job.kind} progress` })
        : null,
      job.message || job.error ? h("p", { class: "muted job-message" }, job.error || job.message) : null,
    );
  }

  function render(jobs) {
    const now = Date.now();
    const shown = jobs.filter((job) => {
      if (ACTIVE.has(job.status)) {
        seen.set(job.id, now);
        return true;
      }
      const last = seen.get(job.id);
      return last !== undefined && now - last < SHOW_FINISHED_MS;
    });
    list.replaceChildren(...shown.map(item));
    panel.hidden = shown.length === 0;
    return shown.some((job) => ACTIVE.has(job.status));
  }

  async function poll() {
    timer = null;
    if (stopped) return;
    if (document.hidden) {
      schedule(IDLE_POLL_MS);
      return;
    }
    let delay = IDLE_POLL_MS;
    try {
      const page = await api(`${url}?ordering=-created_at&page_size=20`);
      failures = 0;
      if (render(rows(page))) delay = ACTIVE_POLL_MS;
    } catch (error) {
      if (error.status === 403 || error.status === 404) {
        stopped = true; // this user (or server) has no jobs API: stop asking
        return;
      }
      failures += 1;
      delay = Math.min(MAX_BACKOFF_MS, IDLE_POLL_MS * 2 ** failures);
    }
    schedule(delay);
  }

  function schedule(delay) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(poll, delay);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !stopped) schedule(0);
  });

  return {
    start: () => schedule(0),
    refresh: () => schedule(0),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
