// A small SVG line chart writer for the benchmark's growth scenarios: a row of panels sharing one y axis, each with
// the same x categories and a few series. No dependencies; the output is a plain SVG the README embeds.

/** One line of a panel: a name, a colour, a dash pattern (or none), and a value per x category. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly values: readonly number[];
}

/** One panel: a title above it and its series. */
export interface Panel {
  readonly title: string;
  readonly series: readonly Series[];
}

/** What {@link lineChartSvg} draws. */
export interface Chart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** The x categories, evenly spaced, shared by every panel. */
  readonly categories: readonly string[];
  readonly panels: readonly Panel[];
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at or above `max`. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Renders `chart` as a standalone SVG document. */
export function lineChartSvg(chart: Chart): string {
  const panelWidth = 300;
  const panelHeight = 220;
  const left = 70;
  const top = 50;
  const gap = 30;
  const legendHeight = 24 * Math.ceil((chart.panels[0]?.series.length ?? 0) / 3);
  const width = left + chart.panels.length * (panelWidth + gap) + 10;
  const height = top + panelHeight + 50 + legendHeight + 10;
  const yMax = niceMax(Math.max(...chart.panels.flatMap((p) => p.series.flatMap((s) => s.values))));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax);
  const x = (i: number) =>
    (chart.categories.length === 1 ? 0.5 : i / (chart.categories.length - 1)) * (panelWidth - 40) + 20;
  const y = (v: number) => panelHeight - (v / yMax) * panelHeight;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text transform="translate(16 ${top + panelHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  ];
  chart.panels.forEach((panel, p) => {
    const ox = left + p * (panelWidth + gap);
    out.push(`<g transform="translate(${ox} ${top})">`);
    out.push(
      `<text x="${panelWidth / 2}" y="-10" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    for (const tick of ticks) {
      out.push(`<line x1="0" x2="${panelWidth}" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/>`);
      if (p === 0) out.push(`<text x="-6" y="${y(tick) + 4}" text-anchor="end">${Math.round(tick)}</text>`);
    }
    out.push(`<rect width="${panelWidth}" height="${panelHeight}" fill="none" stroke="#888"/>`);
    chart.categories.forEach((category, i) => {
      out.push(`<text x="${x(i)}" y="${panelHeight + 16}" text-anchor="middle">${escapeXml(category)}</text>`);
    });
    out.push(
      `<text x="${panelWidth / 2}" y="${panelHeight + 34}" text-anchor="middle" fill="#444">${escapeXml(chart.xLabel)}</text>`,
    );
    for (const series of panel.series) {
      const points = series.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      const dash = series.dash === undefined ? "" : ` stroke-dasharray="${series.dash}"`;
      out.push(`<polyline points="${points}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
      for (const [i, v] of series.values.entries()) {
        out.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${series.color}"/>`);
      }
    }
    out.push("</g>");
  });
  const legendTop = top + panelHeight + 56;
  (chart.panels[0]?.series ?? []).forEach((series, i) => {
    const lx = left + (i % 3) * 220;
    const ly = legendTop + Math.floor(i / 3) * 24;
    const dash = series.dash === undefined ? "" : ` stroke-dasharray="${series.dash}"`;
    out.push(
      `<line x1="${lx}" x2="${lx + 30}" y1="${ly}" y2="${ly}" stroke="${series.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${lx + 36}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
