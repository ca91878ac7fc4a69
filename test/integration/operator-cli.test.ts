/**
 * The operator commands of issue 9 item 5 as users run them, on SQLite and PostgreSQL:
 * `balances`, `accounts`, `history`, `withdrawals`, `freeze-account` / `unfreeze-account`,
 * `export` and `doctor`, with their text, JSON and CSV outputs and exit codes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CryptoAssets } from '../../src/app.js';
import { runCli } from '../../src/cli/program.js';
import { csvLine } from '../../src/cli/commands/operator-commands.js';
import { encodeAddress } from '../../src/domain/address.js';
import { BTC } from '../../src/domain/coins.js';
import type { EngineName } from '../../src/store/database.js';
import { createTestDatabase, enginesUnderTest, type TestDatabase } from '../helpers/engines.js';
import { randomTxid } from '../helpers/ledger.js';
import { POSTGRES_COIN_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { SQLITE_COIN_MIGRATIONS } from '../../src/store/sqlite/schema.js';

const engines = await enginesUnderTest();
const dir = mkdtempSync(join(tmpdir(), 'cryptoassets-operator-cli-'));
/** The coin tables' latest schema per engine (PostgreSQL's schemas 5 and 6 add the ledger functions). */
const COIN_SCHEMA: Record<EngineName, number> = {
  sqlite: SQLITE_COIN_MIGRATIONS.at(-1)!.version,
  postgres: POSTGRES_COIN_MIGRATIONS.at(-1)!.version,
};
const EXTERNAL = encodeAddress('p2wpkh', new Uint8Array(20).fill(7), BTC.networks.regtest!);
let files = 0;

let hook: Server;
let hookUrl = '';
const hookRequests: string[] = [];
beforeAll(async () => {
  hook = createServer((req, res) => {
    hookRequests.push(req.method ?? '');
    res.writeHead(req.method === 'POST' ? 200 : 405).end();
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((resolve) => hook.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'cryptoassets', ...args], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
  return { code, out, err };
}

function configFor(database: TestDatabase, extra = '', coinExtra = ''): string {
  const url = database.engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: memory}${coinExtra}}\n${extra}`);
  return path;
}

/** alice funded with 1 BTC; bob with a transfer; a queued withdrawal and a refused one of alice. */
async function seeded(engine: EngineName): Promise<{ database: TestDatabase; refusedId: number; pendingId: number }> {
  const database = await createTestDatabase(engine);
  const app = await CryptoAssets.open({
    database: database.options,
    coins: [{ coin: BTC, network: BTC.networks.regtest! }],
    migrate: true,
  });
  try {
    const btc = app.coin('btc');
    const address = await btc.transaction(async (book) => {
      const wallet = await book.getOrCreateWallet('main');
      await wallet.createAccount('alice');
      await wallet.createAccount('bob, "the builder"');
      return wallet.addReceivingAddress('alice', 'bcrt1qqvpsxqcrqvpsxqcrqvpsxqcrqvpsxqcruj60yu');
    });
    await btc.transaction((book) =>
      book.recordDeposit({
        txid: randomTxid(),
        confirmations: BTC.confirmationThreshold,
        outputs: [{ address: address.address, amount: 100_000_000n }],
      }),
    );
    await btc.transaction(async (book) => (await book.wallet('main')).transfer('alice', 'bob, "the builder"', 2_500_000n, 'lunch'));
    const refused = await btc.transaction(async (book) => (await book.wallet('main')).withdraw('alice', EXTERNAL, 10_000_000n));
    const opened = await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast());
    await btc.transaction(async (book) => (await book.wallet('main')).refuseBroadcast(opened!.broadcast.id, 'bad-txns-something'));
    const pending = await btc.transaction(async (book) => (await book.wallet('main')).withdraw('alice', EXTERNAL, 500_000n));
    return { database, refusedId: refused.id, pendingId: pending.id };
  } finally {
    await app.close();
  }
}

describe.each(engines)('operator commands on %s', (engine) => {
  it('balances and accounts, as text and JSON', async () => {
    const { database } = await seeded(engine);
    try {
      const path = configFor(database);
      const text = await cli(['balances', '-c', path]);
      expect(text).toMatchObject({ code: 0, err: '' });
      expect(text.out).toBe('btc\tmain\talice\t0.87000000\nbtc\tmain\tbob, "the builder"\t0.02500000\n');
      const json = await cli(['balances', '-c', path, '--json', '--coin', 'btc', '--wallet', 'main']);
      expect(JSON.parse(json.out)).toEqual([
        { coin: 'btc', wallet: 'main', account: 'alice', balance: '0.87000000', frozen: false },
        { coin: 'btc', wallet: 'main', account: 'bob, "the builder"', balance: '0.02500000', frozen: false },
      ]);
      const accounts = JSON.parse((await cli(['accounts', '-c', path, '--json'])).out) as Record<string, unknown>[];
      expect(accounts.map((a) => [a.account, a.kind, a.balance, a.frozen])).toEqual([
        ['alice', 'user', '0.87000000', false],
        ['bob, "the builder"', 'user', '0.02500000', false],
      ]);
      expect((await cli(['accounts', '-c', path])).out).toMatch(/^btc\tmain\t\d+\talice\tuser\t0\.87000000\tactive\n/);
      expect(await cli(['balances', '-c', path, '--wallet', 'nope'])).toMatchObject({
        code: 1,
        err: 'cryptoassets: wallet "nope" not found\n',
      });
      expect(await cli(['balances', '-c', path, '--coin', 'ltc'])).toMatchObject({
        code: 1,
        err: 'cryptoassets: coin "ltc" is not configured\n',
      });
    } finally {
      await database.drop();
    }
  });

  it('history pages an account by name, as text, CSV and JSON', async () => {
    const { database } = await seeded(engine);
    try {
      const path = configFor(database);
      const json = JSON.parse(
        (await cli(['history', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'alice', '--json'])).out,
      ) as {
        entries: { kind: string; amount: string; id: number }[];
        next: string | null;
      };
      expect(json.entries.map((e) => [e.kind, e.amount])).toEqual([
        ['withdrawal', '-0.00500000'],
        ['withdrawal', '-0.10000000'],
        ['transfer_out', '-0.02500000'],
        ['deposit_credit', '1.00000000'],
      ]);
      expect(json.next).toBeNull();
      const page = await cli(['history', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'alice', '--limit', '2']);
      expect(page.code).toBe(0);
      expect(page.out.trim().split('\n')).toHaveLength(2);
      expect(page.err).toBe(`more: --before ${json.entries[1]!.id}\n`);
      const rest = await cli([
        'history',
        '-c',
        path,
        '--coin',
        'btc',
        '--wallet',
        'main',
        '--account',
        'alice',
        '--before',
        String(json.entries[1]!.id),
        '--csv',
      ]);
      const lines = rest.out.trim().split('\n');
      expect(lines[0]).toBe('id,time,kind,amount,transaction_id,label');
      expect(lines.slice(1).map((line) => line.split(',')[2])).toEqual(['transfer_out', 'deposit_credit']);
      expect(lines[1]).toMatch(/,transfer_out,-0\.02500000,\d+,lunch$/);
      expect(await cli(['history', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'nobody'])).toMatchObject({
        code: 1,
        err: 'cryptoassets: account "nobody" not found\n',
      });
      expect((await cli(['history', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'alice', '--limit', '0'])).code).toBe(64);
    } finally {
      await database.drop();
    }
  });

  it('withdrawals lists the waiting ones with amount, address, state, age and refusal', async () => {
    const { database, refusedId, pendingId } = await seeded(engine);
    try {
      const path = configFor(database);
      const waiting = JSON.parse((await cli(['withdrawals', '-c', path, '--json'])).out) as Record<string, unknown>[];
      expect(waiting.map((w) => [w.id, w.state, w.amount, w.address, w.account, w.refusal])).toEqual([
        [refusedId, 'refused', '0.10000000', EXTERNAL, 'alice', 'bad-txns-something'],
        [pendingId, 'pending', '0.00500000', EXTERNAL, 'alice', null],
      ]);
      for (const row of waiting) expect(row.ageSeconds).toBeGreaterThanOrEqual(0);
      expect(JSON.parse((await cli(['withdrawals', '-c', path, '--json', '--refused'])).out)).toHaveLength(1);
      expect(JSON.parse((await cli(['withdrawals', '-c', path, '--json', '--pending'])).out)).toHaveLength(1);
      expect(JSON.parse((await cli(['withdrawals', '-c', path, '--json', '--all'])).out)).toHaveLength(2);
      const text = await cli(['withdrawals', '-c', path, '--refused']);
      expect(text.out).toMatch(
        new RegExp(`^btc\\tmain\\t${refusedId}\\trefused\\t0\\.10000000\\t${EXTERNAL}\\talice\\t\\d+s old\\tbad-txns-something\\n$`),
      );
      expect((await cli(['withdrawals', '-c', path, '--all', '--pending'])).code).toBe(64);
    } finally {
      await database.drop();
    }
  });

  it('retry-withdrawal and cancel-withdrawal: text and JSON, wrong states refused, --all-refused in one go', async () => {
    const { database, refusedId, pendingId } = await seeded(engine);
    try {
      const path = configFor(database);
      const scope = ['-c', path, '--coin', 'btc', '--wallet', 'main'];
      const balance = async () => JSON.parse((await cli(['balances', '-c', path, '--json'])).out)[0].balance as string;
      expect(await balance()).toBe('0.87000000');

      // Only a refused withdrawal can be retried; nothing changes on refusal.
      const wrong = await cli(['retry-withdrawal', ...scope, '--id', String(pendingId)]);
      expect(wrong).toMatchObject({ code: 1, out: '' });
      expect(wrong.err).toMatch(/^cryptoassets: .*\n$/);
      const retried = await cli(['retry-withdrawal', ...scope, '--id', String(refusedId), '--json']);
      expect(retried.code).toBe(0);
      expect(JSON.parse(retried.out)).toEqual({
        id: refusedId,
        state: 'pending',
        amount: '0.10000000',
        address: EXTERNAL,
        refusal: 'bad-txns-something',
      });
      expect((await cli(['retry-withdrawal', ...scope, '--all-refused'])).out).toBe('no refused withdrawals in btc/main\n');

      // Cancel refunds by a new entry; a cancelled one cannot be cancelled again.
      const cancelled = await cli(['cancel-withdrawal', ...scope, '--id', String(pendingId)]);
      expect(cancelled).toMatchObject({
        code: 0,
        out: `withdrawal ${pendingId} (0.00500000 to ${EXTERNAL}) cancelled; 0.00500000 refunded to its account\n`,
      });
      expect(await balance()).toBe('0.87500000');
      expect(await cli(['cancel-withdrawal', ...scope, '--id', String(pendingId)])).toMatchObject({ code: 1, out: '' });
      expect(await cli(['cancel-withdrawal', ...scope, '--all-refused'])).toMatchObject({ code: 64 });

      // Two refused at once: --all-refused puts both back, in one transaction.
      const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] });
      let refusedNow: number[];
      try {
        const btc = app.coin('btc');
        await btc.transaction(async (book) => (await book.wallet('main')).withdraw('alice', EXTERNAL, 200_000n));
        const opened = await btc.transaction(async (book) => (await book.wallet('main')).openBroadcast());
        const refused = await btc.transaction(async (book) =>
          (await book.wallet('main')).refuseBroadcast(opened!.broadcast.id, 'no funds'),
        );
        refusedNow = refused.map((w) => w.id).sort((a, b) => a - b);
      } finally {
        await app.close();
      }
      expect(refusedNow).toHaveLength(2);
      const all = await cli(['retry-withdrawal', ...scope, '--all-refused', '--json']);
      expect(all.code).toBe(0);
      expect((JSON.parse(all.out) as { id: number; state: string }[]).map((w) => [w.id, w.state])).toEqual(
        refusedNow.map((id) => [id, 'pending']),
      );
      expect(await cli(['retry-withdrawal', ...scope])).toMatchObject({
        code: 64,
        err: 'cryptoassets: retry-withdrawal: give exactly one of --id N or --all-refused\n',
      });
    } finally {
      await database.drop();
    }
  });

  it('freeze-account and unfreeze-account; a frozen account shows in balances and cannot send', async () => {
    const { database, pendingId } = await seeded(engine);
    try {
      const path = configFor(database);
      const args = ['-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'alice'];
      const frozen = await cli(['freeze-account', ...args]);
      expect(frozen.code).toBe(0);
      expect(frozen.out).toMatch(
        new RegExp(
          `^account main/alice \\(btc, id \\d+\\) is frozen since .*: it cannot send or receive transfers; deposits still credit it\n` +
            `held in the queue until unfreeze-account: withdrawals ${pendingId}\n$`,
        ),
      );
      expect((await cli(['balances', '-c', path])).out).toContain('alice\t0.87000000\tFROZEN\n');
      const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] });
      try {
        await expect(
          app.coin('btc').transaction(async (book) => (await book.wallet('main')).transfer('alice', 'bob, "the builder"', 1n)),
        ).rejects.toMatchObject({
          code: 'account_frozen',
        });
      } finally {
        await app.close();
      }
      expect(JSON.parse((await cli(['unfreeze-account', ...args, '--json'])).out)).toMatchObject({
        account: 'alice',
        frozen: false,
        frozenAt: null,
        queuedWithdrawals: [pendingId],
        withdrawalsInBroadcast: [],
      });
      // A withdrawal that already joined a broadcast cannot be held: the freeze says so.
      const opener = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] });
      try {
        await opener.coin('btc').transaction(async (book) => (await book.wallet('main')).openBroadcast());
      } finally {
        await opener.close();
      }
      const late = await cli(['freeze-account', ...args]);
      expect(late.out).toContain(`already being broadcast, a freeze cannot stop them: withdrawals ${pendingId}\n`);
      expect(late.out).not.toContain('held in the queue');
      await cli(['unfreeze-account', ...args]);
      expect(await cli(['freeze-account', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'Network fees'])).toMatchObject({
        code: 1,
      });
      expect(await cli(['freeze-account', '-c', path, '--coin', 'btc', '--wallet', 'main', '--account', 'nobody'])).toMatchObject({
        code: 1,
        err: 'cryptoassets: account "nobody" not found\n',
      });
    } finally {
      await database.drop();
    }
  });

  it('export writes every journal entry as CSV or JSON lines, paging through more than one page', async () => {
    const { database } = await seeded(engine);
    try {
      // 1 100 more entries, over the export's page of 1 000.
      const app = await CryptoAssets.open({ database: database.options, coins: [{ coin: BTC, network: BTC.networks.regtest! }] });
      try {
        await app.coin('btc').transaction(async (book) => {
          const wallet = await book.wallet('main');
          for (let i = 0; i < 550; i++) await wallet.transfer('alice', 'bob, "the builder"', 1n);
        });
      } finally {
        await app.close();
      }
      const path = configFor(database);
      const csv = await cli(['export', '-c', path, '--csv']);
      expect(csv).toMatchObject({ code: 0, err: '' });
      const lines = csv.out.trim().split('\n');
      expect(lines[0]).toBe('id,time,coin,wallet,account,kind,amount,transaction_id,type,txid');
      expect(lines).toHaveLength(1 + 5 + 1_100);
      expect(lines[1]).toMatch(/^\d+,\d{4}-\d\d-\d\dT[\d:.]+Z,btc,main,alice,deposit_credit,1\.00000000,\d+,deposit,[0-9a-f]{64}$/);
      expect(lines[2]).toMatch(/^\d+,[^,]+,btc,main,alice,transfer_out,-0\.02500000,\d+,internal,$/);
      expect(lines[3]).toMatch(/^\d+,[^,]+,btc,main,"bob, ""the builder""",transfer_in,0\.02500000,\d+,internal,$/);
      const ids = lines.slice(1).map((line) => Number(line.split(',')[0]));
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);

      const jsonl = await cli(['export', '-c', path, '--json', '--coin', 'btc']);
      const records = jsonl.out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(records).toHaveLength(1_105);
      expect(records[0]).toMatchObject({
        coin: 'btc',
        wallet: 'main',
        account: 'alice',
        kind: 'deposit_credit',
        amount: '1.00000000',
        type: 'deposit',
      });
      const sum = records.reduce((total, r) => total + BigInt(String(r.amount).replace('.', '')), 0n);
      expect(sum).toBe(100_000_000n - 10_000_000n - 500_000n); // what the accounts hold

      expect((await cli(['export', '-c', path])).code).toBe(64);
      expect(await cli(['export', '-c', path, '--coin', 'ltc', '--csv'])).toMatchObject({ code: 1, out: '' });
    } finally {
      await database.drop();
    }
  });

  it('doctor: every check ok on a migrated database with a node and an answering webhook; FAIL lines and exit 1 otherwise', async () => {
    const { database } = await seeded(engine);
    try {
      const good = configFor(database, `events:\n  app: {type: webhook, url: "${hookUrl}"}\n`);
      const before = hookRequests.length;
      const ok = await cli(['doctor', '-c', good]);
      expect(ok.err).toBe('');
      expect(ok.code).toBe(0);
      const lines = ok.out.trim().split('\n');
      expect(lines.slice(0, -1).every((line) => line.startsWith('ok   '))).toBe(true);
      expect(lines.map((line) => line.split(':')[0])).toEqual([
        'ok   config',
        'ok   database',
        'ok   schema',
        'ok   btc node',
        'ok   btc wallet',
        'ok   btc walletnotify',
        'ok   webhook app',
        'doctor',
      ]);
      const coinSchema = COIN_SCHEMA[engine];
      expect(ok.out).toContain(`ok   schema: latest (shared tables 3/3, btc ${coinSchema}/${coinSchema})`);
      expect(ok.out).toContain(`ok   webhook app: ${hookUrl} answers (HTTP 405 to HEAD)`);
      expect(hookRequests.slice(before)).toEqual(['HEAD']); // no event was POSTed

      const bad = configFor(
        database,
        `events:\n  app: {type: webhook, url: "http://127.0.0.1:9/"}\nstatus_server: {port: 18999}\n`,
        ', walletnotify: {type: http, port: 18999}',
      );
      const failing = await cli(['doctor', '-c', bad, '--json']);
      expect(failing.code).toBe(1);
      const report = JSON.parse(failing.out) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
      expect(report.ok).toBe(false);
      expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['btc walletnotify', 'webhook app']);
      expect(report.checks.find((c) => c.name === 'webhook app')!.detail).toMatch(/^http:\/\/127\.0\.0\.1:9\/ does not answer: /);

      const missing = await cli(['doctor', '-c', join(dir, 'nope.yaml')]);
      expect(missing.code).toBe(1);
      expect(missing.out).toMatch(/^FAIL config: /);
    } finally {
      await database.drop();
    }
  });

  it('doctor: a node that does not answer fails its line, without a secret, and the wallet is not asked', async () => {
    const { database } = await seeded(engine);
    try {
      const url = engine === 'sqlite' ? `sqlite:${database.location}` : database.location;
      const path = join(dir, `config-${++files}.yaml`);
      writeFileSync(
        path,
        `database:\n  url: "${url}"\ncoins:\n  btc: {network: regtest, backend: {type: bitcoind, url: "http://127.0.0.1:9", username: u, password: node-s3cret, timeout_ms: 2000}}\n`,
      );
      const result = await cli(['doctor', '-c', path]);
      expect(result.code).toBe(1);
      expect(result.out).toMatch(/\nFAIL btc node: .+\n/);
      expect(result.out).not.toContain('btc wallet:');
      expect(result.out).toContain('ok   schema: latest');
      expect(result.out + result.err).not.toContain('node-s3cret');
    } finally {
      await database.drop();
    }
  });

  it('doctor: a database not migrated to the latest schema fails the schema check', async () => {
    const database = await createTestDatabase(engine);
    try {
      if (engine === 'sqlite') writeFileSync(database.location, '');
      const result = await cli(['doctor', '-c', configFor(database)]);
      expect(result.code).toBe(1);
      expect(result.out).toContain(
        `FAIL schema: not migrated: shared tables 0/3, btc 0/${COIN_SCHEMA[engine]}: run cryptoassets initialize-database`,
      );
      expect(result.out).toContain('ok   btc node:');
    } finally {
      await database.drop();
    }
  });
});

describe('csvLine', () => {
  it('quotes what needs quoting and defuses spreadsheet formulas, but not negative amounts', () => {
    expect(csvLine([1, 'a,b', 'say "hi"', null, '-0.5', '=SUM(A1)', '-x'])).toBe('1,"a,b","say ""hi""",,-0.5,"\'=SUM(A1)","\'-x"');
  });
});
