// Storefront preview: a buyer's ranked grid from GET /v1/users/{id}/recommendations, at the chosen
// niche knob and at 0 side by side; filters; similar items from GET /v1/items/{id}/similar.
"use strict";

const K = 12;
const buyerId = () => document.getElementById("buyer").value.trim() || "new-buyer-preview";

function query(niche) {
  const params = new URLSearchParams({ k: K, niche: niche });
  for (const name of ["category", "region", "max_price"]) {
    const value = document.getElementById(name).value;
    if (value !== "") params.set(name, value);
  }
  const tier = document.getElementById("tier").value;
  if (tier) params.set("city_tier", tier);
  return params;
}

function card(item) {
  const price = item.price == null ? "" : ` · ${item.price} CNY`;
  const campaign = item.campaign ? ` <span class="campaign">campaign ${escapeText(item.campaign)}</span>` : "";
  return `<li class="card" data-item-id="${escapeText(item.item_id)}">` +
    `<button type="button" class="title" data-similar="${escapeText(item.item_id)}">${escapeText(item.title)}</button>${campaign}` +
    `<div class="meta">${escapeText(item.region || "")} · ${escapeText(item.merchant_id || "")}${price}</div>` +
    `<div class="reason">${escapeText(item.reason)}</div></li>`;
}

function render(listId, items) {
  document.getElementById(listId).innerHTML = items.map(card).join("");
}

let asked = 0;  // the latest request: an earlier answer arriving after it is not shown

async function show() {
  const niche = document.getElementById("niche").value;
  document.getElementById("niche-value").textContent = niche;
  const buyer = buyerId();
  const path = `/v1/users/${encodeURIComponent(buyer)}/recommendations?`;
  const ticket = ++asked;
  try {
    const [chosen, zero] = await Promise.all([api(path + query(niche)), api(path + query(0))]);
    if (ticket !== asked) return;
    render("chosen", chosen.items);
    render("zero", zero.items);
    showMessage(chosen.personalized ? `Personalised for ${chosen.user_id} (model ${chosen.model_version}).`
      : "Not a known buyer: the city tier's cold-start ranking.");
    Object.assign(document.body.dataset, { shownNiche: niche, shownBuyer: buyer });
  } catch (error) {
    if (ticket === asked) showMessage(error.message);
  }
}

async function similar(itemId) {
  try {
    const answer = await api(`/v1/items/${encodeURIComponent(itemId)}/similar?k=6`);
    document.getElementById("similar-of").textContent = `Items like ${itemId}:`;
    render("similar", answer.items);
  } catch (error) {
    showMessage(error.message);
  }
}

async function facets() {
  try {
    const answer = await api("/v1/catalog/facets");
    for (const [name, values] of [["category", answer.categories], ["region", answer.regions]]) {
      document.getElementById(name).insertAdjacentHTML("beforeend",
        values.map(value => `<option>${escapeText(value)}</option>`).join(""));
    }
  } catch (error) {
    showMessage(error.message);
  }
}

let pending = null;
document.getElementById("controls").addEventListener("submit", event => { event.preventDefault(); show(); });
document.getElementById("niche").addEventListener("input", () => {
  clearTimeout(pending);
  pending = setTimeout(show, 150);  // re-rank live as the slider moves
});
document.getElementById("tier").addEventListener("change", event => {
  if (event.target.value) document.getElementById("buyer").value = "";  // a new buyer, not the one filled in
});
document.addEventListener("click", event => {
  const target = event.target.closest("[data-similar]");
  if (target) similar(target.dataset.similar);
});
// Opens on the served model: its default niche knob (exactly: the slider steps by 0.05 unless the
// served value lies between its steps) and a buyer it knows, whose lists are shown at once.
async function servedDefaults() {
  try {
    const model = await api("/v1/model");
    const knob = document.getElementById("niche");
    if (model.default_niche != null) {
      knob.value = model.default_niche;
      if (Number(knob.value) !== model.default_niche) {
        knob.step = "any";
        knob.value = model.default_niche;
      }
    }
    const buyer = document.getElementById("buyer");
    if (model.example_buyer && !buyer.value) buyer.value = model.example_buyer;
    await show();
  } catch (error) {
    showMessage(error.message);
  }
}

facets();
servedDefaults();
