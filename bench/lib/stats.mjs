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
  if (unit === 'x') return `${x.toFixed(2)}x`;
  return String(x);
};

/**
 * A fixed-width text table: ours against one or more references, each reference with
 * its own ours/ref column.
 *   columns: [{ key, head, ratioHead }] (the references, in order)
 *   rows:    { section } | { label, ours, ref: { [key]: value }, unit, note, noRatio }
 */
export function renderTable(rows, columns) {
  const head = ['metric', 'ours', ...columns.flatMap((c) => [c.head, c.ratioHead])];
  const body = [];
  for (const r of rows) {
    if (r.section) {
      body.push({ section: r.section });
      continue;
    }
    const cells = [r.label, fmt(r.ours, r.unit)];
    for (const c of columns) {
      const v = r.ref?.[c.key];
      const q = r.noRatio ? null : ratio(r.ours, v);
      cells.push(fmt(v, r.unit), q === null ? '—' : `${q.toFixed(2)}x`);
    }
    body.push({ cells, note: r.note });
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
