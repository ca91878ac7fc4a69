/**
 * SQLite schema of one coin's tables, as versioned migrations. Rules live in the schema, not only
 * in code: positive amounts, closed sets of states, one row per address string, foreign keys, and
 * ledger entries that can never be updated or deleted.
 *
 * Timestamps are ISO-8601 UTC text (`2026-01-02T03:04:05.678Z`), which sorts chronologically.
 */
import type { CoinMigration, CoinTables } from '../migrations.js';

/** SQLite's AUTOINCREMENT keeps ids increasing even after deletes: ids are never reused. */
export const SQLITE_COIN_MIGRATIONS: readonly CoinMigration[] = [
  {
    version: 1,
    name: 'ledger tables',
    statements: (t) => [
      `CREATE TABLE ${t.wallet} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      `CREATE TABLE ${t.account} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        wallet_id INTEGER NOT NULL REFERENCES ${t.wallet} (id),
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
        kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'network_fee')),
        balance INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (wallet_id, name),
        UNIQUE (id, wallet_id)
      )`,
      `CREATE UNIQUE INDEX ${t.account}_one_fee_account ON ${t.account} (wallet_id) WHERE kind = 'network_fee'`,
      `CREATE TABLE ${t.address} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL UNIQUE CHECK (length(address) BETWEEN 1 AND 127),
        wallet_id INTEGER REFERENCES ${t.wallet} (id),
        account_id INTEGER,
        label TEXT CHECK (label IS NULL OR length(label) BETWEEN 1 AND 255),
        archived_at TEXT,
        created_at TEXT NOT NULL,
        FOREIGN KEY (account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        CHECK ((wallet_id IS NULL) = (account_id IS NULL)),
        CHECK (archived_at IS NULL OR account_id IS NOT NULL)
      )`,
      `CREATE UNIQUE INDEX ${t.address}_label ON ${t.address} (wallet_id, label)`,
      `CREATE INDEX ${t.address}_account ON ${t.address} (account_id)`,
      `CREATE TABLE ${t.networkTransaction} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        transaction_type TEXT NOT NULL CHECK (transaction_type IN ('deposit', 'broadcast')),
        txid TEXT CHECK (txid IS NULL OR (length(txid) = 64 AND txid NOT GLOB '*[^0-9a-f]*')),
        wallet_id INTEGER REFERENCES ${t.wallet} (id),
        state TEXT NOT NULL,
        confirmations INTEGER NOT NULL DEFAULT 0 CHECK (confirmations >= 0),
        fee INTEGER CHECK (fee IS NULL OR fee >= 0),
        comment TEXT,
        opened_at TEXT,
        closed_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (transaction_type, txid),
        CHECK (
          (transaction_type = 'deposit' AND wallet_id IS NULL AND txid IS NOT NULL
            AND state IN ('seen', 'conflicted'))
          OR (transaction_type = 'broadcast' AND wallet_id IS NOT NULL
            AND state IN ('opened', 'closed', 'returned', 'vetting'))
        ),
        CHECK (state <> 'closed' OR (txid IS NOT NULL AND fee IS NOT NULL AND closed_at IS NOT NULL))
      )`,
      `CREATE INDEX ${t.networkTransaction}_open ON ${t.networkTransaction} (transaction_type, state, confirmations)`,
      ...transactionAndEntryTables(t, V1_STATES, t).tables,
      ...transactionAndEntryTables(t, V1_STATES, t).indexes,
    ],
  },
  {
    version: 2,
    name: 'conflicted broadcasts',
    // A broadcast of ours can lose to a conflicting transaction (reorganisation, fee bump): its
    // withdrawals may then be unpaid. Deposits say so by their state; broadcasts need a flag.
    statements: (t) => [
      `ALTER TABLE ${t.networkTransaction} ADD COLUMN conflicted INTEGER NOT NULL DEFAULT 0 CHECK (conflicted IN (0, 1))`,
    ],
  },
  {
    version: 3,
    name: 'refused withdrawals, ordered readings, chain cursor, fenced broadcasts',
    rebuildsTables: true,
    statements: (t) => {
      const temporary = { transaction: `${t.transaction}_v3`, entry: `${t.entry}_v3` };
      const rebuilt = transactionAndEntryTables(t, V3_STATES, temporary);
      const transactionColumns = `id, wallet_id, type, state, amount, sending_account_id, receiving_account_id, address_id,
        network_transaction_id, label, idempotency_key, credited_at, processed_at, created_at, updated_at`;
      const entryColumns = 'id, account_id, transaction_id, kind, amount, created_at';
      return [
        ...rebuilt.tables,
        // A withdrawal that joined a broadcast under schema 2 had its `broadcasting` event then:
        // counted as one attempt, so that it is not written a second time.
        `INSERT INTO ${temporary.transaction} (${transactionColumns}, broadcast_attempts)
         SELECT ${transactionColumns}, CASE WHEN type = 'withdrawal' AND state IN ('broadcasting', 'broadcasted') THEN 1 ELSE 0 END
         FROM ${t.transaction}`,
        `INSERT INTO ${temporary.entry} (${entryColumns}) SELECT ${entryColumns} FROM ${t.entry}`,
        `DROP TABLE ${t.entry}`,
        `DROP TABLE ${t.transaction}`,
        // Renaming also points the new entry table's foreign key at the renamed transaction table.
        `ALTER TABLE ${temporary.transaction} RENAME TO ${t.transaction}`,
        `ALTER TABLE ${temporary.entry} RENAME TO ${t.entry}`,
        ...rebuilt.indexes,
        ...readingsAndFencing(t),
      ];
    },
  },
  {
    version: 4,
    name: 'frozen accounts',
    // When an operator froze the account (null: not frozen). A frozen account neither sends nor
    // receives transfers; deposits still credit it.
    statements: (t) => [`ALTER TABLE ${t.account} ADD COLUMN frozen_at TEXT`],
  },
];

/**
 * Schema 3 beside the rebuilt tables: the chain cursor and reading register (one row per coin),
 * and per network transaction the reading that last changed it, the lease generation and the
 * database time of opening a broadcast.
 */
function readingsAndFencing(t: CoinTables): string[] {
  return [
    `CREATE TABLE ${t.chainState} (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      cursor_hash TEXT CHECK (cursor_hash IS NULL OR (length(cursor_hash) = 64 AND cursor_hash NOT GLOB '*[^0-9a-f]*')),
      cursor_height INTEGER CHECK (cursor_height IS NULL OR cursor_height >= 0),
      reading_seq INTEGER NOT NULL DEFAULT 0 CHECK (reading_seq >= 0),
      tip_hash TEXT,
      tip_height INTEGER,
      scanned_at TEXT,
      updated_at TEXT NOT NULL,
      CHECK ((cursor_hash IS NULL) = (cursor_height IS NULL))
    )`,
    `ALTER TABLE ${t.networkTransaction} ADD COLUMN reading_seq INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE ${t.networkTransaction} ADD COLUMN lease_generation INTEGER`,
    `ALTER TABLE ${t.networkTransaction} ADD COLUMN opened_at_ms INTEGER`,
    // Broadcasts opened under schema 2 keep their time of opening (this machine's clock, which is
    // the database's on SQLite): one left open must wait like any other before it is given up on.
    `UPDATE ${t.networkTransaction} SET opened_at_ms = CAST(ROUND((julianday(opened_at) - 2440587.5) * 86400000.0) AS INTEGER)
     WHERE opened_at IS NOT NULL`,
  ];
}

/** Tables shared by all coins. */
export const SQLITE_GLOBAL_MIGRATIONS: readonly CoinMigration[] = [
  {
    version: 1,
    name: 'service lease',
    statements: () => [
      `CREATE TABLE cryptoassets_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 255),
        acquired_at TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'events outbox',
    statements: () => [
      // seq is the public event id, assigned by the service's sequencer in the order rows become
      // visible (committed), so it increases along the delivery order and never skips a row that
      // committed late.
      `CREATE TABLE cryptoassets_event (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER UNIQUE,
        name TEXT NOT NULL CHECK (name IN ('txupdate')),
        coin TEXT NOT NULL,
        transaction_type TEXT NOT NULL CHECK (transaction_type IN ('deposit', 'withdrawal')),
        transaction_id INTEGER NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sequenced_at TEXT
      )`,
      `CREATE INDEX cryptoassets_event_unsequenced ON cryptoassets_event (id) WHERE seq IS NULL`,
      `CREATE INDEX cryptoassets_event_transaction ON cryptoassets_event (coin, transaction_type, transaction_id, id)`,
      `CREATE TABLE cryptoassets_event_handler (
        name TEXT PRIMARY KEY,
        delivered_seq INTEGER NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TEXT NOT NULL
      )`,
      `CREATE TABLE cryptoassets_event_dead_letter (
        handler TEXT NOT NULL,
        seq INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        dead_at TEXT NOT NULL,
        redeliver_requested_at TEXT,
        PRIMARY KEY (handler, seq)
      )`,
    ],
  },
  {
    version: 3,
    name: 'fenced lease',
    // The generation grows at every change of holder; every write of the service checks that its
    // generation still holds an unexpired lease. Times are the database's clock (ms since 1970).
    statements: () => [
      `ALTER TABLE cryptoassets_lease ADD COLUMN generation INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE cryptoassets_lease ADD COLUMN previous_expired_at_ms INTEGER`,
    ],
  },
];

/** What changed in schema 3: withdrawals can be refused or cancelled, with a refund entry. */
interface TransactionRules {
  readonly withdrawalStates: string;
  /** Withdrawal states that belong to no broadcast. */
  readonly unbroadcastStates: string;
  readonly entryKinds: string;
  readonly extraColumns: string;
}

const V1_STATES: TransactionRules = {
  withdrawalStates: "'pending', 'broadcasting', 'broadcasted'",
  unbroadcastStates: "'pending'",
  entryKinds: "'deposit_credit', 'deposit_reversal', 'withdrawal', 'transfer_out', 'transfer_in', 'network_fee', 'balance_import'",
  extraColumns: '',
};

const V3_STATES: TransactionRules = {
  withdrawalStates: "'pending', 'broadcasting', 'broadcasted', 'refused', 'cancelled'",
  unbroadcastStates: "'pending', 'refused', 'cancelled'",
  entryKinds: V1_STATES.entryKinds + ", 'withdrawal_refund'",
  // Why the node refused a withdrawal (kept after a retry, for the record); how often it joined a
  // broadcast (its `broadcasting` event is written once, not per attempt).
  extraColumns: `refusal TEXT CHECK (refusal IS NULL OR length(refusal) <= 1000),
        broadcast_attempts INTEGER NOT NULL DEFAULT 0 CHECK (broadcast_attempts >= 0),`,
};

/**
 * The transaction and entry tables, created under the names given (a rebuild creates them under
 * temporary names and renames them), and their indexes and triggers under the final names.
 */
function transactionAndEntryTables(
  t: CoinTables,
  rules: TransactionRules,
  names: { readonly transaction: string; readonly entry: string },
): { tables: string[]; indexes: string[] } {
  const { transaction, entry } = names;
  const tables = [
    `CREATE TABLE ${transaction} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        wallet_id INTEGER NOT NULL REFERENCES ${t.wallet} (id),
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount > 0),
        sending_account_id INTEGER,
        receiving_account_id INTEGER,
        address_id INTEGER REFERENCES ${t.address} (id),
        network_transaction_id INTEGER REFERENCES ${t.networkTransaction} (id),
        label TEXT CHECK (label IS NULL OR length(label) <= 255),
        idempotency_key TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255),
        credited_at TEXT,
        processed_at TEXT,
        ${rules.extraColumns}
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        FOREIGN KEY (sending_account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        FOREIGN KEY (receiving_account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        UNIQUE (wallet_id, idempotency_key),
        CHECK (
          (type = 'deposit' AND state IN ('incoming', 'credited')
            AND receiving_account_id IS NOT NULL AND sending_account_id IS NULL
            AND network_transaction_id IS NOT NULL AND address_id IS NOT NULL
            AND (credited_at IS NOT NULL) = (state = 'credited'))
          OR (type = 'withdrawal' AND state IN (${rules.withdrawalStates})
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NULL AND address_id IS NOT NULL
            AND (network_transaction_id IS NULL) = (state IN (${rules.unbroadcastStates})))
          OR (type = 'internal' AND state = 'done'
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NOT NULL
            AND sending_account_id <> receiving_account_id AND network_transaction_id IS NULL)
          OR (type = 'network_fee' AND state = 'done'
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NULL
            AND network_transaction_id IS NOT NULL)
          OR (type = 'balance_import' AND state = 'done'
            AND receiving_account_id IS NOT NULL AND sending_account_id IS NULL)
        )
      )`,
    `CREATE TABLE ${entry} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES ${t.account} (id),
        transaction_id INTEGER NOT NULL REFERENCES ${transaction} (id),
        kind TEXT NOT NULL CHECK (kind IN (${rules.entryKinds})),
        amount INTEGER NOT NULL CHECK (amount <> 0),
        created_at TEXT NOT NULL
      )`,
  ];
  const indexes = [
    `CREATE UNIQUE INDEX ${t.transaction}_deposit_output ON ${t.transaction} (network_transaction_id, address_id) WHERE type = 'deposit'`,
    `CREATE UNIQUE INDEX ${t.transaction}_one_fee_per_broadcast ON ${t.transaction} (network_transaction_id) WHERE type = 'network_fee'`,
    `CREATE INDEX ${t.transaction}_wallet_state ON ${t.transaction} (wallet_id, type, state)`,
    `CREATE INDEX ${t.transaction}_network_transaction ON ${t.transaction} (network_transaction_id)`,
    `CREATE INDEX ${t.entry}_account ON ${t.entry} (account_id, id)`,
    `CREATE INDEX ${t.entry}_transaction ON ${t.entry} (transaction_id)`,
    `CREATE TRIGGER ${t.entry}_append_only_update BEFORE UPDATE ON ${t.entry}
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END`,
    `CREATE TRIGGER ${t.entry}_append_only_delete BEFORE DELETE ON ${t.entry}
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END`,
  ];
  return { tables, indexes };
}
