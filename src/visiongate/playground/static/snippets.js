// The request the page sent, as code that sends it again: curl, Python and JavaScript with the
// openai SDKs. The body is the exact JSON the page posted (images inline as data URLs, URLs as
// given). The key is read from VISIONGATE_API_KEY rather than copied: code gets pasted into
// chats and tickets, and a key in it would travel with it.

const ENV = "VISIONGATE_API_KEY";

/** A JSON value as a Python literal (JSON's string escapes are valid in Python). */
export function pythonLiteral(value, indent = "") {
  const inner = `${indent}    `;
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => inner + pythonLiteral(v, inner)).join(",\n")},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  const lines = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)}`);
  return `{\n${lines.join(",\n")},\n${indent}}`;
}

export function curl(body, baseUrl) {
  const json = JSON.stringify(body, null, 2);
  return [
    `curl -sS -N '${baseUrl}/chat/completions' \\`,
    `  -H "Authorization: Bearer \${${ENV}:?set ${ENV} to your visiongate key}" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  --data-binary @- <<'JSON'`,
    json,
    "JSON",
    "",
  ].join("\n");
}

export function python(body, baseUrl) {
  const args = Object.entries(body).map(([k, v]) => `    ${k}=${pythonLiteral(v, "    ")},`);
  return [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(baseUrl)}, api_key=os.environ[${JSON.stringify(ENV)}])`,
    "stream = client.chat.completions.create(",
    ...args,
    ")",
    "for chunk in stream:",
    "    if chunk.choices:",
    '        print(chunk.choices[0].delta.content or "", end="", flush=True)',
    "    if chunk.usage:",
    "        print()",
    "        print(chunk.usage)",
    "",
  ].join("\n");
}

export function javascript(body, baseUrl) {
  return [
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseUrl)}, apiKey: process.env.${ENV} });`,
    `const stream = await client.chat.completions.create(${JSON.stringify(body, null, 2)});`,
    "for await (const chunk of stream) {",
    '  if (chunk.choices.length) process.stdout.write(chunk.choices[0].delta.content ?? "");',
    '  if (chunk.usage) console.log("\\n", chunk.usage);',
    "}",
    "",
  ].join("\n");
}

export const SNIPPETS = { curl, python, javascript };
