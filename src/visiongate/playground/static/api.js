// The page's only way out: same-origin requests to the gateway's public API, carrying the key
// the person typed in an Authorization header (never in a URL, a cookie or localStorage).

/** An error answer of the gateway (OpenAI's envelope), before or during a stream. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code ?? null;
    this.param = error?.param ?? null;
    this.type = error?.type ?? null;
  }
}

/** An absolute URL for an API path, relative to the page (works behind a path prefix). */
export function apiUrl(path) {
  return new URL(path, document.baseURI).href;
}

function headers(key, extra = {}) {
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

const NO_AMBIENT = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };

async function errorOf(response) {
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    // not JSON: the status alone says what went wrong
  }
  return new ApiError(response.status, error || { message: `${response.status} ${response.statusText}` });
}

/** GET an API path as JSON; throws ApiError for an error answer. */
export async function getJson(path, key) {
  const response = await fetch(apiUrl(path), { ...NO_AMBIENT, headers: headers(key) });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/**
 * POST a streamed chat completion and yield its events in batches: every event that one read
 * of the socket completed, so the caller redraws once per batch rather than once per token.
 * Aborting ``signal`` closes the connection (the gateway then cancels the provider call).
 */
export async function* streamChat(body, key, signal) {
  const response = await fetch(apiUrl("v1/chat/completions"), {
    ...NO_AMBIENT,
    method: "POST",
    headers: headers(key, { "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  yield* sseBatches(response.body);
}

async function* sseBatches(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const frames = buffer.split(/\r?\n\r?\n/);
      buffer = frames.pop();
      const batch = [];
      for (const frame of frames) {
        const data = frame
          .split(/\r?\n/)
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") {
          if (batch.length) yield batch;
          return;
        }
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(200, event.error);
        batch.push(event);
      }
      if (batch.length) yield batch;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
