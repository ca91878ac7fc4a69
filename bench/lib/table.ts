/** The result table on stdout. */
import type { Figure, ScenarioResult } from './types.js';
import type { OperationCost } from './wire-count.js';

/** A number for people: thousands separated, sensible decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const decimals = Number.isInteger(value) || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
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

export type Format = 'text' | 'markdown';

/** Rows under a header, padded columns (text) or a pipe table (markdown); `right` columns are numbers. */
function renderRows(header: readonly string[], rows: readonly (readonly string[])[], format: Format, right: ReadonlySet<number>): string[] {
  if (format === 'markdown') {
    const line = (row: readonly string[]) => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [line(header), `|${header.map((_, i) => (right.has(i) ? '---:' : '---')).join('|')}|`, ...rows.map(line)];
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const render = (row: readonly string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(' | ')
      .trimEnd();
  return [render(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(render)];
}

/** `2.0 RT, 4.0 st` — what one operation sent. */
export function costText(cost: OperationCost): string {
  const statements = `${formatNumber(cost.statements)} st`;
  return cost.roundTrips === undefined ? statements : `${formatNumber(cost.roundTrips)} RT, ${statements}`;
}

function costColumn(figure: Figure): string {
  return figure.cost ? `${costText(figure.cost.ours)} / ${costText(figure.cost.baseline)} per ${figure.cost.per}` : '';
}

/** One section per scenario. */
export function renderTable(results: readonly ScenarioResult[], format: Format = 'text'): string {
  const header = ['figure', 'unit', 'ours', 'baseline', 'ratio', 'baseline is', 'sent, ours / baseline', 'also'];
  const lines: string[] = [];
  for (const result of results) {
    lines.push('', format === 'markdown' ? `#### ${result.title}` : `== ${result.title} (${result.seconds.toFixed(1)} s) ==`, '');
    const rows = result.figures.map((f) => [
      f.name,
      f.unit,
      formatNumber(f.ours),
      formatNumber(f.baseline),
      `${ratioText(f)} (${f.better} is better)`,
      f.baselineLabel,
      costColumn(f),
      extraText(f),
    ]);
    lines.push(...renderRows(header, rows, format, new Set([2, 3])));
    for (const reason of result.skipped) lines.push(`  not measured: ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The goals of issue 11: every figure that has one, with its limit, ratio and verdict. */
export function renderGoals(results: readonly ScenarioResult[], format: Format = 'text'): string {
  const header = ['row', 'ours', 'limit', 'ratio', 'RT / statements per op, ours / limit', 'goal', 'verdict'];
  const rows = results
    .flatMap((r) => r.figures)
    .filter((f) => f.goal !== undefined)
    .map((f) => [
      f.name,
      `${formatNumber(f.ours)} ${f.unit}`,
      `${formatNumber(f.baseline)} ${f.unit}`,
      ratioText(f),
      costColumn(f),
      f.goal!.text,
      f.goal!.met ? 'PASS' : 'FAIL',
    ]);
  if (rows.length === 0) return '';
  const title = format === 'markdown' ? '### Goals (issue 11)' : '== Goals (issue 11): ratio = ours / limit measured in this run ==';
  return `${[title, '', ...renderRows(header, rows, format, new Set([1, 2, 3]))].join('\n')}\n`;
}
