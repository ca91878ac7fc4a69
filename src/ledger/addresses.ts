/**
 * Receiving addresses (ours, tied to an account) and external addresses (where we sent money).
 * An address string exists once per coin; a receiving address belongs to exactly one wallet and
 * account. Addresses are stored in canonical form (bech32 lowercase), so look-ups compare equal.
 */
import { assertValidAddress } from '../domain/address.js';
import { AlreadyExists, InvalidState, NotFound } from '../domain/errors.js';
import { checkName, checkOptionalName } from '../domain/names.js';
import { type AccountKey, accountIdOf, type CoinScope, type WalletScope } from './context.js';
import { getAccount, resolveAccountId } from './accounts.js';
import type { Account, Address } from './records.js';
import { accountFromRow, addressFromRow, nowText, toId } from './rows.js';

/** The row of an address string, whoever it belongs to. */
export async function findAddressRow(scope: WalletScope, canonical: string): Promise<Address | undefined> {
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.address} WHERE address = ?`, [canonical]);
  return row ? addressFromRow(row) : undefined;
}

/**
 * Record a receiving address the backend created for an account of this wallet: one statement
 * (`insertReceivingAddress`); only when it records nothing, the look-ups that say why.
 * @throws InvalidAddress, AlreadyExists (address string or label), NotFound (account)
 */
export async function addReceivingAddress(
  scope: WalletScope,
  account: AccountKey,
  address: string,
  label: string | null,
): Promise<Address> {
  const canonical = assertValidAddress(address, scope.context.network);
  const checkedLabel = checkOptionalName('address label', label);
  const recorded = await insertReceivingAddress(scope, account, canonical, checkedLabel);
  if (recorded) return recorded;
  throw await receivingAddressRefusal(scope, account, canonical, checkedLabel);
}

/**
 * Insert a receiving address (canonical form, label already checked) in one statement, only when
 * the account (by id or name) is one of this wallet's and neither the address string (whoever it
 * belongs to, external destinations included) nor the label (per wallet) is taken: the two unique
 * constraints of the address table make `ON CONFLICT DO NOTHING` skip it. Returns undefined when
 * nothing was recorded; `receivingAddressRefusal` says why.
 */
export async function insertReceivingAddress(
  scope: WalletScope,
  account: AccountKey,
  canonical: string,
  label: string | null,
): Promise<Address | undefined> {
  const [column, key] = accountCondition(account);
  const t = scope.context.tables;
  // SQLite needs the WHERE clause to parse INSERT … SELECT … ON CONFLICT; PostgreSQL types the
  // selected parameters from the columns they are inserted into.
  const row = await scope.tx.get(
    `INSERT INTO ${t.address} (address, wallet_id, account_id, label, created_at)
     SELECT ?, acc.wallet_id, acc.id, ?, ? FROM ${t.account} acc WHERE acc.wallet_id = ? AND acc.${column} = ?
     ON CONFLICT DO NOTHING RETURNING *`,
    [canonical, label, nowText(), scope.walletId, key],
  );
  return row ? addressFromRow(row) : undefined;
}

/**
 * Why `insertReceivingAddress` recorded nothing, checked in the order the ledger has always
 * checked: the account, the address string, the label.
 */
export async function receivingAddressRefusal(
  scope: WalletScope,
  account: AccountKey,
  canonical: string,
  label: string | null,
): Promise<Error> {
  await getAccount(scope, account);
  if (await findAddressRow(scope, canonical)) return new AlreadyExists('address', canonical);
  if (label !== null && (await labelTaken(scope, label))) return new AlreadyExists('address label', label);
  // Rows of this table are never deleted, so a refusal always leaves its reason behind.
  return new InvalidState(`the receiving address ${canonical} was not recorded, for no reason found`);
}

/** The column and value that select an account given by record, id or name. @throws InvalidName, TypeError */
function accountCondition(account: AccountKey): ['id', number] | ['name', string] {
  return typeof account === 'string' ? ['name', checkName('account name', account)] : ['id', accountIdOf(account)];
}

/** What `planReceivingAddress` found: the ids to record the address with, and its label. */
export interface ReceivingAddressPlan {
  readonly walletId: number;
  readonly accountId: number;
  readonly label: string;
}

/**
 * Before the backend makes an address: the wallet by name, its account by id or name, and whether
 * the label is free, in one statement. The label is the requested one, or else the automatic one
 * (`automaticLabel`'s format, built in SQL since the account may be given by name). Returns
 * undefined when an automatic label is taken (the caller tries another suffix).
 * @throws NotFound (wallet, account), AlreadyExists (requested label), InvalidName
 */
export async function planReceivingAddress(
  scope: CoinScope,
  walletName: string,
  account: AccountKey,
  requested: string | null,
): Promise<ReceivingAddressPlan | undefined> {
  const t = scope.context.tables;
  const name = checkName('wallet name', walletName);
  // An account key that is not one is reported after an unknown wallet, as the look-ups did.
  let condition: ['id', number] | ['name', string] | undefined;
  let invalidKey: Error | undefined;
  try {
    condition = accountCondition(account);
  } catch (error) {
    invalidKey = error as Error;
  }
  const labelSql = requested === null ? `'account-' || CAST(acc.id AS TEXT) || '-' || ?` : '?';
  const labelParam = requested ?? automaticSuffix();
  const row = await scope.tx.get<{ wallet_id: unknown; account_id: unknown; label: unknown; taken: unknown }>(
    `SELECT w.id AS wallet_id, acc.id AS account_id, ${labelSql} AS label,
       CASE WHEN EXISTS (SELECT 1 FROM ${t.address} a WHERE a.wallet_id = w.id AND a.label = ${labelSql}) THEN 1 ELSE 0 END AS taken
     FROM ${t.wallet} w LEFT JOIN ${t.account} acc ON acc.wallet_id = w.id AND acc.${condition?.[0] ?? 'id'} = ?
     WHERE w.name = ?`,
    [labelParam, labelParam, condition?.[1] ?? null, name],
  );
  if (!row) throw new NotFound('wallet', walletName);
  if (invalidKey !== undefined) throw invalidKey;
  if (row.account_id === null || row.account_id === undefined) {
    throw new NotFound('account', typeof account === 'string' ? account : accountIdOf(account));
  }
  if (Number(row.taken) === 1) {
    if (requested !== null) throw new AlreadyExists('address label', requested);
    return undefined;
  }
  return { walletId: toId(row.wallet_id), accountId: toId(row.account_id), label: String(row.label) };
}

export async function labelTaken(scope: WalletScope, label: string): Promise<boolean> {
  const row = await scope.tx.get(`SELECT 1 AS taken FROM ${scope.context.tables.address} WHERE wallet_id = ? AND label = ?`, [
    scope.walletId,
    label,
  ]);
  return row !== undefined;
}

/**
 * A label not used by any address of this wallet, for backends (block.io) that need unique labels
 * and callers that do not care to name addresses. Not meant for people to read.
 */
export async function automaticLabel(scope: WalletScope, account: AccountKey): Promise<string> {
  const accountId = await resolveAccountId(scope, account);
  for (;;) {
    const label = `account-${accountId}-${automaticSuffix()}`;
    if (!(await labelTaken(scope, label))) return label;
  }
}

/** The part of an automatic label after the account id: the time and six random base-36 digits. */
function automaticSuffix(): string {
  const random = Math.floor(Math.random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return `${Date.now().toString(36)}-${random}`;
}

/** A receiving address of this wallet (archived or not). @throws InvalidAddress, NotFound */
export async function getReceivingAddress(scope: WalletScope, address: string): Promise<Address> {
  const canonical = assertValidAddress(address, scope.context.network);
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.address} WHERE address = ? AND wallet_id = ?`, [
    canonical,
    scope.walletId,
  ]);
  if (!row) throw new NotFound('receiving address', canonical);
  return addressFromRow(row);
}

/** The account that owns a receiving address of this wallet, or undefined when it is not ours. */
export async function findAccountByAddress(scope: WalletScope, canonical: string): Promise<Account | undefined> {
  const t = scope.context.tables;
  const row = await scope.tx.get(
    `SELECT acc.* FROM ${t.address} a JOIN ${t.account} acc ON acc.id = a.account_id
     WHERE a.address = ? AND a.wallet_id = ?`,
    [canonical, scope.walletId],
  );
  return row ? accountFromRow(row) : undefined;
}

/**
 * Archive or restore a receiving address. Archived addresses leave active listings and polling;
 * money that still arrives on them is credited all the same.
 */
export async function setArchived(scope: WalletScope, address: string, archived: boolean): Promise<Address> {
  const found = await getReceivingAddress(scope, address);
  const row = await scope.tx.get(`UPDATE ${scope.context.tables.address} SET archived_at = ? WHERE id = ? AND wallet_id = ? RETURNING *`, [
    archived ? (found.archivedAt?.toISOString() ?? nowText()) : null,
    found.id,
    scope.walletId,
  ]);
  return addressFromRow(row!);
}

/** The id of an address row for a withdrawal destination, created on first use. */
export async function externalAddressId(scope: WalletScope, canonical: string): Promise<number> {
  const existing = await findAddressRow(scope, canonical);
  if (existing) return existing.id;
  const row = await scope.tx.get<{ id: bigint }>(
    `INSERT INTO ${scope.context.tables.address} (address, created_at) VALUES (?, ?) RETURNING id`,
    [canonical, nowText()],
  );
  return Number(row!.id);
}

/** Receiving addresses of this wallet: active ones by default. */
export async function listReceivingAddresses(
  scope: WalletScope,
  options: { archived?: boolean | 'include'; account?: AccountKey } = {},
): Promise<Address[]> {
  const conditions = ['wallet_id = ?'];
  const params: (number | string)[] = [scope.walletId];
  if (options.archived === true) conditions.push('archived_at IS NOT NULL');
  else if (options.archived !== 'include') conditions.push('archived_at IS NULL');
  if (options.account !== undefined) {
    conditions.push('account_id = ?');
    params.push(await resolveAccountId(scope, options.account));
  }
  const rows = await scope.tx.all(`SELECT * FROM ${scope.context.tables.address} WHERE ${conditions.join(' AND ')} ORDER BY id`, params);
  return rows.map(addressFromRow);
}
