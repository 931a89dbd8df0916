// Shared helpers of the pages: calls to the public API, an error shown in words, text escaped.
"use strict";

async function api(path, options = {}) {
  const answer = await fetch(path, options);
  const type = answer.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await answer.json() : await answer.text();
  if (!answer.ok) {
    const detail = (body && body.detail) || `${answer.status} ${answer.statusText}`;
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = answer.status;
    error.body = body;  // the API's error shape: detail, and errors[] naming each bad field
    throw error;
  }
  return body;
}

function escapeText(text) {
  const element = document.createElement("span");
  element.textContent = text == null ? "" : String(text);
  return element.innerHTML;
}

function showMessage(text) {
  document.getElementById("message").textContent = text || "";
}
