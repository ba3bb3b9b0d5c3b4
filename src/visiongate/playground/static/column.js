// One model's answer: it streams into its own column with its own timings, tokens and cost.
//
// The cost is computed here from the usage chunk's tokens and the model's prices in
// GET /v1/models, the formula the gateway uses for its usage records; a stream carries no
// cost of its own (a whole answer has it in x-visiongate-cost-usd).

import { streamChat } from "./api.js";
import { renderMarkdown } from "./markdown.js";

/** USD for ``usage`` at ``pricing`` (per million tokens); null where a price is unknown. */
export function cost(usage, pricing) {
  if (!usage || pricing?.input_per_mtok == null || pricing?.output_per_mtok == null) return null;
  return (
    ((usage.prompt_tokens ?? 0) * (pricing.input_per_mtok ?? 0) +
      (usage.completion_tokens ?? 0) * (pricing.output_per_mtok ?? 0)) /
    1e6
  );
}

function money(usd) {
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toPrecision(3)}` : `$${usd.toFixed(4)}`;
}

function ms(value) {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** "Error 400 too_many_images (param messages[0].content[2]): message". */
export function errorText(error) {
  if (error.name !== "ApiError") return `Error: ${error.message}`;
  const head = [`Error ${error.status === 200 ? "mid-stream" : error.status}`];
  if (error.code) head.push(error.code);
  if (error.param) head.push(`(param ${error.param})`);
  return `${head.join(" ")}: ${error.message}`;
}

export class Column {
  constructor(container, index, model) {
    const suffix = index === 1 ? "" : ` ${index}`;
    this.model = model;
    this.node = document.createElement("article");
    this.node.className = "column";
    const title = document.createElement("h2");
    title.textContent = model.id;
    this.answer = document.createElement("div");
    this.answer.className = "answer";
    this.answer.setAttribute("role", "region");
    this.answer.setAttribute("aria-label", `Answer${suffix}`);
    this.answer.setAttribute("aria-live", "polite");
    this.error = document.createElement("p");
    this.error.className = "error";
    this.error.setAttribute("role", "alert");
    this.error.setAttribute("aria-label", `Error${suffix}`);
    this.usage = document.createElement("p");
    this.usage.className = "usage";
    this.usage.setAttribute("aria-label", `Usage${suffix}`);
    this.node.append(title, this.answer, this.error, this.usage);
    container.append(this.node);
  }

  /** Stream ``body`` into this column; resolves when the answer ends, fails or is stopped. */
  async run(body, key, signal) {
    const started = performance.now();
    let first = null;
    let text = "";
    let usage = null;
    this.reason = null;
    this.node.dataset.state = "streaming";
    this.usage.textContent = "waiting for the first token…";
    try {
      for await (const batch of streamChat(body, key, signal)) {
        for (const event of batch) {
          const content = event.choices?.[0]?.delta?.content;
          if (content) {
            first ??= performance.now();
            text += content;
          }
          if (event.usage) usage = event.usage;
          this.reason = event.choices?.[0]?.finish_reason ?? this.reason;
        }
        this.answer.replaceChildren(renderMarkdown(text));
        if (first !== null) this.usage.textContent = `first token after ${ms(first - started)}…`;
      }
      this.finish(started, first, usage, "");
    } catch (error) {
      if (error.name === "AbortError") {
        this.finish(started, first, usage, "stopped");
      } else {
        this.error.textContent = errorText(error);
        this.finish(started, first, usage, "failed");
      }
    }
  }

  finish(started, first, usage, state) {
    this.node.dataset.state = state || "done";
    const bits = [];
    if (state) bits.push(state);
    if (this.reason && this.reason !== "stop") bits.push(`finish reason: ${this.reason}`);
    if (first !== null) bits.push(`first token ${ms(first - started)}`);
    bits.push(`total ${ms(performance.now() - started)}`);
    if (usage) {
      bits.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens} tokens`);
      const usd = cost(usage, this.model.pricing);
      bits.push(usd === null ? "cost unknown (no catalog price)" : `${money(usd)} at catalog prices`);
    } else if (!state) {
      bits.push("no usage reported");
    }
    this.usage.textContent = bits.join(" · ");
  }
}
