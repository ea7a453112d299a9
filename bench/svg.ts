/**
 * Horizontal bar charts as SVG, written by hand: one chart per table, one cluster of bars per group
 * (cipher and direction, kex, …), one bar per pair with its min–max range as a whisker. Rows
 * without a number show their status in place of a bar.
 */
import type { Table } from './stats.js';

const WIDTH = 860;
const LABEL_W = 190;
const BAR_X = LABEL_W + 10;
const BAR_W = 500;
const ROW_H = 18;
const GROUP_H = 24;
const TOP = 64;

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

export function formatNumber(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '–';
  if (v !== 0 && Math.abs(v) < Math.pow(10, -digits) * 10) return v.toPrecision(2);
  return v.toFixed(digits);
}

/** The colour of a pair: Seashell on either side, the OpenSSH reference, ssh2, or other OpenSSH pairs. */
export function pairColour(pair: string, reference: string): string {
  if (pair.includes('Seashell')) return '#1f6fb4';
  if (pair === reference) return '#4d4d4d';
  if (pair.includes('ssh2-js')) return '#f2b56b';
  if (pair.includes('ssh2')) return '#d9731a';
  return '#9a9a9a';
}

/** A round step for about `ticks` axis intervals up to `v`: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(v: number, ticks: number): number {
  if (!(v > 0)) return 1;
  const raw = v / ticks;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function barChart(t: Table): string {
  const ok = t.rows.filter((r) => r.status === 'ok' && r.value !== undefined);
  const highest = Math.max(0, ...ok.map((r) => Math.max(r.value as number, r.max ?? 0)));
  const step = niceStep(highest, 4);
  const intervals = Math.max(1, Math.ceil(highest / step));
  const top = step * intervals;
  const x = (v: number) => BAR_X + (Math.max(0, v) / top) * BAR_W;
  const height = TOP + t.groups.length * GROUP_H + t.rows.length * ROW_H + 24;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(t.title)}</text>`,
    `<text x="10" y="38" fill="#555">${escapeXml(`${t.unit}, ${t.better} is better; ${t.statistic}; whiskers: min–max`)}</text>`,
  );
  // Axis: a tick and a grid line per step.
  const plotBottom = height - 20;
  for (let i = 0; i <= intervals; i++) {
    const v = step * i;
    const gx = x(v);
    out.push(
      `<line x1="${gx}" y1="${TOP - 8}" x2="${gx}" y2="${plotBottom}" stroke="#e3e3e3"/>`,
      `<text x="${gx}" y="${TOP - 12}" text-anchor="middle" fill="#777" font-size="10">${+v.toPrecision(6)}</text>`,
    );
  }
  let y = TOP;
  for (const g of t.groups) {
    out.push(`<text x="10" y="${y + 16}" font-weight="bold">${escapeXml(g)}</text>`);
    y += GROUP_H;
    for (const r of t.rows.filter((row) => row.group === g)) {
      const mid = y + ROW_H / 2;
      out.push(`<text x="${LABEL_W}" y="${mid + 4}" text-anchor="end">${escapeXml(r.pair)}</text>`);
      if (r.status === 'ok' && r.value !== undefined) {
        const end = x(r.value);
        out.push(
          `<rect x="${BAR_X}" y="${y + 3}" width="${Math.max(1, end - BAR_X).toFixed(1)}" height="${ROW_H - 6}" ` +
            `fill="${pairColour(r.pair, t.reference)}"${r.unreliable ? ' opacity="0.4"' : ''}/>`,
        );
        let labelX = end;
        if (r.min !== undefined && r.max !== undefined && r.max > r.min) {
          const a = x(r.min);
          const b = x(r.max);
          out.push(
            `<line x1="${a.toFixed(1)}" y1="${mid}" x2="${b.toFixed(1)}" y2="${mid}" stroke="#111"/>`,
            `<line x1="${a.toFixed(1)}" y1="${mid - 4}" x2="${a.toFixed(1)}" y2="${mid + 4}" stroke="#111"/>`,
            `<line x1="${b.toFixed(1)}" y1="${mid - 4}" x2="${b.toFixed(1)}" y2="${mid + 4}" stroke="#111"/>`,
          );
          labelX = Math.max(labelX, b);
        }
        const ratio =
          r.pair === t.reference
            ? '  (reference)'
            : r.ratioToReference !== undefined
              ? `  (${r.ratioToReference.toFixed(2)}× ref)`
              : '';
        out.push(
          `<text x="${(labelX + 5).toFixed(1)}" y="${mid + 4}"${r.unreliable ? ' fill="#999"' : ''}>` +
            `${escapeXml(formatNumber(r.value, t.digits) + ratio + (r.unreliable ? '  within noise' : ''))}</text>`,
        );
      } else {
        const colour = r.status === 'not built yet' ? '#1f6fb4' : r.status === 'failed' ? '#c0392b' : '#888';
        out.push(
          `<text x="${BAR_X + 2}" y="${mid + 4}" fill="${colour}" font-style="italic">${escapeXml(r.status)}</text>`,
        );
      }
      y += ROW_H;
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
