// Markdown to DOM nodes for model answers, which are untrusted: every piece of text becomes a
// text node, elements are made by name from a fixed list, and no string is ever parsed as
// HTML. A link keeps its target only when it is an absolute http(s) or mailto URL; an image
// is shown as a link, never loaded (it would tell a third party that the answer was read).

const FENCE = /^\s*(```+|~~~+)\s*([\w+-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s*>\s?(.*)$/;
const ITEM = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const INLINE =
  /(`+)([\s\S]*?)\1|(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)|\*\*(.+?)\*\*|__(.+?)__|~~(.+?)~~|\*(?=\S)(.+?)\*|(?<![\w])_(?=\S)(.+?)_(?![\w])/g;

function el(name, ...children) {
  const node = document.createElement(name);
  node.append(...children);
  return node;
}

/** The URL a link may point at, or null: only absolute http(s) and mailto. */
export function safeHref(raw) {
  if (!/^(https?:\/\/|mailto:)/i.test(raw)) return null;
  try {
    const url = new URL(raw);
    return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(text, raw, isImage) {
  const href = safeHref(raw);
  const label = isImage ? `[image: ${text || raw}]` : text;
  if (!href) return document.createTextNode(isImage ? label : text);
  const a = el("a", ...(isImage ? [label] : inline(text)));
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.referrerPolicy = "no-referrer";
  a.target = "_blank";
  return a;
}

/** Inline Markdown (code, links, emphasis) as a list of nodes. */
export function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(el("code", m[2]));
    else if (m[5] !== undefined) out.push(link(m[4], m[5], m[3] === "!"));
    else if (m[6] || m[7]) out.push(el("strong", ...inline(m[6] || m[7])));
    else if (m[8]) out.push(el("del", ...inline(m[8])));
    else out.push(el("em", ...inline(m[9] || m[10])));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function table(lines) {
  const head = el("tr", ...cells(lines[0]).map((c) => el("th", ...inline(c))));
  const rows = lines.slice(2).map((l) => el("tr", ...cells(l).map((c) => el("td", ...inline(c)))));
  return el("table", el("thead", head), el("tbody", ...rows));
}

function list(lines, start) {
  const ordered = /\d/.test(lines[start].match(ITEM)[1]);
  const node = el(ordered ? "ol" : "ul");
  let i = start;
  while (i < lines.length) {
    const m = lines[i].match(ITEM);
    if (!m || /\d/.test(m[1]) !== ordered) break;
    const text = [m[2]];
    i += 1;
    while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !ITEM.test(lines[i])) {
      text.push(lines[i].trim());
      i += 1;
    }
    node.append(el("li", ...inline(text.join("\n"))));
  }
  return [node, i];
}

function startsBlock(line, next) {
  return (
    FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) || (line.includes("|") && next !== undefined && TABLE_RULE.test(next))
  );
}

/** Render ``text`` as a DocumentFragment of safe elements. */
export function renderMarkdown(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const out = document.createDocumentFragment();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = line.match(FENCE))) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(m[1])) body.push(lines[i++]);
      i += 1; // the closing fence (absent while the answer is still streaming)
      const code = el("code", body.join("\n"));
      if (m[2]) code.dataset.lang = m[2];
      out.append(el("pre", code));
    } else if ((m = line.match(HEADING))) {
      out.append(el(`h${Math.min(m[1].length + 2, 6)}`, ...inline(m[2])));
      i += 1;
    } else if (RULE.test(line)) {
      out.append(el("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].match(QUOTE)[1]);
      out.append(el("blockquote", renderMarkdown(inner.join("\n"))));
    } else if (ITEM.test(line)) {
      const [node, next] = list(lines, i);
      out.append(node);
      i = next;
    } else if (line.includes("|") && TABLE_RULE.test(lines[i + 1] ?? "")) {
      const rows = [line, lines[i + 1]];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(lines[i++]);
      out.append(table(rows));
    } else {
      const para = [line];
      i += 1;
      while (i < lines.length && lines[i].trim() && !startsBlock(lines[i], lines[i + 1])) {
        para.push(lines[i++]);
      }
      out.append(el("p", ...inline(para.join("\n"))));
    }
  }
  return out;
}
