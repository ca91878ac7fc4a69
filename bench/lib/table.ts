/** The result table on stdout. */
import type { Figure, ScenarioResult } from './types.js';

/** A number for people: thousands separated, sensible decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function ratioText(figure: Figure): string {
  if (!Number.isFinite(figure.ratio)) return '—';
  const r = figure.ratio;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r >= 0.01 ? r.toFixed(3) : r.toPrecision(2)}×`;
}

function extraText(figure: Figure): string {
  return Object.entries(figure.extra ?? {})
    .map(([key, value]) => `${key}=${typeof value === 'number' ? formatNumber(value) : String(value)}`)
    .join(', ');
}

/** Plain-text table, one section per scenario. */
export function renderTable(results: readonly ScenarioResult[]): string {
  const header = ['figure', 'unit', 'ours', 'baseline', 'ratio', 'baseline is', 'also'];
  const lines: string[] = [];
  for (const result of results) {
    lines.push('', `== ${result.title} (${result.seconds.toFixed(1)} s) ==`);
    const rows = result.figures.map((f) => [
      f.name,
      f.unit,
      formatNumber(f.ours),
      formatNumber(f.baseline),
      `${ratioText(f)} (${f.better} is better)`,
      f.baselineLabel,
      extraText(f),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const render = (row: readonly string[]) =>
      row
        .map((cell, i) => (i >= 2 && i <= 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join(' | ')
        .trimEnd();
    lines.push(render(header), widths.map((w) => '-'.repeat(w)).join('-|-'));
    for (const row of rows) lines.push(render(row));
    for (const reason of result.skipped) lines.push(`  not measured: ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}
