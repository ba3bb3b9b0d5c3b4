// What goes with the message: images from files (picked, dropped or pasted) and by URL, each
// shown as a thumbnail with what the gateway will see (format, pixel size, bytes).
//
// Files are sent inline as data URLs whose media type comes from the bytes, as the gateway
// itself decides; URLs are sent as given and fetched by the gateway (the page never fetches
// another origin, so it cannot tell their size). A document kind (PDF as a `file` part)
// fits beside `image` in `part()` and `describe()` once the gateway reads documents.

const SIGNATURES = [
  ["jpeg", [0xff, 0xd8, 0xff]],
  ["png", [0x89, 0x50, 0x4e, 0x47]],
  ["gif", [0x47, 0x49, 0x46, 0x38]],
  ["bmp", [0x42, 0x4d]],
  ["tiff", [0x49, 0x49, 0x2a, 0x00]],
  ["tiff", [0x4d, 0x4d, 0x00, 0x2a]],
];

/** The image format from the first bytes, or null; the same rule as the gateway's sniffer. */
export function sniffFormat(bytes) {
  for (const [format, magic] of SIGNATURES) {
    if (magic.every((b, i) => bytes[i] === b)) return format;
  }
  const ascii = (from, to) => String.fromCharCode(...bytes.slice(from, to));
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  if (ascii(4, 8) === "ftyp") {
    const brand = ascii(8, 12);
    if (brand === "avif" || brand === "avis") return "avif";
    if (["heic", "heix", "heim", "heis", "mif1", "msf1"].includes(brand)) return "heic";
  }
  return null;
}

/** "1.2 MB", "840 B": sizes as people read them. */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function pixelSize(blob) {
  try {
    const bitmap = await createImageBitmap(blob);
    const size = `${bitmap.width}×${bitmap.height}`;
    bitmap.close();
    return size;
  } catch {
    return null; // a format this browser cannot decode (HEIC): the gateway converts it
  }
}

/** An image from a file: read once, sent as a data URL typed from its bytes. */
export async function fromFile(file) {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const format = sniffFormat(head);
  if (!format) throw new Error(`${file.name || "The pasted item"} is not an image this gateway reads.`);
  const typed = new Blob([file], { type: `image/${format}` });
  return {
    kind: "image",
    name: file.name || "pasted image",
    url: await dataUrl(typed),
    preview: URL.createObjectURL(typed),
    format,
    size: await pixelSize(typed),
    bytes: file.size,
  };
}

function decodeDataUrl(raw) {
  const comma = raw.indexOf(",");
  const header = raw.slice(5, comma);
  const payload = raw.slice(comma + 1);
  try {
    const text = header.endsWith(";base64") ? atob(payload.replace(/\s+/g, "")) : decodeURIComponent(payload);
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  } catch {
    throw new Error("That data: URL does not decode.");
  }
}

/** An image by URL: http(s) as given (the gateway fetches it), or a data URL someone pasted. */
export async function fromUrl(text) {
  const raw = text.trim();
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error("Image URL must be an absolute http(s) or data: URL.");
  }
  if (url.protocol === "data:") {
    if (!/^data:image\//i.test(raw)) throw new Error("A data: URL here must hold an image (data:image/…).");
    const bytes = decodeDataUrl(raw);
    const format = sniffFormat(bytes.slice(0, 16));
    const blob = new Blob([bytes], { type: format ? `image/${format}` : "" });
    return { kind: "image", name: "data URL", url: raw, preview: raw, format, size: await pixelSize(blob), bytes: bytes.length };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error("Image URL must be an absolute http(s) or data: URL.");
  }
  return { kind: "image", name: url.host, url: raw, preview: null, format: null, size: null, bytes: null };
}

/** The Chat Completions content part for one attachment. */
export function part(item) {
  return { type: "image_url", image_url: { url: item.url } };
}

/** One line for the thumbnail: format, pixels, bytes, or how a URL travels. */
export function describe(item) {
  if (item.bytes === null) return "by URL: the gateway fetches it";
  const bits = [item.format ? item.format.toUpperCase() : "unknown format"];
  bits.push(item.size ?? "size unknown here");
  bits.push(formatBytes(item.bytes));
  return bits.join(" · ");
}
