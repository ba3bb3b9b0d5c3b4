// The usage tab: spend, tokens and requests by model, key and day from /v1/admin/usage, a bar
// chart of one of them, and the keys with their limits and last use from /v1/admin/keys. It
// needs the admin key (VISIONGATE_ADMIN_KEY); without one it says how to set it.

import { getJson } from "./api.js";
import { barChart } from "./chart.js";
import { errorText } from "./column.js";

const METRICS = {
  cost_usd: ["Spend (USD)", (v) => `$${v.toFixed(v > 0 && v < 0.01 ? 6 : 2)}`],
  total_tokens: ["Tokens", (v) => v.toLocaleString("en")],
  requests: ["Requests", (v) => v.toLocaleString("en")],
};
const DAY_MS = 86_400_000;

function el(name, ...children) {
  const node = document.createElement(name);
  node.append(...children);
  return node;
}

function cell(value, header = false) {
  return el(header ? "th" : "td", value === null || value === undefined ? "–" : String(value));
}

function table(caption, head, rows) {
  const node = el("table", el("thead", el("tr", ...head.map((h) => cell(h, true)))));
  node.setAttribute("aria-label", caption);
  node.append(el("tbody", ...rows.map((row) => el("tr", ...row.map((v) => cell(v))))));
  return node;
}

function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : null;
}

/** Every UTC day of the period, oldest first, with zeros where nothing was recorded. */
function everyDay(rows, since) {
  const found = new Map(rows.map((r) => [r.group, r]));
  const days = [];
  for (let t = Math.floor((since * 1000) / DAY_MS) * DAY_MS; t <= Date.now(); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push(found.get(day) ?? { group: day, requests: 0, total_tokens: 0, cost_usd: 0 });
  }
  return days;
}

function reportRows(report, label) {
  return report.data.map((r) => [label(r), r.requests, r.errors, r.prompt_tokens, r.completion_tokens, r.images, `$${r.cost_usd.toFixed(6)}`]);
}

const COLUMNS = ["requests", "errors", "prompt tokens", "completion tokens", "images", "spend"];

export async function showUsage(target, adminKey, period, metric) {
  if (!adminKey) {
    target.replaceChildren(
      el("p", "Enter the admin key above: the value of VISIONGATE_ADMIN_KEY on the server."),
      el("p", "If the server has none, start it with VISIONGATE_ADMIN_KEY set to a long random string (for example the output of `openssl rand -hex 32`) to enable the admin API and this page."),
    );
    return;
  }
  target.replaceChildren(el("p", "Loading…"));
  try {
    const q = (by) => getJson(`v1/admin/usage?since=${period}&by=${by}`, adminKey);
    const [byModel, byKey, byDay, keys] = await Promise.all([q("model"), q("key"), q("day"), getJson("v1/admin/keys", adminKey)]);
    const [metricName, format] = METRICS[metric];
    const t = byModel.total;
    const totals = el("p", `${t.requests} requests (${t.errors} failed), ${(t.prompt_tokens + t.completion_tokens).toLocaleString("en")} tokens, $${t.cost_usd.toFixed(6)} since ${when(byModel.since)}`);
    totals.className = "totals";
    const keyName = (r) => {
      if (r.group === "-") return "anonymous";
      if (r.name) return `${r.name} (${r.group})`;
      return r.group.startsWith("static:") ? `static key (${r.group.slice(7)})` : r.group;
    };
    const keyRows = keys.data.map((k) => [k.name, k.prefix, k.state, k.models?.join(", ") ?? "all", k.rpm, k.tpm, k.budget_usd === null ? null : `$${k.budget_usd}`, `$${k.spent_usd.toFixed(6)}`, k.requests, when(k.last_used_at) ?? "never", when(k.expires_at)]);
    target.replaceChildren(
      totals,
      el("div",
        el("section", el("h3", `${metricName} by day`), barChart(`${metricName} by day`, everyDay(byDay.data, byDay.since).map((r) => [r.group, r[metric]]), format)),
        el("section", el("h3", `${metricName} by model`), barChart(`${metricName} by model`, byModel.data.map((r) => [r.group, r[metric]]), format)),
      ),
      el("h3", "By model"),
      table("Usage by model", ["model", ...COLUMNS], reportRows(byModel, (r) => r.group)),
      el("h3", "By key"),
      table("Usage by key", ["key", ...COLUMNS], reportRows(byKey, keyName)),
      el("h3", "By day (UTC)"),
      table("Usage by day", ["day", ...COLUMNS], reportRows(byDay, (r) => r.group)),
      el("h3", "Keys"),
      keyRows.length
        ? table("Keys", ["name", "prefix", "state", "models", "rpm", "tpm", "budget", "spent", "requests", "last used", "expires"], keyRows)
        : el("p", "No keys in the database yet (create them with `visiongate keys create` or POST /v1/admin/keys); static keys from VISIONGATE_API_KEYS are not listed."),
    );
    target.children[1].className = "grid2";
  } catch (error) {
    const hint =
      error.code === "admin_disabled"
        ? "This server has no admin key: set VISIONGATE_ADMIN_KEY (or admin_key in the config file) and restart it."
        : error.status === 401
          ? "That is not the admin key (VISIONGATE_ADMIN_KEY)."
          : "";
    target.replaceChildren(el("p", errorText(error)), el("p", hint));
    target.firstChild.className = "error";
  }
}
