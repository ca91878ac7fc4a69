/**
 * Receiving addresses (ours, tied to an account) and external addresses (where we sent money).
 * An address string exists once per coin; a receiving address belongs to exactly one wallet and
 * account. Addresses are stored in canonical form (bech32 lowercase), so look-ups compare equal.
 */
import { assertValidAddress } from '../domain/address.js';
import { AlreadyExists, NotFound } from '../domain/errors.js';
import { checkOptionalName } from '../domain/names.js';
import type { AccountKey, WalletScope } from './context.js';
import { getAccount, resolveAccountId } from './accounts.js';
import type { Account, Address } from './records.js';
import { accountFromRow, addressFromRow, nowText } from './rows.js';

/** The row of an address string, whoever it belongs to. */
export async function findAddressRow(scope: WalletScope, canonical: string): Promise<Address | undefined> {
  const row = await scope.tx.get(`SELECT * FROM ${scope.context.tables.address} WHERE address = ?`, [canonical]);
  return row ? addressFromRow(row) : undefined;
}

/**
 * Record a receiving address the backend created for an account of this wallet.
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
  const owner = await getAccount(scope, account);
  if (await findAddressRow(scope, canonical)) throw new AlreadyExists('address', canonical);
  if (checkedLabel !== null && (await labelTaken(scope, checkedLabel))) {
    throw new AlreadyExists('address label', checkedLabel);
  }
  const row = await scope.tx.get(
    `INSERT INTO ${scope.context.tables.address} (address, wallet_id, account_id, label, created_at)
     VALUES (?, ?, ?, ?, ?) RETURNING *`,
    [canonical, scope.walletId, owner.id, checkedLabel, nowText()],
  );
  return addressFromRow(row!);
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
    const suffix = Math.floor(Math.random() * 36 ** 6)
      .toString(36)
      .padStart(6, '0');
    const label = `account-${accountId}-${Date.now().toString(36)}-${suffix}`;
    if (!(await labelTaken(scope, label))) return label;
  }
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
