'use strict';
// Hand-written SVG: grouped bars of GFLOP/s (log scale), one group per shape, one bar
// per peer, with the GEMM ceilings as dashed lines and a legend.

const COLORS = {
  'fa-native': '#1f5fa8',
  'fa-native-1t': '#6fa8dc',
  'fa-native-avx512': '#0b3d91',
  'fa-native-avx2': '#3d85c6',
  'fa-native-scalar': '#9fc5e8',
  'fa-js': '#38a169',
  'naive-js': '#8c8c8c',
  'ort-matmul-1t': '#f6b26b',
  'ort-matmul-2t': '#e06d10',
  'ort-mha-1t': '#c9a8e0',
  'ort-mha-2t': '#7b4fa8',
};
const FALLBACK_COLORS = ['#c0392b', '#16a085', '#d4ac0d', '#5d6d7e'];

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

function formatValue(gflops) {
  if (gflops >= 100) return gflops.toFixed(0);
  if (gflops >= 10) return gflops.toFixed(1);
  return gflops.toFixed(2);
}

function formatTick(value) {
  return value >= 1 ? String(Math.round(value)) : String(Number(value.toPrecision(1)));
}

/**
 * shapes: [{ name, captionLines }], peers: [{ id, legend }],
 * rows: Map `${shape}|${peer}` -> { status, gflops, wrong, noisy }, ceilings: [{ label, gflops }],
 * subtitleLines: strings under the title.
 */
function renderChart({ shapes, peers, rows, ceilings = [], subtitleLines = [] }) {
  const barWidth = 13;
  const barGap = 2;
  const groupGap = 30;
  const groupWidth = peers.length * (barWidth + barGap) - barGap;
  const plotLeft = 78;
  const plotTop = 56 + 16 * subtitleLines.length;
  const plotHeight = 380;
  const plotWidth = shapes.length * (groupWidth + groupGap) + groupGap;
  const legendColumns = Math.max(1, Math.min(4, Math.floor((plotLeft + plotWidth) / 290)));
  const legendRows = Math.ceil(peers.length / legendColumns);
  const width = Math.max(plotLeft + plotWidth + 150, 920);
  const height = plotTop + plotHeight + 64 + legendRows * 22 + 44;

  const values = [];
  for (const row of rows.values()) if (row.status === 'ok' && row.gflops > 0) values.push(row.gflops);
  for (const c of ceilings) if (c.gflops > 0) values.push(c.gflops);
  const minDecade = Math.floor(Math.log10(Math.min(...values, 1)) - 0.3); // room under the lowest bar
  const maxDecade = Math.ceil(Math.log10(Math.max(...values, 10)) + 0.05);
  const yOf = (value) =>
    plotTop + plotHeight - ((Math.log10(value) - minDecade) / (maxDecade - minDecade)) * plotHeight;
  const plotBottom = plotTop + plotHeight;

  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${plotLeft}" y="30" font-size="19" font-weight="bold" fill="#222">` +
      `Attention throughput per shape and peer (GFLOP/s, higher is better)</text>`,
  );
  subtitleLines.forEach((line, i) => {
    out.push(`<text x="${plotLeft}" y="${52 + 16 * i}" font-size="12" fill="#555">${escapeXml(line)}</text>`);
  });

  // Grid and y axis: a labelled line per decade, light lines at 2x and 5x.
  for (let decade = minDecade; decade <= maxDecade; decade++) {
    const base = 10 ** decade;
    const y = yOf(base).toFixed(1);
    out.push(`<line x1="${plotLeft}" y1="${y}" x2="${plotLeft + plotWidth}" y2="${y}" stroke="#cfcfcf"/>`);
    out.push(
      `<text x="${plotLeft - 8}" y="${Number(y) + 4}" font-size="12" text-anchor="end" fill="#333">${formatTick(base)}</text>`,
    );
    if (decade < maxDecade) {
      for (const factor of [2, 5]) {
        const yMinor = yOf(base * factor).toFixed(1);
        out.push(
          `<line x1="${plotLeft}" y1="${yMinor}" x2="${plotLeft + plotWidth}" y2="${yMinor}" stroke="#eeeeee"/>`,
        );
      }
    }
  }
  const axisMid = plotTop + plotHeight / 2;
  out.push(
    `<text x="22" y="${axisMid}" font-size="13" fill="#333" text-anchor="middle" ` +
      `transform="rotate(-90 22 ${axisMid})">GFLOP/s (log scale)</text>`,
  );
  out.push(`<line x1="${plotLeft}" y1="${plotTop}" x2="${plotLeft}" y2="${plotBottom}" stroke="#333"/>`);
  out.push(`<line x1="${plotLeft}" y1="${plotBottom}" x2="${plotLeft + plotWidth}" y2="${plotBottom}" stroke="#333"/>`);

  // Bars.
  shapes.forEach((shape, s) => {
    const groupLeft = plotLeft + groupGap + s * (groupWidth + groupGap);
    peers.forEach((peer, p) => {
      const x = groupLeft + p * (barWidth + barGap);
      const row = rows.get(`${shape.name}|${peer.id}`);
      const color = colorOf(peer.id, p);
      const centre = x + barWidth / 2;
      if (row && row.status === 'ok' && row.gflops > 0) {
        const y = Math.min(yOf(row.gflops), plotBottom - 1);
        const wrong = row.wrong ? ' stroke="#d00000" stroke-width="2"' : '';
        const noisy = row.noisy ? ' fill-opacity="0.45"' : '';
        out.push(
          `<rect x="${x}" y="${y.toFixed(1)}" width="${barWidth}" height="${(plotBottom - y).toFixed(1)}" fill="${color}"${noisy}${wrong}>` +
            `<title>${escapeXml(`${shape.name} · ${peer.legend}: ${formatValue(row.gflops)} GFLOP/s`)}</title></rect>`,
        );
        const labelY = y - 4;
        out.push(
          `<text x="${centre + 3.5}" y="${labelY.toFixed(1)}" font-size="10" fill="#333" ` +
            `transform="rotate(-90 ${centre + 3.5} ${labelY.toFixed(1)})">${formatValue(row.gflops)}${row.wrong ? ' ✗' : ''}</text>`,
        );
      } else if (row) {
        const mark = row.status === 'skipped' ? 'skipped' : 'failed';
        const labelY = plotBottom - 6;
        out.push(
          `<text x="${centre + 3.5}" y="${labelY}" font-size="10" fill="#888888" font-style="italic" ` +
            `transform="rotate(-90 ${centre + 3.5} ${labelY})">${mark}</text>`,
        );
      }
    });
    const labelX = groupLeft + groupWidth / 2;
    out.push(
      `<text x="${labelX}" y="${plotBottom + 20}" font-size="13" font-weight="bold" text-anchor="middle" fill="#222">` +
        `${escapeXml(shape.name)}</text>`,
    );
    (shape.captionLines || []).forEach((line, i) => {
      out.push(
        `<text x="${labelX}" y="${plotBottom + 35 + 13 * i}" font-size="10.5" text-anchor="middle" fill="#666">` +
          `${escapeXml(line)}</text>`,
      );
    });
  });

  // Ceilings as dashed lines, labelled at the right end (labels kept 13 px apart).
  let lastLabelY = -Infinity;
  const drawn = ceilings.filter((c) => c.gflops > 0).sort((x, y) => y.gflops - x.gflops);
  for (const ceiling of drawn) {
    const y = yOf(ceiling.gflops);
    out.push(
      `<line x1="${plotLeft}" y1="${y.toFixed(1)}" x2="${plotLeft + plotWidth}" y2="${y.toFixed(1)}" stroke="#c0392b" ` +
        `stroke-dasharray="6 4" stroke-width="1.3"/>`,
    );
    const labelY = Math.max(y + 4, lastLabelY + 13);
    lastLabelY = labelY;
    out.push(
      `<text x="${plotLeft + plotWidth + 6}" y="${labelY.toFixed(1)}" font-size="11" fill="#c0392b">` +
        `${escapeXml(`${ceiling.label} ${formatValue(ceiling.gflops)}`)}</text>`,
    );
  }

  // Legend.
  const legendTop = plotBottom + 76;
  const columnWidth = Math.floor((width - plotLeft) / legendColumns);
  peers.forEach((peer, p) => {
    const x = plotLeft + (p % legendColumns) * columnWidth;
    const y = legendTop + Math.floor(p / legendColumns) * 22;
    out.push(`<rect x="${x}" y="${y - 11}" width="14" height="14" fill="${colorOf(peer.id, p)}"/>`);
    out.push(`<text x="${x + 20}" y="${y}" font-size="12.5" fill="#222">${escapeXml(peer.legend)}</text>`);
  });
  const footer = [
    'GFLOP/s = 2·B·H·Lq·Lk·(D+Dv) / median time per call (halved for causal). Dashed: single-precision GEMM ceiling.',
    '“skipped”: over the time budget; “failed”: see report.md; ✗ with a red outline: wrong result; ' +
      'faded: other processes were busy while it ran (noisy).',
  ];
  footer.forEach((line, i) => {
    out.push(`<text x="${plotLeft}" y="${height - 26 + 14 * i}" font-size="11" fill="#666">${escapeXml(line)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function colorOf(id, index) {
  return COLORS[id] || FALLBACK_COLORS[index % FALLBACK_COLORS.length];
}

module.exports = { renderChart };
