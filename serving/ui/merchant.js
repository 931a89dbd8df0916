// Merchant dashboard: the merchant's published forecast (GET /v1/merchants/{id}/forecast, bearer
// token in the Authorization header) as charts with the P10-P90 band after the last year's sales
// (GET /v1/merchants/{id}/sales), per city tier (rising tiers marked) and per item, and as a CSV
// download; then its harvest lots (lots.js).
"use strict";

const RISING = 1.1;  // a tier is rising when its last third of the horizon expects 10% more than its first
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

function trend(values) {
  const third = Math.max(1, Math.floor(values.length / 3));
  const first = values.slice(0, third).reduce((a, b) => a + b, 0);
  const last = values.slice(-third).reduce((a, b) => a + b, 0);
  return first > 0 ? last / first : (last > 0 ? Infinity : 1);
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
    band("total-chart", [{ name: "all items", x, p10: total.rows.map(r => r.p10), p50: total.rows.map(r => r.p50),
                           p90: total.rows.map(r => r.p90), sold: soldBy(null) }]);
    const perTier = new Map();
    for (const row of tiers.rows) {
      const key = row.city_tier ? `tier ${row.city_tier}` : "unknown tier";
      if (!perTier.has(key)) perTier.set(key, new Map());
      const weeks = perTier.get(key);
      weeks.set(row.period_start, (weeks.get(row.period_start) || 0) + row.p50);
    }
    const tierSeries = [...perTier.entries()].sort().map(([name, weeks]) => ({ name, x: [...weeks.keys()],
                                                                             p50: [...weeks.values()] }));
    band("tier-chart", tierSeries);
    document.querySelector("#tiers tbody").innerHTML = tierSeries.map(({ name, p50 }) => {
      const ratio = trend(p50);
      const label = ratio >= RISING ? `<span class="rising">rising (${ratio === Infinity ? "new" : `x${ratio.toFixed(2)}`})</span>`
        : ratio <= 1 / RISING ? `<span class="falling">falling (x${ratio.toFixed(2)})</span>` : "steady";
      return `<tr><td>${escapeText(name)}</td><td>${p50.reduce((a, b) => a + b, 0).toFixed(1)}</td><td>${label}</td></tr>`;
    }).join("");
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
             `<td>${low.toFixed(1)} - ${high.toFixed(1)}</td></tr>`;
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
