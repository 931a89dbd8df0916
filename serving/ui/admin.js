// Operator console: the served model's manifest, its validation against the baselines and the model
// search (GET /v1/model); request counts, rates and latencies (GET /metrics, every 5 s); with the
// admin key (X-API-Key header): exposure of regions and merchants in the served lists
// (GET /v1/admin/exposure), each campaign's delivery over time against its plan
// (GET /v1/admin/campaigns) and the harvest lots at risk across merchants (GET /v1/admin/lots).
"use strict";

const CHART_CONFIG = { responsive: true, displaylogo: false };
const share = value => value == null ? "n/a" : value.toFixed(3);

function rowsOf(pairs) {
  return pairs.map(([name, value]) => `<tr><th>${escapeText(name)}</th><td>${escapeText(value)}</td></tr>`).join("");
}

function cells(values) {
  return `<tr>${values.map(value => `<td>${escapeText(value)}</td>`).join("")}</tr>`;
}

async function model() {
  const manifest = await api("/v1/model");
  const validation = manifest.validation || {};
  document.querySelector("#model tbody").innerHTML = rowsOf([
    ["version", manifest.model_version], ["trained", manifest.created_at], ["default niche knob", manifest.default_niche],
    ["components", (validation.components || []).join(", ")]]);
  const curve = validation.niche_curve || [];
  const atKnob = knob => curve.find(point => point.niche === knob) || {};
  const served = atKnob(manifest.default_niche), plain = atKnob(0);
  const rows = [[`served blend, niche knob ${manifest.default_niche}`, served["ndcg@10"], served.long_tail_share],
                ["served blend, niche knob 0", plain["ndcg@10"], plain.long_tail_share]];
  for (const [name, ndcg] of Object.entries(validation["component_ndcg@10"] || {}))
    rows.push([`${name} alone${name === "popularity" ? " (popularity per city tier)" : ""}`, ndcg, null]);
  document.querySelector("#baselines tbody").innerHTML = rows.map(([name, ndcg, tail]) =>
    cells([name, ndcg == null ? "n/a" : ndcg.toFixed(4), share(tail)])).join("");
  if (curve.length) {
    const knobs = curve.map(point => point.niche);
    Plotly.newPlot("niche-chart", [
      { x: knobs, y: curve.map(point => point["ndcg@10"]), name: "NDCG@10", mode: "lines+markers" },
      { x: knobs, y: curve.map(point => point.long_tail_share), name: "long-tail share", mode: "lines+markers", yaxis: "y2" }],
      { margin: { t: 30, r: 60 }, title: { text: "Accuracy and long tail per niche knob" },
        xaxis: { title: { text: "niche knob" } }, yaxis: { title: { text: "NDCG@10" } },
        yaxis2: { title: { text: "long-tail share" }, overlaying: "y", side: "right" },
        shapes: [{ type: "line", x0: manifest.default_niche, x1: manifest.default_niche, yref: "paper", y0: 0, y1: 1,
                   line: { dash: "dot" } }],
        legend: { orientation: "h", y: -0.25 } }, CHART_CONFIG);
  }
  const best = new Map();  // each candidate once (model, parameters and weighting), at its best score
  for (const trial of ((validation.search || {}).trials || []).filter(trial => trial.status === "ok")) {
    const key = [candidate(trial), weighting(trial.weighting || {})].join(" on ");
    if (!best.has(key) || best.get(key).ndcg < trial.ndcg) best.set(key, trial);
  }
  const top = [...best.values()].sort((a, b) => b.ndcg - a.ndcg).slice(0, 15);
  document.querySelector("#search tbody").innerHTML = top.map(trial =>
    cells([candidate(trial), weighting(trial.weighting || {}), trial.ndcg.toFixed(4),
           trial.long_tail_share.toFixed(3)])).join("");
}

const candidate = trial => `${trial.family} ${JSON.stringify(trial.params || {})}`;

// The purchase weighting a candidate was fitted on: its scheme, half-life and BM25's parameters.
function weighting(w) {
  const parts = [w.scheme || "?"];
  if (w.half_life_days) parts.push(`half-life ${w.half_life_days} d`);
  if (w.scheme === "bm25") parts.push(`k1 ${w.bm25_k1}, b ${w.bm25_b}`);
  return parts.join(", ");
}

let previousCounts = null;

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
  const now = performance.now();
  const rate = (route, count) => previousCounts && previousCounts.counts.has(route)
    ? ((count - previousCounts.counts.get(route)) * 1000 / (now - previousCounts.at)).toFixed(1) : "…";
  document.querySelector("#traffic tbody").innerHTML = [...totals.entries()].filter(([, e]) => e.count > 0)
    .map(([route, e]) => cells([route, e.count, rate(route, e.count), (1000 * e.sum / e.count).toFixed(2)])).join("");
  previousCounts = { at: now, counts: new Map([...totals.entries()].map(([route, e]) => [route, e.count])) };
}

async function exposure(key) {
  const answer = await api("/v1/admin/exposure", { headers: { "X-API-Key": key } });
  document.querySelector("#exposure tbody").innerHTML = [
    cells([`regions (${answer.region.groups.length})`, share(answer.region.gini), share(answer.region.least_fifth_share)]),
    cells([`merchants (${answer.merchant.groups.length})`, share(answer.merchant.gini),
           share(answer.merchant.least_fifth_share)]),
    cells([`long-tail share of the slots, ${answer.buyers} buyers' top ${answer.k}`, share(answer.long_tail_share), ""])]
    .join("");
  // one row of bars per region, its whole name on the left (wrapped after its commas), as tall as they need
  const regions = answer.region.groups, names = regions.map(r => wrapped(r.group));
  Plotly.newPlot("region-chart", [
    { type: "bar", orientation: "h", y: names, x: regions.map(r => r.slot_share), name: "share of the top-10 slots" },
    { type: "bar", orientation: "h", y: names, x: regions.map(r => r.sales_share), name: "share of the purchases" }],
    { barmode: "group", height: 160 + 40 * regions.length, margin: { t: 40, r: 10, b: 110 },
      title: { text: "Regions: shown against bought" }, xaxis: { title: { text: "share" } },
      yaxis: { automargin: true, autorange: "reversed", tickfont: { size: 11 } },
      legend: { orientation: "h", x: 0, y: 0, yref: "container", yanchor: "bottom" } }, CHART_CONFIG);
  const merchants = answer.merchant.groups;
  const shown = merchants.length > 20 ? [...merchants.slice(0, 10), ...merchants.slice(-10)] : merchants;
  document.querySelector("#merchants tbody").innerHTML = shown.map(m =>
    cells([m.group, share(m.slot_share), share(m.sales_share)])).join("");
}

// a label on lines of at most WRAP characters, broken after its commas (a longer part keeps its line)
const WRAP = 24;
function wrapped(label) {
  const lines = [];
  for (const part of label.split(", ")) {
    if (lines.length && lines[lines.length - 1].length + 2 + part.length <= WRAP) lines[lines.length - 1] += `, ${part}`;
    else lines.push(part);
  }
  return lines.join(",<br>");
}

async function campaigns(key) {
  const answer = await api("/v1/admin/campaigns", { headers: { "X-API-Key": key } });
  const list = answer.campaigns;
  document.querySelector("#campaigns tbody").innerHTML = list.map(c =>
    cells([`${c.campaign.campaign_id}: ${c.campaign.name}`, c.status, c.delivered, c.planned.toFixed(0),
           c.multiplier ?? "n/a", c.buyers_reached])).join("");
  const regions = new Map();
  for (const c of list) for (const [region, count] of Object.entries(c.per_region)) regions.set(region, (regions.get(region) || 0) + count);
  document.querySelector("#regions tbody").innerHTML = [...regions.entries()].sort((a, b) => b[1] - a[1])
    .map(([region, count]) => cells([region, count])).join("");
  // charted: the running campaigns (a finished one would stretch the time axis), else the latest
  const running = list.filter(c => c.status === "running");
  const latest = list.slice().sort((a, b) => Date.parse(b.campaign.start) - Date.parse(a.campaign.start)).slice(0, 1);
  const charted = running.length ? running : latest;
  const traces = charted.flatMap(c => [
    { x: c.delivery_curve.map(p => p.at), y: c.delivery_curve.map(p => p.planned), mode: "lines",
      line: { dash: "dash" }, name: `${c.campaign.campaign_id} plan` },
    { x: c.delivery_curve.map(p => p.at), y: c.delivery_curve.map(p => p.delivered), mode: "lines+markers",
      name: `${c.campaign.campaign_id} delivered` }]);
  const which = running.length ? "running" : charted.map(c => `latest, ${c.status}`).join("") || "no campaign";
  Plotly.newPlot("campaign-chart", traces, { margin: { t: 30, r: 10 },
                                             title: { text: `Delivered against the plan (${which})` },
                                             yaxis: { title: { text: "impressions" } },
                                             legend: { orientation: "h", y: -0.2 } }, CHART_CONFIG);
}

async function lotsAtRisk(key) {
  const answer = await api("/v1/admin/lots?at_risk=true", { headers: { "X-API-Key": key } });
  const byShortfall = answer.lots.sort((a, b) => b.projection.shortfall.p50 - a.projection.shortfall.p50);
  document.querySelector("#lots-at-risk tbody").innerHTML = byShortfall.length ? byShortfall.map(lot =>
    cells([lot.merchant_id, lot.lot_id, lot.items.length, lot.units, lot.units_sold, lot.remaining,
           lot.sell_by.slice(0, 10), lot.projection.expected.p50.toFixed(1), lot.projection.shortfall.p50.toFixed(1)]))
    .join("") : `<tr><td colspan="9">No lot at risk.</td></tr>`;
}

async function open(event) {
  event.preventDefault();
  const key = document.getElementById("key").value;
  const failed = (await Promise.allSettled([exposure(key), campaigns(key), lotsAtRisk(key)]))
    .filter(outcome => outcome.status === "rejected").map(outcome => outcome.reason);
  const refused = failed.find(error => error.status === 401 || error.status === 403);
  showMessage(refused ? "The admin key is not accepted." : failed.map(error => error.message).join("; "));
}

document.getElementById("signin").addEventListener("submit", open);
Promise.all([model(), traffic()]).catch(error => showMessage(error.message));
setInterval(() => traffic().catch(error => showMessage(error.message)), 5000);
