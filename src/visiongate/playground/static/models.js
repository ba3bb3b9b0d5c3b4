// The model choice, from GET /v1/models: available models first, grouped by provider, each
// saying whether it takes images and PDFs, how many images per request, and its prices.

import { formatBytes } from "./attachments.js";

/** Whether the catalog entry says the model reads PDFs (the documents round adds this). */
function takesPdf(model) {
  const inputs = [...(model.input_modalities ?? []), ...(model.capabilities ?? [])];
  return inputs.some((x) => ["pdf", "document", "documents", "file"].includes(x));
}

function takesImages(model) {
  const inputs = model.input_modalities ?? model.capabilities ?? [];
  return inputs.includes("image") || inputs.includes("vision");
}

/** A price per million tokens; null where the catalog has none. */
export function price(perMtok) {
  if (perMtok === null || perMtok === undefined) return "price unknown";
  if (!perMtok) return "$0";
  return `$${perMtok < 0.1 ? perMtok.toPrecision(2) : perMtok.toFixed(2)}`;
}

/** The option's text: id, images per request, PDFs, prices (or what to set). */
export function summary(model) {
  const bits = [model.id];
  if (!model.available) {
    bits.push(model.requires ? `needs ${model.requires}` : "unavailable");
    return bits.join(" — ");
  }
  const images = takesImages(model) ? `≤${model.limits?.max_images ?? "?"} images` : "no images";
  bits.push([images, takesPdf(model) ? "PDF" : null].filter(Boolean).join(", "));
  const p = model.pricing ?? {};
  if (p.input_per_mtok == null || p.output_per_mtok == null) bits.push("price unknown");
  else bits.push(p.input_per_mtok || p.output_per_mtok ? `${price(p.input_per_mtok)}/${price(p.output_per_mtok)} per Mtok` : "free");
  return bits.join(" — ");
}

/** The line under the select: everything /v1/models tells about the chosen model. */
export function details(model) {
  if (!model) return "";
  const limits = model.limits ?? {};
  const p = model.pricing ?? {};
  const bits = [
    `${model.provider}${model.upstream_model && model.upstream_model !== model.id ? ` (${model.upstream_model})` : ""}`,
    takesImages(model)
      ? `images: up to ${limits.max_images} per request, ${formatBytes(limits.max_image_bytes ?? 0)} each, ${(limits.image_formats ?? []).join("/")}`
      : "text only",
    `PDFs: ${takesPdf(model) ? "yes" : "no"}`,
    `${price(p.input_per_mtok)} in / ${price(p.output_per_mtok)} out per million tokens`,
  ];
  if (limits.context_window) bits.push(`context ${limits.context_window.toLocaleString("en")} tokens`);
  if (model.retired) bits.push(`retired ${model.retired}${model.successor ? ` → ${model.successor}` : ""}`);
  else if (model.shutdown_date) bits.push(`shuts down ${model.shutdown_date}${model.successor ? ` → ${model.successor}` : ""}`);
  const load = model.status?.state;
  if (load === "not_loaded") bits.push("loads on first use");
  else if (load && load !== "ready") bits.push(`${load}${model.status.reason ? `: ${model.status.reason}` : ""}`);
  if (!model.available && model.requires) bits.push(`set ${model.requires} on the server to use it`);
  return bits.join(" · ");
}

/** Providers with available models first, then by name; in each, available models first. */
export function grouped(models) {
  const byProvider = new Map();
  for (const model of models) {
    if (!byProvider.has(model.provider)) byProvider.set(model.provider, []);
    byProvider.get(model.provider).push(model);
  }
  const rank = (list) => (list.some((m) => m.available) ? 0 : 1);
  return [...byProvider.entries()]
    .map(([provider, list]) => [
      provider,
      list.sort((a, b) => Number(b.available) - Number(a.available) || a.id.localeCompare(b.id)),
    ])
    .sort((a, b) => rank(a[1]) - rank(b[1]) || a[0].localeCompare(b[0]));
}

/** Fill ``select`` with ``models``, keeping ``chosen`` when it is still there. */
export function fill(select, models, chosen) {
  const groups = grouped(models).map(([provider, list]) => {
    const group = document.createElement("optgroup");
    group.label = provider;
    for (const model of list) {
      const option = new Option(summary(model), model.id);
      option.disabled = !model.available;
      group.append(option);
    }
    return group;
  });
  select.replaceChildren(...groups);
  const first = models.find((m) => m.available && m.id === chosen) ?? grouped(models)[0]?.[1].find((m) => m.available);
  if (first) select.value = first.id;
}
