// The playground's entry point: wires the form, the model choice, the answer columns, the
// code buttons and the two tabs. Keys live in sessionStorage only (gone with the tab).

import { getJson } from "./api.js";
import { Column, errorText } from "./column.js";
import { Inputs } from "./inputs.js";
import { details, fill } from "./models.js";
import { SNIPPETS } from "./snippets.js";
import { showUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);
const MAX_MODELS = 3;
const STORED = { "api-key": "visiongate.apiKey", "admin-key": "visiongate.adminKey" };

const state = { models: new Map(), lastBody: null, running: null };
const inputs = new Inputs({
  fileInput: $("images"),
  urlInput: $("image-url"),
  addUrlButton: $("add-url"),
  dropZone: $("drop"),
  list: $("thumbs"),
  status: $("attach-status"),
});

function keepInSession(id, onChange) {
  const input = $(id);
  input.value = sessionStorage.getItem(STORED[id]) ?? "";
  let timer = null;
  input.addEventListener("input", () => {
    sessionStorage.setItem(STORED[id], input.value.trim());
    clearTimeout(timer);
    timer = setTimeout(onChange, 300);
  });
}

function modelSelects() {
  return [...document.querySelectorAll("#models select")];
}

function showDetails(select) {
  $(`${select.id}-info`).textContent = details(state.models.get(select.value));
}

async function loadModels() {
  const key = $("api-key").value.trim();
  const status = $("models-status");
  if (!key) {
    status.textContent = "Enter your API key to list the models.";
    return;
  }
  try {
    const list = (await getJson("v1/models", key)).data;
    state.models = new Map(list.map((m) => [m.id, m]));
    for (const select of modelSelects()) {
      fill(select, list, select.value);
      showDetails(select);
    }
    const ready = list.filter((m) => m.available).length;
    status.textContent = `${ready} of ${list.length} models available`;
  } catch (error) {
    status.textContent = errorText(error);
  }
}

function addModelRow() {
  const number = modelSelects().length + 1;
  if (number > MAX_MODELS) return;
  const row = document.createElement("div");
  row.className = "model-row";
  const label = document.createElement("label");
  const select = document.createElement("select");
  select.id = `model-${number}`;
  label.htmlFor = select.id;
  label.textContent = `Model ${number}`;
  const info = document.createElement("p");
  info.className = "model-info";
  info.id = `${select.id}-info`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove model ${number}`);
  remove.addEventListener("click", () => {
    row.remove();
    renumber();
  });
  select.addEventListener("change", () => showDetails(select));
  row.append(label, select, remove, info);
  $("models").append(row);
  fill(select, [...state.models.values()], null);
  showDetails(select);
  $("add-model").disabled = modelSelects().length >= MAX_MODELS;
}

function renumber() {
  modelSelects().forEach((select, i) => {
    if (i === 0) return;
    const row = select.closest(".model-row");
    select.id = `model-${i + 1}`;
    const label = row.querySelector("label");
    label.htmlFor = select.id;
    label.textContent = `Model ${i + 1}`;
    row.querySelector(".model-info").id = `${select.id}-info`;
    row.querySelector("button").setAttribute("aria-label", `Remove model ${i + 1}`);
  });
  $("add-model").disabled = modelSelects().length >= MAX_MODELS;
}

/** The Chat Completions body for ``model``: exactly what Send posts. */
function buildBody(model) {
  const messages = [];
  const system = $("system").value;
  if (system.trim()) messages.push({ role: "system", content: system });
  const text = $("message").value;
  const parts = inputs.parts();
  const content = parts.length ? [...(text.trim() ? [{ type: "text", text }] : []), ...parts] : text;
  messages.push({ role: "user", content });
  const body = { model, messages, stream: true, stream_options: { include_usage: true } };
  if ($("temperature").value !== "") body.temperature = Number($("temperature").value);
  if ($("max-tokens").value !== "") body.max_tokens = Number($("max-tokens").value);
  return body;
}

async function send() {
  if (state.running) return;
  await inputs.ready();
  const key = $("api-key").value.trim();
  const chosen = modelSelects().map((s) => s.value).filter(Boolean);
  const columns = $("columns");
  columns.replaceChildren();
  if (!chosen.length) {
    $("models-status").textContent = key ? "Pick a model first." : "Enter your API key to list the models.";
    return;
  }
  const controller = new AbortController();
  state.running = controller;
  $("send").disabled = true;
  $("stop").disabled = false;
  const runs = chosen.map((id, i) => {
    const body = buildBody(id);
    if (i === 0) state.lastBody = body;
    const model = state.models.get(id) ?? { id, pricing: null };
    return new Column(columns, i + 1, model).run(body, key, controller.signal);
  });
  await Promise.allSettled(runs);
  state.running = null;
  $("send").disabled = false;
  $("stop").disabled = true;
}

async function copyAs(kind) {
  const body = state.lastBody ?? buildBody(modelSelects()[0]?.value || "local/ocr");
  const baseUrl = new URL("v1", document.baseURI).href;
  const code = SNIPPETS[kind](body, baseUrl);
  const output = $("code");
  output.value = code;
  output.hidden = false;
  const status = $("copy-status");
  try {
    await navigator.clipboard.writeText(code);
    status.textContent = `Copied as ${kind}; set VISIONGATE_API_KEY before running it.`;
  } catch {
    output.select();
    status.textContent = "Your browser did not allow copying: the code is selected below.";
  }
}

function showTab() {
  const usage = location.hash === "#usage";
  $("page-playground").hidden = usage;
  $("page-usage").hidden = !usage;
  $("tab-playground").removeAttribute("aria-current");
  $("tab-usage").removeAttribute("aria-current");
  $(usage ? "tab-usage" : "tab-playground").setAttribute("aria-current", "page");
  if (usage) refreshUsage();
}

function refreshUsage() {
  const period = document.querySelector('input[name="period"]:checked').value;
  return showUsage($("usage"), $("admin-key").value.trim(), period, $("metric").value);
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
$("ask").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send();
  }
});
$("stop").addEventListener("click", () => state.running?.abort());
$("add-model").addEventListener("click", addModelRow);
$("model-1").addEventListener("change", () => showDetails($("model-1")));
for (const kind of Object.keys(SNIPPETS)) {
  $(`copy-${kind}`).addEventListener("click", () => copyAs(kind));
}
$("usage-form").addEventListener("submit", (event) => {
  event.preventDefault();
  refreshUsage();
});
$("usage-form").addEventListener("change", (event) => {
  if (event.target.id !== "admin-key") refreshUsage();
});
window.addEventListener("hashchange", showTab);

keepInSession("api-key", loadModels);
keepInSession("admin-key", refreshUsage);
showTab();
loadModels();
