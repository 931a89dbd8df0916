// Merchant dashboard: the merchant's published forecast (GET /v1/merchants/{id}/forecast, bearer
// token in the Authorization header) as charts with the P10-P90 band after the last year's sales
// (GET /v1/merchants/{id}/sales), per city tier (rising tiers marked) and per item, and as a CSV
// download; then its harvest lots (lots.js).
"use strict";

// One trend for items, tiers and totals, the API's (ForecastRow.recent_trend): the last 13 weeks'
// units against the 13 before; rising from +10%, falling from -10%.
const RISING = 0.10;
let rows = [];
let titles = {};
const titleOf = item => titles[item] || item;

function forecast(merchant, token, by) {
  return api(`/v1/merchants/${encodeURIComponent(merchant)}/forecast?by=${encodeURIComponent(by)}`,
             { headers: { Authorization: `Bearer ${token}` } });
}

function sumBy(list, key) {
  const totals = new Map();
  for (const row of list) totals.set(key(row), (totals.get(key(row)) || 0) + row.p50);
  return totals;
}

const COLOURS = [[192, 57, 43], [46, 109, 164], [39, 174, 96], [142, 68, 173], [211, 84, 0], [127, 140, 141]];

function band(chartId, series) {
  const traces = [];
  series.forEach(({ name, x, p10, p50, p90, sold }, index) => {
    const [r, g, b] = COLOURS[index % COLOURS.length];
    if (sold) {
      traces.push({ x: [...sold.keys()], y: [...sold.values()], mode: "lines", name: `${name} sold`,
                    line: { color: `rgb(${r},${g},${b})`, width: 1, dash: "dot" } });
    }
    if (p10) {
      traces.push({ x, y: p90, mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" });
      traces.push({ x, y: p10, mode: "lines", fill: "tonexty", fillcolor: `rgba(${r},${g},${b},0.18)`,
                    line: { width: 0 }, name: `${name} P10-P90` });
    }
    traces.push({ x, y: p50, mode: "lines+markers", line: { color: `rgb(${r},${g},${b})` }, name: `${name} P50` });
  });
  Plotly.newPlot(chartId, traces, { margin: { t: 10, r: 10 }, yaxis: { title: { text: "units" }, rangemode: "tozero" },
                                    legend: { orientation: "h" } }, { responsive: true, displaylogo: false });
}

// The recent trend of a sum of series, from their rows of one period: the summed recent levels
// against the summed levels of the 13 weeks before, the definition of each row's recent_trend.
function summedTrend(list) {
  let now = 0, before = 0;
  for (const row of list) {
    now += row.recent_level;
    before += row.previous_level;
  }
  return before > 0 ? now / before - 1 : (now > 0 ? Infinity : null);
}

function trendLabel(change) {
  if (change == null) return "no sales";
  if (change === Infinity) return '<span class="rising">new</span>';
  const text = `${change >= 0 ? "+" : "-"}${Math.abs(change * 100).toFixed(0)}%`;
  return change >= RISING ? `<span class="rising">rising (${text})</span>`
    : change <= -RISING ? `<span class="falling">falling (${text})</span>` : `steady (${text})`;
}

// The current period (the data stops inside it): sold so far plus the rest of it expected.
function currentText(period, row) {
  if (!period || !row) return "";
  return `${row.sold_so_far.toFixed(0)} sold + ${(row.p50 - row.sold_so_far).toFixed(1)} expected = ${row.p50.toFixed(1)}`;
}

const refused = error => error.status === 401 || error.status === 403;

async function showForecast(merchant, token) {
  try {
    const [total, items, tiers, sales] = await Promise.all([forecast(merchant, token, "merchant"),
      forecast(merchant, token, "item"), forecast(merchant, token, "item,city_tier"),
      api(`/v1/merchants/${encodeURIComponent(merchant)}/sales`, { headers: { Authorization: `Bearer ${token}` } })]);
    rows = items.rows;
    titles = items.titles || {};
    const soldBy = item => {  // units sold per period (all items, or one), in period order
      const weeks = new Map();
      for (const row of sales.rows) {
        if (item == null || row.item_id === item) weeks.set(row.period_start, (weeks.get(row.period_start) || 0) + row.units);
      }
      return weeks;
    };
    document.getElementById("dashboard").hidden = false;  // shown first: the charts take its width
    const x = total.rows.map(row => row.period_start);
    const current = total.current_period;
    const now = current ? current.rows[0] : null;
    const sold = soldBy(null);
    if (now) sold.set(current.period_start, now.sold_so_far);  // this period's days so far, dotted like the past
    band("total-chart", [{ name: "all items", x, p10: total.rows.map(r => r.p10), p50: total.rows.map(r => r.p50),
                           p90: total.rows.map(r => r.p90), sold }]);
    if (now) {
      Plotly.addTraces("total-chart", { x: [current.period_start], y: [now.p50], mode: "markers", type: "scatter",
        name: `this ${total.freq === "W" ? "week" : "day"}: ${current.label}`, marker: { symbol: "diamond", size: 10 },
        error_y: { type: "data", symmetric: false, array: [now.p90 - now.p50], arrayminus: [now.p50 - now.p10] } });
    }
    const totalRow = total.rows[0];
    document.getElementById("current").innerHTML = (now ? `Current ${total.freq === "W" ? "week" : "day"} (from ` +
      `${escapeText(current.period_start)}): ${escapeText(current.label)}: ${currentText(current, now)} units ` +
      `(P10-P90 ${now.p10.toFixed(1)} - ${now.p90.toFixed(1)}). The forecast starts at ${escapeText(x[0])}, the ` +
      `first whole ${total.freq === "W" ? "week" : "day"} after the data. ` : "") +
      (totalRow ? `All items, last 13 weeks against the 13 before: ${trendLabel(summedTrend([totalRow]))}.` : "");
    const perTier = new Map();
    const firstPeriod = tiers.rows.length ? tiers.rows[0].period_start : null;
    for (const row of tiers.rows) {
      const key = row.city_tier ? `tier ${row.city_tier}` : "unknown tier";
      if (!perTier.has(key)) perTier.set(key, { weeks: new Map(), first: [] });
      const tier = perTier.get(key);
      tier.weeks.set(row.period_start, (tier.weeks.get(row.period_start) || 0) + row.p50);
      if (row.period_start === firstPeriod) tier.first.push(row);  // one row per item: its level and trend
    }
    const tierSeries = [...perTier.entries()].sort().map(([name, { weeks, first }]) => ({ name, x: [...weeks.keys()],
      p50: [...weeks.values()], change: summedTrend(first) }));
    band("tier-chart", tierSeries);
    document.querySelector("#tiers tbody").innerHTML = tierSeries.map(({ name, p50, change }) =>
      `<tr><td>${escapeText(name)}</td><td>${p50.reduce((a, b) => a + b, 0).toFixed(1)}</td><td>${trendLabel(change)}</td></tr>`
    ).join("");
    const currentOf = new Map(((items.current_period || {}).rows || []).map(row => [row.item_id, row]));
    const demand = [...sumBy(rows, row => row.item_id).entries()].sort((a, b) => b[1] - a[1]);
    band("item-chart", demand.slice(0, 5).map(([item]) => {
      const own = rows.filter(row => row.item_id === item);
      return { name: titleOf(item), x: own.map(r => r.period_start), p10: own.map(r => r.p10), p50: own.map(r => r.p50),
               p90: own.map(r => r.p90), sold: soldBy(item) };
    }));
    document.querySelector("#items tbody").innerHTML = demand.map(([item, p50]) => {
      const own = rows.filter(row => row.item_id === item);
      const low = own.reduce((a, r) => a + r.p10, 0), high = own.reduce((a, r) => a + r.p90, 0);
      return `<tr><td>${escapeText(item)}</td><td>${escapeText(titleOf(item))}</td><td>${p50.toFixed(1)}</td>` +
             `<td>${low.toFixed(1)} - ${high.toFixed(1)}</td><td>${trendLabel(summedTrend(own.slice(0, 1)))}</td>` +
             `<td>${currentText(items.current_period, currentOf.get(item))}</td></tr>`;
    }).join("");
    showMessage(`Forecast of ${merchant}, published ${total.generated_at}.`);
  } catch (error) {
    rows = [];
    titles = {};
    document.getElementById("dashboard").hidden = true;
    throw error;
  }
}

async function signIn(event) {
  event.preventDefault();
  const merchant = document.getElementById("merchant").value.trim();
  const token = document.getElementById("token").value;
  document.getElementById("lots-section").hidden = true;
  const problems = [];
  for (const step of [() => showForecast(merchant, token), () => openLots(merchant, token, titles)]) {
    try {
      await step();
    } catch (error) {
      if (refused(error)) {
        showMessage("This token does not open this merchant's forecast: check the merchant id and the token.");
        return;
      }
      problems.push(error.message);  // e.g. no forecast published: the lots are still shown
    }
  }
  if (problems.length) showMessage(problems.join("; "));
}

function download() {
  const header = "item_id,title,period_start,p10,p50,p90,model\n";
  const text = header + rows.map(r => [r.item_id, titleOf(r.item_id), r.period_start, r.p10, r.p50, r.p90, r.model]
    .map(value => `"${String(value).replaceAll('"', '""')}"`).join(",")).join("\n");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `forecast-${document.getElementById("merchant").value.trim()}.csv`;
  link.click();
}

document.getElementById("signin").addEventListener("submit", signIn);
document.getElementById("download").addEventListener("click", download);
