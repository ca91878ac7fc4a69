/**
 * The status server's dashboard (`GET /`): server-rendered HTML of a status snapshot. It reloads
 * itself with `<meta http-equiv="refresh">`, so it needs no script and works under the strict CSP
 * (`default-src 'none'`) from any host; every value is escaped. Laid out for a phone first: one
 * column of cards, tables that scroll sideways, long txids cut with an ellipsis.
 */
import { durationText, type CoinStatus, type ServiceStatus, type WalletStatus } from './helper-service.js';
import { escapeHtml } from './status-server.js';
import type { ListenerStatus } from '../notify/types.js';

/** How often the page reloads itself. */
export const REFRESH_SECONDS = 5;

export interface DashboardOptions {
  /** `https://explorer.example/tx/{txid}`: txids link there; null: plain text. */
  readonly explorerUrl: string | null;
  /** Now, for ages (tests pin it). */
  readonly now?: Date;
}

const CSS = `
*{box-sizing:border-box}
body{overflow-wrap:anywhere;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:12px;background:#f4f5f7;color:#1d2330}
header,section,footer{max-width:1100px;margin:0 auto 12px}
h1{font-size:1.4em;margin:0 0 4px;padding:10px 14px;border-radius:8px;color:#fff}
h1.ready{background:#1f7a3d}h1.notready{background:#b3261e}
h2{font-size:1.15em;margin:0 0 8px}h3{font-size:1em;margin:14px 0 6px}
.meta{color:#555;font-size:.9em;margin:4px 2px}
ul.reasons{margin:6px 0 0;padding:8px 14px 8px 30px;background:#fdecea;border:1px solid #f5c2c0;border-radius:8px}
ul.reasons li{margin:2px 0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 14px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
dl.facts dt{color:#555}dl.facts dd{margin:0;overflow-wrap:anywhere}
.ok{color:#1f7a3d;font-weight:600}.bad{color:#b3261e;font-weight:600}.warn{color:#8a5a00;font-weight:600}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top;white-space:nowrap}
th{color:#555;font-weight:600;background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;min-width:22ch}
.txid{display:inline-block;max-width:14ch;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom;font-family:ui-monospace,monospace}
.empty{color:#777;font-style:italic}
a{color:#0b57d0}
@media (max-width:600px){body{padding:8px;font-size:14px}dl.facts{grid-template-columns:1fr}dl.facts dt{margin-top:6px}h1{font-size:1.2em}}
`;

/** The dashboard page of a status snapshot. */
export function renderDashboard(status: ServiceStatus, options: DashboardOptions): string {
  const now = options.now ?? new Date();
  const ago = (iso: string | null, none = 'never') =>
    iso === null
      ? escapeHtml(none)
      : `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(agoText(iso, now))}</time>`;
  const txid = (value: string | null) => {
    if (value === null) return '<span class="empty">—</span>';
    const text = `<span class="txid">${escapeHtml(value)}</span>`;
    if (options.explorerUrl === null) return `<span title="${escapeHtml(value)}">${text}</span>`;
    const href = options.explorerUrl.replace('{txid}', encodeURIComponent(value));
    return `<a href="${escapeHtml(href)}" rel="noreferrer noopener" title="${escapeHtml(value)}">${text}</a>`;
  };
  const { ready, reasons } = status.readiness;
  const lease = status.lease.held
    ? `held by this service (generation ${escapeHtml(status.lease.generation)})`
    : status.lease.holder
      ? `held by ${escapeHtml(status.lease.holder)}${status.lease.expiresAt ? `, until ${ago(status.lease.expiresAt)}` : ''}`
      : 'not held';
  const headline = `<header>
<h1 id="headline" class="${ready ? 'ready' : 'notready'}">${ready ? 'Ready' : 'Not ready'} <small>· service ${escapeHtml(status.state)}</small></h1>
${reasons.length > 0 ? `<ul class="reasons" id="reasons">${reasons.map((reason) => `<li>${escapeHtml(reason)}</li>`).join('')}</ul>` : ''}
<p class="meta">Lease ${lease} · instance ${escapeHtml(status.instance)} · started ${ago(status.startedAt, 'not yet')} · page of ${escapeHtml(now.toISOString().slice(11, 19))} UTC, refreshes every ${REFRESH_SECONDS} s</p>
</header>`;

  const coins = status.coins.map((coin) => coinSection(coin, ago, txid)).join('\n');
  const handlers = status.events.handlers;
  const events = `<section class="card" id="events"><h2>Events <small class="meta">latest id ${escapeHtml(status.events.latestId)}</small></h2>
${
  handlers.length === 0
    ? '<p class="empty">No event handlers configured.</p>'
    : table(
        ['handler', 'delivered up to', 'lag (events)', 'dead letters', 'attempts', 'next attempt', 'last error'],
        handlers.map((h) => [
          escapeHtml(h.name),
          escapeHtml(h.deliveredId),
          cls(h.behind !== '0' ? 'warn' : '', h.behind),
          cls(h.deadLetters > 0 ? 'bad' : '', h.deadLetters),
          escapeHtml(h.attempts),
          h.nextAttemptAt ? ago(h.nextAttemptAt) : '—',
          wrap(h.lastError ?? ''),
        ]),
      )
}
</section>`;
  const tasks = `<section class="card" id="tasks"><h2>Tasks</h2>
${table(
  ['task', 'runs', 'failures', 'last run', 'last error'],
  status.tasks.map((t) => [
    escapeHtml(t.name),
    escapeHtml(t.runs),
    cls(t.failures > 0 ? 'warn' : '', t.failures),
    ago(t.lastRunAt),
    wrap(t.lastError ?? ''),
  ]),
)}
</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="referrer" content="no-referrer">
<title>${ready ? 'Ready' : 'NOT READY'} · cryptoassets</title>
<style>${CSS}</style>
</head><body>
${headline}
${coins}
${events}
${tasks}
<footer class="meta">Read-only. Also as <a href="/status.json">JSON</a>, <a href="/ready">readiness</a> and <a href="/metrics">metrics</a>.</footer>
</body></html>
`;
}

type Ago = (iso: string | null, none?: string) => string;
type Txid = (value: string | null) => string;

function coinSection(coin: CoinStatus, ago: Ago, txid: Txid): string {
  const node =
    coin.nodeReachable === null
      ? '<span class="warn">not reached yet</span>'
      : coin.nodeReachable
        ? '<span class="ok">reachable</span>'
        : `<span class="bad">unreachable</span>: ${escapeHtml(coin.lastNodeError ?? '')}`;
  const tip =
    coin.blockHeight === null
      ? '<span class="empty">unknown</span>'
      : `${escapeHtml(coin.blockHeight)} <span class="meta">(new ${coin.tipSeenAt ? ago(coin.tipSeenAt) : '?'})</span>`;
  const audit = coin.audit;
  const notTaken = audit && (audit.status === 'unsettled' || audit.status === 'unreachable');
  const auditHtml = !audit
    ? '<span class="empty">not run yet</span>'
    : notTaken
      ? `<span class="warn">not taken yet</span> ${ago(audit.lastTriedAt)}: ${escapeHtml(audit.problems.join('; ') || audit.status)}`
      : (audit.ok
          ? `<span class="ok">ok</span> ${ago(audit.at)} <span class="meta">(node − books = ${escapeHtml(audit.difference)} base units${
              audit.unaccounted && audit.unaccounted !== '0' ? `, unaccounted ${escapeHtml(audit.unaccounted)}` : ''
            })</span>`
          : `<span class="bad">FAILED</span> ${ago(audit.at)}: ${escapeHtml(audit.problems.join('; ') || audit.status)}`) +
        (audit.missedInRow > 0
          ? ` <span class="warn">· not taken since ${ago(audit.lastTriedAt)} (${audit.missedInRow} in a row: books changing or node silent)</span>`
          : '');
  const listener = coin.listener ? listenerText(coin.listener, ago) : '<span class="empty">none configured</span>';
  return `<section class="card coin" id="coin-${escapeHtml(coin.coin)}">
<h2>${escapeHtml(coin.coin.toUpperCase())} <small class="meta">${escapeHtml(coin.network)}, ${escapeHtml(coin.backend)}</small></h2>
<dl class="facts">
<dt>Node</dt><dd class="node">${node}</dd>
<dt>Tip height</dt><dd class="tip">${tip}</dd>
<dt>First sync</dt><dd>${coin.startupRescanDone ? '<span class="ok">done</span>' : '<span class="warn">pending</span>'}</dd>
<dt>Balance audit</dt><dd class="audit">${auditHtml}</dd>
<dt>Tracked transactions</dt><dd>${escapeHtml(coin.trackedTransactions)}</dd>
<dt>Notifications</dt><dd>${listener}</dd>
</dl>
${coin.wallets.map((wallet) => walletSection(coin, wallet, ago, txid)).join('\n')}
</section>`;
}

/** One line on a coin's notification channel; a connection's reconnects and keep-alives when it has them. */
function listenerText(listener: ListenerStatus, ago: Ago): string {
  const state = listener.state === 'listening' ? escapeHtml(listener.state) : `<span class="warn">${escapeHtml(listener.state)}</span>`;
  let text = `${escapeHtml(listener.kind)} ${escapeHtml(listener.endpoint)}: ${state}, ${escapeHtml(listener.received)} received, last ${ago(listener.lastNotificationAt)}`;
  if (listener.kind === 'blockio-websocket') text += `, last message ${ago(listener.lastMessageAt)}`;
  if (listener.reconnects > 0) text += `, ${escapeHtml(listener.reconnects)} reconnects`;
  return text;
}

function walletSection(coin: CoinStatus, wallet: WalletStatus, ago: Ago, txid: Txid): string {
  const code = coin.coin.toUpperCase();
  const attention: string[] = [];
  if (wallet.refusedWithdrawals.length > 0)
    attention.push(
      `<span class="bad">refused withdrawals: ${escapeHtml(wallet.refusedWithdrawals.join(', '))}</span> (retry-withdrawal or cancel-withdrawal)`,
    );
  if (wallet.broadcastsToVet.length > 0)
    attention.push(`<span class="bad">broadcasts to vet: ${escapeHtml(wallet.broadcastsToVet.join(', '))}</span> (resolve-broadcast)`);
  if (wallet.conflictedBroadcasts.length > 0)
    attention.push(`<span class="bad">conflicted broadcasts: ${escapeHtml(wallet.conflictedBroadcasts.join(', '))}</span>`);
  if (wallet.openBroadcasts.length > 0)
    attention.push(`<span class="warn">open broadcasts: ${escapeHtml(wallet.openBroadcasts.join(', '))}</span>`);
  if (wallet.backoffUntil) attention.push(`<span class="warn">broadcasts paused until ${ago(wallet.backoffUntil)}</span>`);
  const pending =
    wallet.pending.length === 0
      ? '<p class="empty">No withdrawal waits.</p>'
      : table(
          ['id', `amount (${code})`, 'to', 'queued'],
          wallet.pending.map((w) => [
            escapeHtml(w.id),
            num(w.amount),
            `<span class="txid">${escapeHtml(w.address ?? '')}</span>`,
            w.held ? `${ago(w.createdAt)} <span class="warn">held: account frozen</span>` : ago(w.createdAt),
          ]),
        );
  const refused =
    wallet.refused.length === 0
      ? ''
      : `<h3>Refused withdrawals <small class="meta">waiting for retry-withdrawal or cancel-withdrawal</small></h3>
<div class="refused">${table(
          ['id', `amount (${code})`, 'reason', 'to', 'refused'],
          wallet.refused.map((w) => [
            escapeHtml(w.id),
            num(w.amount),
            `<td class="wrap"><span class="bad">${escapeHtml(w.reason ?? '')}</span></td>`,
            `<span class="txid">${escapeHtml(w.address ?? '')}</span>`,
            ago(w.at),
          ]),
        )}</div>`;
  const broadcasts =
    wallet.recentBroadcasts.length === 0
      ? '<p class="empty">No broadcast yet.</p>'
      : table(
          ['id', 'state', 'txid', `fee (${code})`, 'when'],
          wallet.recentBroadcasts.map((b) => [
            escapeHtml(b.id),
            cls(
              b.conflicted || b.state === 'vetting' ? 'bad' : b.state === 'opened' ? 'warn' : '',
              b.conflicted ? `${b.state}, conflicted` : b.state,
            ),
            txid(b.txid),
            num(b.fee ?? ''),
            ago(b.at),
          ]),
        );
  const deposits =
    wallet.recentDeposits.length === 0
      ? '<p class="empty">No deposit yet.</p>'
      : table(
          ['id', 'state', `amount (${code})`, 'txid', 'when'],
          wallet.recentDeposits.map((d) => [escapeHtml(d.id), escapeHtml(d.state), num(d.amount), txid(d.txid), ago(d.at)]),
        );
  const queued = wallet.queuedWithdrawals;
  return `<div class="wallet" id="wallet-${escapeHtml(coin.coin)}-${escapeHtml(wallet.wallet)}">
<h3>Wallet ${escapeHtml(wallet.wallet)}</h3>
${attention.length > 0 ? `<p class="attention">${attention.join('<br>')}</p>` : ''}
<h3>Pending withdrawals <small class="meta">${queued === 0 ? 'none' : `${queued}, ${escapeHtml(wallet.queuedBaseUnits)} base units${wallet.oldestQueuedAgeSeconds === null ? '' : `, oldest ${escapeHtml(durationText(wallet.oldestQueuedAgeSeconds))}`}${wallet.heldWithdrawals > 0 ? `, ${wallet.heldWithdrawals} held by frozen accounts` : ''}`}</small></h3>
<div class="pending">${pending}</div>
${refused}
<h3>Recent broadcasts</h3>
<div class="broadcasts">${broadcasts}</div>
<h3>Recent deposits</h3>
<div class="deposits">${deposits}</div>
</div>`;
}

/** Cells are HTML already escaped by the caller. */
function table(headings: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<div class="scroll"><table><thead><tr>${headings.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((cells) => `<tr>${cells.map((cell) => (cell.startsWith('<td') ? cell : `<td>${cell}</td>`)).join('')}</tr>`)
    .join('')}</tbody></table></div>`;
}

function num(value: string): string {
  return `<td class="num">${escapeHtml(value)}</td>`;
}

function wrap(value: string): string {
  return `<td class="wrap">${escapeHtml(value)}</td>`;
}

function cls(name: string, value: unknown): string {
  return name ? `<span class="${name}">${escapeHtml(value)}</span>` : escapeHtml(value);
}

/** "12 s ago", "in 3 min", from an ISO time. */
export function agoText(iso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  return ms >= 0 ? `${durationText(ms / 1000)} ago` : `in ${durationText(-ms / 1000)}`;
}
