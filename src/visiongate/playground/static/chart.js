// A horizontal bar chart drawn as SVG elements by the page (no library, no inline style).

const SVG = "http://www.w3.org/2000/svg";

function svg(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * Bars for ``rows`` ([label, value]), longest = the largest value; ``format`` writes a value.
 * Returns an <svg> whose <title> names the chart for screen readers.
 */
export function barChart(title, rows, format) {
  const labelWidth = 170;
  const barWidth = 300;
  const valueWidth = 90;
  const rowHeight = 20;
  const width = labelWidth + barWidth + valueWidth;
  const height = Math.max(rows.length, 1) * rowHeight + 6;
  const chart = svg("svg", {
    class: "chart",
    role: "img",
    "aria-label": title,
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
  });
  chart.append(svg("title", {}, title));
  const largest = Math.max(0, ...rows.map(([, value]) => value));
  rows.forEach(([label, value], i) => {
    const y = i * rowHeight + 3;
    const length = largest > 0 ? Math.max((value / largest) * barWidth, value > 0 ? 1 : 0) : 0;
    const shown = label.length > 26 ? `${label.slice(0, 25)}…` : label;
    chart.append(
      svg("text", { x: labelWidth - 6, y: y + 13, "text-anchor": "end" }, shown),
      svg("rect", { class: "bar-rect", x: labelWidth, y: y + 2, width: length.toFixed(1), height: rowHeight - 6, rx: 2 }),
      svg("text", { x: labelWidth + length + 5, y: y + 13 }, format(value)),
    );
  });
  chart.append(svg("line", { x1: labelWidth, x2: labelWidth, y1: 0, y2: height }));
  return chart;
}
