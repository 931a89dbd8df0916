// Operator console: the served model's manifest and model-selection scoreboard (GET /v1/model),
// request counts and latencies (GET /metrics), and the campaigns' delivery against their plans
// (GET /v1/admin/campaigns, admin key in the X-API-Key header).
"use strict";

function rowsOf(pairs) {
  return pairs.map(([name, value]) => `<tr><th>${escapeText(name)}</th><td>${escapeText(value)}</td></tr>`).join("");
}

async function model() {
  const manifest = await api("/v1/model");
  const validation = manifest.validation || {};
  document.querySelector("#model tbody").innerHTML = rowsOf([
    ["version", manifest.model_version], ["trained", manifest.created_at], ["default niche knob", manifest.default_niche],
    ["validation NDCG@10 (blend)", (validation["blend_ndcg@10"] || {}).all], ["components", Object.keys(
      (manifest.parameters && manifest.parameters.components) || {}).join(", ")]]);
  const trials = ((validation.search || {}).trials || []).filter(trial => trial.status === "ok")
    .sort((a, b) => b.ndcg - a.ndcg).slice(0, 15);
  document.querySelector("#search tbody").innerHTML = trials.map(trial =>
    `<tr><td>${escapeText(trial.family)} ${escapeText(JSON.stringify(trial.params || {}))}</td>` +
    `<td>${trial.ndcg.toFixed(4)}</td><td>${trial.long_tail_share.toFixed(3)}</td></tr>`).join("");
}

async function traffic() {
  const text = await api("/metrics");
  const totals = new Map();
  for (const line of text.split("\n")) {
    const match = line.match(/^(\w+)_(count|sum)\{(.*)\} ([0-9.eE+-]+)$/);  // route labels hold braces
    if (!match || !match[1].includes("duration")) continue;
    const route = (match[3].match(/route="([^"]*)"/) || [])[1] || match[3];
    const entry = totals.get(route) || { count: 0, sum: 0 };
    entry[match[2]] += Number(match[4]);
    totals.set(route, entry);
  }
  document.querySelector("#traffic tbody").innerHTML = [...totals.entries()].filter(([, e]) => e.count > 0)
    .map(([route, e]) => `<tr><td>${escapeText(route)}</td><td>${e.count}</td><td>${(1000 * e.sum / e.count).toFixed(2)}</td></tr>`)
    .join("");
}

async function campaigns(key) {
  const answer = await api("/v1/admin/campaigns", { headers: { "X-API-Key": key } });
  const list = answer.campaigns;
  document.querySelector("#campaigns tbody").innerHTML = list.map(c =>
    `<tr><td>${escapeText(c.campaign.campaign_id)}: ${escapeText(c.campaign.name)}</td><td>${escapeText(c.status)}</td>` +
    `<td>${c.delivered}</td><td>${c.planned.toFixed(0)}</td><td>${c.multiplier ?? "n/a"}</td><td>${c.buyers_reached}</td></tr>`).join("");
  const regions = new Map();
  for (const c of list) for (const [region, count] of Object.entries(c.per_region)) regions.set(region, (regions.get(region) || 0) + count);
  document.querySelector("#regions tbody").innerHTML = [...regions.entries()].sort((a, b) => b[1] - a[1])
    .map(([region, count]) => `<tr><td>${escapeText(region)}</td><td>${count}</td></tr>`).join("");
  const traces = list.flatMap(c => [
    { x: [c.campaign.start, c.campaign.end], y: [0, c.campaign.impressions], mode: "lines", line: { dash: "dash" },
      name: `${c.campaign.campaign_id} plan (even traffic)` },
    { x: [c.campaign.start, new Date().toISOString()], y: [0, c.delivered], mode: "lines+markers",
      name: `${c.campaign.campaign_id} delivered` }]);
  Plotly.newPlot("campaign-chart", traces, { margin: { t: 10, r: 10 }, yaxis: { title: { text: "impressions" } },
                                             legend: { orientation: "h" } }, { responsive: true, displaylogo: false });
}

async function open(event) {
  event.preventDefault();
  const key = document.getElementById("key").value;
  try {
    await campaigns(key);
    showMessage("");
  } catch (error) {
    showMessage(error.status === 401 || error.status === 403 ? "The admin key is not accepted." : error.message);
  }
}

document.getElementById("signin").addEventListener("submit", open);
Promise.all([model(), traffic()]).catch(error => showMessage(error.message));
