// Summary statistics and the printed table.

/** Nearest-rank percentile (p in 0..100) of a numeric sample; null for an empty one. */
export function percentile(values, p) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  if (p <= 0) return v[0];
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function summary(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return { n: 0, median: null, p90: null, min: null, max: null, mean: null };
  return {
    n: v.length,
    median: round(median(v)),
    p90: round(percentile(v, 90)),
    min: round(Math.min(...v)),
    max: round(Math.max(...v)),
    mean: round(v.reduce((a, b) => a + b, 0) / v.length),
  };
}

export const round = (x, digits = 3) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));

export function ratio(ours, ref) {
  if (typeof ours !== 'number' || typeof ref !== 'number' || ref === 0) return null;
  return round(ours / ref, 3);
}

const fmt = (x, unit) => {
  if (x === null || x === undefined) return '—';
  if (unit === 'MB') return `${x.toFixed(1)} MB`;
  if (unit === 'ms') return x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`;
  return String(x);
};

/** rows: { section?, label, ours, ref, unit, note, noRatio } → a fixed-width text table. */
export function renderTable(rows) {
  const head = ['metric', 'ours', 'reference', 'ours/ref'];
  const body = [];
  for (const r of rows) {
    if (r.section) {
      body.push({ section: r.section });
      continue;
    }
    const q = r.noRatio ? null : ratio(r.ours, r.ref);
    body.push({ cells: [r.label, fmt(r.ours, r.unit), fmt(r.ref, r.unit), q === null ? '—' : `${q.toFixed(2)}x`], note: r.note });
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.filter((b) => b.cells).map((b) => b.cells[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const b of body) {
    if (b.section) out.push(`${b.section}`);
    else out.push(line(b.cells) + (b.note ? `  ${b.note}` : ''));
  }
  return out.join('\n');
}
