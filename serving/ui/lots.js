// Merchant dashboard, harvest lots: the merchant's lots (GET /v1/merchants/{id}/lots, the same bearer
// token as the forecast), each with its sales, its sell-through chart (cumulative sales: sold so far,
// then expected with the P10-P90 band, against the units and the sell-by date) and its audience per
// city tier; a form to declare one (POST, a 422 shown next to the field it names), a button to
// withdraw one (DELETE) and, on a lot at risk, one to start its clearance campaign (POST .../clearance).
"use strict";

const lots = { merchant: null, token: null, titles: {} };
const LOT_FIELDS = ["lot_id", "items", "units", "available_from", "sell_by", "tiers"];
const DAY_MS = 86400000;

const lotsPath = suffix => `/v1/merchants/${encodeURIComponent(lots.merchant)}/lots${suffix}`;
const asMerchant = extra => ({ headers: { Authorization: `Bearer ${lots.token}`, ...extra } });
const day = iso => iso.slice(0, 10);  // the API's times are UTC
const oneDecimal = value => value.toFixed(1);
const itemName = item => lots.titles[item] ? `${lots.titles[item]} (${item})` : item;

function status(lot) {
  if (lot.withdrawn_at) return `<span class="withdrawn">withdrawn ${escapeText(day(lot.withdrawn_at))}</span>`;
  if (!lot.projection) return "no projection";
  const short = lot.projection.shortfall.p50;
  return lot.projection.at_risk ? `<span class="falling">at risk: ${oneDecimal(short)} units short (P50)</span>`
    : `<span class="rising">on track</span>`;
}

function facts(lot) {  // name and value pairs that wrap at a phone's width
  const p = lot.projection;
  const pairs = [["units", lot.units], ["sold", lot.units_sold], ["remaining", lot.remaining],
                 ["available from", day(lot.available_from)], ["sell by", day(lot.sell_by)],
                 ["expected sales to come (P50)", p ? oneDecimal(p.expected.p50) : "n/a"],
                 ["P10 - P90", p ? `${oneDecimal(p.expected.p10)} - ${oneDecimal(p.expected.p90)}` : "n/a"],
                 ["shortfall (P50)", p ? oneDecimal(p.shortfall.p50) : "n/a"],
                 ["city tiers", lot.tiers.length ? lot.tiers.join(", ") : "all"]];
  return `<dl class="facts">${pairs.map(([name, value]) =>
    `<div><dt>${escapeText(name)}</dt><dd>${escapeText(value)}</dd></div>`).join("")}</dl>`;
}

function audience(lot) {
  if (!lot.audience.length) return "<p>No audience: the served model has none.</p>";
  return `<table class="audience"><caption>Buyers who could take it</caption><thead><tr><th>city tier</th>` +
    `<th>expected buyers</th><th>expected units</th></tr></thead><tbody>` +
    lot.audience.map(row => `<tr><td>${row.city_tier || "unknown"}</td><td>${oneDecimal(row.expected_buyers)}</td>` +
                            `<td>${oneDecimal(row.expected_units)}</td></tr>`).join("") + "</tbody></table>";
}

function lotArticle(lot) {
  const id = escapeText(lot.lot_id);
  const withdraw = lot.withdrawn_at ? "" : `<button type="button" data-withdraw="${id}">Withdraw</button>`;
  const clear = !lot.withdrawn_at && lot.projection && lot.projection.at_risk
    ? `<button type="button" data-clear="${id}">Start a clearance campaign</button>` : "";
  const chart = lot.projection
    ? `<div class="chart" role="img" aria-label="cumulative sales of lot ${escapeText(lot.lot_id)}: sold so far, then ` +
      `expected with the P10-P90 band, against its units and sell-by date"></div>`
    : `<p class="note">${escapeText(lot.note)}</p>`;
  return `<article class="lot" data-lot-id="${escapeText(lot.lot_id)}"><h3>${escapeText(lot.lot_id)}: ` +
    `${status(lot)}</h3><p>Items: ${lot.items.map(item => escapeText(itemName(item))).join(", ")}</p>${facts(lot)}` +
    `${chart}${audience(lot)}${clear}${withdraw}</article>`;
}

function drawLot(element, lot) {
  const { curve, start, sold } = lot.projection;
  const x = curve.map(point => point.date);
  const top = Math.max(lot.units, ...curve.map(point => point.p90));
  const first = Date.parse(x[0]), last = Date.parse(lot.sell_by), margin = (last - first) / 20;
  Plotly.newPlot(element, [
    { x, y: curve.map(point => point.p90), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x, y: curve.map(point => point.p10), mode: "lines", fill: "tonexty", fillcolor: "rgba(46,109,164,0.18)",
      line: { width: 0 }, name: "expected P10-P90" },
    { x, y: curve.map(point => point.p50), mode: "lines", line: { color: "rgb(46,109,164)" }, name: "expected P50" },
    { x: [start], y: [sold], mode: "markers", marker: { size: 10, color: "rgb(39,174,96)" }, name: "sold so far" },
    { x: [x[0], lot.sell_by], y: [lot.units, lot.units], mode: "lines", line: { color: "rgb(192,57,43)", dash: "dash" },
      name: "units" },
    { x: [lot.sell_by, lot.sell_by], y: [0, top], mode: "lines", line: { color: "rgb(127,140,141)", dash: "dot" },
      name: "sell-by" }],
    { margin: { t: 10, r: 10 }, yaxis: { title: { text: "units (cumulative)" }, rangemode: "tozero" },
      xaxis: { range: [new Date(first - margin).toISOString(), new Date(last + margin).toISOString()],
               tickformat: "%-d %b", hoverformat: "%-d %b %Y" },  // one line of ticks: the legend sits below
      legend: { orientation: "h" } }, { responsive: true, displaylogo: false });
}

async function showLots() {
  const answer = await api(lotsPath(""), asMerchant());
  const list = document.getElementById("lots");
  list.querySelectorAll(".js-plotly-plot").forEach(chart => Plotly.purge(chart));
  list.innerHTML = answer.lots.length ? answer.lots.map(lotArticle).join("") : "<p>No lots declared yet.</p>";
  answer.lots.filter(lot => lot.projection).forEach(lot =>
    drawLot(list.querySelector(`.lot[data-lot-id="${CSS.escape(lot.lot_id)}"] .chart`), lot));
  return answer.lots;
}

function offerItems(declared) {
  const items = [...new Set([...Object.keys(lots.titles), ...declared.flatMap(lot => lot.items)])];
  const picker = document.getElementById("lot-items");
  picker.querySelectorAll("label").forEach(label => label.remove());
  picker.querySelector("legend").insertAdjacentHTML("afterend", items.map(item =>
    `<label><input type="checkbox" name="items" value="${escapeText(item)}"> ${escapeText(itemName(item))}</label>`)
    .join(""));
}

function clearFieldErrors() {
  for (const field of LOT_FIELDS) document.getElementById(`lot-error-${field}`).textContent = "";
  document.querySelectorAll("#lot-form [aria-invalid]").forEach(control => control.removeAttribute("aria-invalid"));
}

function showFieldErrors(errors) {  // errors[].loc = ["body", field, ...]; the others go to the message
  const unplaced = [];
  for (const error of errors) {
    const field = error.loc[1];
    const place = LOT_FIELDS.includes(field) && document.getElementById(`lot-error-${field}`);
    if (!place) { unplaced.push(error.msg); continue; }
    place.textContent = [place.textContent, error.msg].filter(Boolean).join("; ");
    document.querySelector(`#lot-form [aria-describedby="lot-error-${field}"]`).setAttribute("aria-invalid", "true");
  }
  return unplaced;
}

function lotBody() {
  const form = document.getElementById("lot-form");
  const checked = name => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map(input => input.value);
  const value = name => form.elements[name].value;
  return { lot_id: value("lot_id").trim(), items: checked("items"), units: Number(value("units")),
           available_from: `${value("available_from")}T00:00:00Z`, sell_by: `${value("sell_by")}T00:00:00Z`,
           tiers: checked("tiers").map(Number) };
}

async function declareLot(event) {
  event.preventDefault();
  clearFieldErrors();
  const body = lotBody();
  try {
    await api(lotsPath(""), { method: "POST", body: JSON.stringify(body),
                              ...asMerchant({ "Content-Type": "application/json" }) });
    event.target.reset();
    setLotDates();
    showMessage(`Lot ${body.lot_id} declared.`);
    await showLots();
  } catch (error) {
    if (error.status === 422) {
      const unplaced = showFieldErrors(error.body.errors || []);
      showMessage(`The lot was not declared: ${unplaced.length ? unplaced.join("; ") : "see the fields marked"}.`);
    } else if (error.status === 409) {
      showFieldErrors([{ loc: ["body", "lot_id"], msg: error.message }]);
      showMessage("The lot was not declared: its id is taken.");
    } else {
      showMessage(error.message);
    }
  }
}

async function withdrawLot(lotId) {
  try {
    await api(lotsPath(`/${encodeURIComponent(lotId)}`), { method: "DELETE", ...asMerchant() });
    showMessage(`Lot ${lotId} withdrawn.`);
    await showLots();
  } catch (error) {
    showMessage(error.message);
  }
}

async function clearLot(lotId) {
  try {
    const answer = await api(lotsPath(`/${encodeURIComponent(lotId)}/clearance`), { method: "POST", ...asMerchant() });
    const campaign = answer.campaign.campaign;  // the report of the campaign, then its definition
    showMessage(`Clearance campaign ${campaign.campaign_id} started for lot ${lotId}: ` +
                `${oneDecimal(answer.goal_units)} units to sell by ${day(campaign.end)}, up to ` +
                `${campaign.impressions} impressions to ${answer.audience_buyers} likely buyers.`);
  } catch (error) {
    showMessage(`No clearance campaign for lot ${lotId}: ${error.message}`);  // e.g. 409: one runs already
  }
}

function setLotDates() {  // today and four weeks on, as defaults
  const today = Date.now();
  document.getElementById("available_from").value = new Date(today).toISOString().slice(0, 10);
  document.getElementById("sell_by").value = new Date(today + 28 * DAY_MS).toISOString().slice(0, 10);
}

// The merchant's lots, signed in with its token; the form offers the items of its forecast (titles:
// item id -> title) and of its lots.
async function openLots(merchant, token, titles) {
  Object.assign(lots, { merchant, token, titles });
  const section = document.getElementById("lots-section");
  section.hidden = false;  // shown first: the charts take its width
  try {
    offerItems(await showLots());
  } catch (error) {
    section.hidden = true;
    throw error;
  }
}

document.getElementById("lot-form").addEventListener("submit", declareLot);
document.getElementById("lots").addEventListener("click", event => {
  const withdraw = event.target.closest("[data-withdraw]");
  if (withdraw) withdrawLot(withdraw.dataset.withdraw);
  const clear = event.target.closest("[data-clear]");
  if (clear) clearLot(clear.dataset.clear);
});
setLotDates();
