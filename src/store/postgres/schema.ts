/**
 * PostgreSQL schema of one coin's tables, as versioned migrations. The same rules as the SQLite
 * schema, in PostgreSQL's own types: BIGINT identities and amounts, TIMESTAMPTZ (UTC) timestamps,
 * and a trigger function that keeps ledger entries append-only.
 */
import type { CoinMigration } from '../migrations.js';
import { ledgerFunctionStatements } from './ledger-functions.js';

export const POSTGRES_COIN_MIGRATIONS: readonly CoinMigration[] = [
  {
    version: 1,
    name: 'ledger tables',
    statements: (t) => [
      `CREATE TABLE ${t.wallet} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
      )`,
      `CREATE TABLE ${t.account} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        wallet_id BIGINT NOT NULL REFERENCES ${t.wallet} (id),
        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
        kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'network_fee')),
        balance BIGINT NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        UNIQUE (wallet_id, name),
        UNIQUE (id, wallet_id)
      )`,
      `CREATE UNIQUE INDEX ${t.account}_one_fee_account ON ${t.account} (wallet_id) WHERE kind = 'network_fee'`,
      `CREATE TABLE ${t.address} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        address TEXT NOT NULL UNIQUE CHECK (length(address) BETWEEN 1 AND 127),
        wallet_id BIGINT REFERENCES ${t.wallet} (id),
        account_id BIGINT,
        label TEXT CHECK (label IS NULL OR length(label) BETWEEN 1 AND 255),
        archived_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        FOREIGN KEY (account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        CHECK ((wallet_id IS NULL) = (account_id IS NULL)),
        CHECK (archived_at IS NULL OR account_id IS NOT NULL)
      )`,
      `CREATE UNIQUE INDEX ${t.address}_label ON ${t.address} (wallet_id, label)`,
      `CREATE INDEX ${t.address}_account ON ${t.address} (account_id)`,
      `CREATE TABLE ${t.networkTransaction} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_type TEXT NOT NULL CHECK (transaction_type IN ('deposit', 'broadcast')),
        txid TEXT CHECK (txid IS NULL OR txid ~ '^[0-9a-f]{64}$'),
        wallet_id BIGINT REFERENCES ${t.wallet} (id),
        state TEXT NOT NULL,
        confirmations INTEGER NOT NULL DEFAULT 0 CHECK (confirmations >= 0),
        fee BIGINT CHECK (fee IS NULL OR fee >= 0),
        comment TEXT,
        opened_at TIMESTAMPTZ,
        closed_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
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
      `CREATE TABLE ${t.transaction} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        wallet_id BIGINT NOT NULL REFERENCES ${t.wallet} (id),
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        amount BIGINT NOT NULL CHECK (amount > 0),
        sending_account_id BIGINT,
        receiving_account_id BIGINT,
        address_id BIGINT REFERENCES ${t.address} (id),
        network_transaction_id BIGINT REFERENCES ${t.networkTransaction} (id),
        label TEXT CHECK (label IS NULL OR length(label) <= 255),
        idempotency_key TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 255),
        credited_at TIMESTAMPTZ,
        processed_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        FOREIGN KEY (sending_account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        FOREIGN KEY (receiving_account_id, wallet_id) REFERENCES ${t.account} (id, wallet_id),
        UNIQUE (wallet_id, idempotency_key),
        CHECK (
          (type = 'deposit' AND state IN ('incoming', 'credited')
            AND receiving_account_id IS NOT NULL AND sending_account_id IS NULL
            AND network_transaction_id IS NOT NULL AND address_id IS NOT NULL
            AND (credited_at IS NOT NULL) = (state = 'credited'))
          OR (type = 'withdrawal' AND state IN ('pending', 'broadcasting', 'broadcasted')
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NULL AND address_id IS NOT NULL
            AND (network_transaction_id IS NULL) = (state = 'pending'))
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
      `CREATE UNIQUE INDEX ${t.transaction}_deposit_output ON ${t.transaction} (network_transaction_id, address_id) WHERE type = 'deposit'`,
      `CREATE UNIQUE INDEX ${t.transaction}_one_fee_per_broadcast ON ${t.transaction} (network_transaction_id) WHERE type = 'network_fee'`,
      `CREATE INDEX ${t.transaction}_wallet_state ON ${t.transaction} (wallet_id, type, state)`,
      `CREATE INDEX ${t.transaction}_network_transaction ON ${t.transaction} (network_transaction_id)`,
      `CREATE TABLE ${t.entry} (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES ${t.account} (id),
        transaction_id BIGINT NOT NULL REFERENCES ${t.transaction} (id),
        kind TEXT NOT NULL CHECK (kind IN ('deposit_credit', 'deposit_reversal', 'withdrawal', 'transfer_out',
          'transfer_in', 'network_fee', 'balance_import')),
        amount BIGINT NOT NULL CHECK (amount <> 0),
        created_at TIMESTAMPTZ NOT NULL
      )`,
      `CREATE INDEX ${t.entry}_account ON ${t.entry} (account_id, id)`,
      `CREATE INDEX ${t.entry}_transaction ON ${t.entry} (transaction_id)`,
      `CREATE OR REPLACE FUNCTION cryptoassets_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$`,
      `CREATE TRIGGER ${t.entry}_append_only BEFORE UPDATE OR DELETE ON ${t.entry}
        FOR EACH ROW EXECUTE FUNCTION cryptoassets_refuse_change()`,
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
    statements: (t) => [
      `ALTER TABLE ${t.transaction} ADD COLUMN refusal TEXT CHECK (refusal IS NULL OR length(refusal) <= 1000)`,
      `ALTER TABLE ${t.transaction} ADD COLUMN broadcast_attempts INTEGER NOT NULL DEFAULT 0 CHECK (broadcast_attempts >= 0)`,
      // The table-level CHECKs of schema 1 were created unnamed; find them by what they say.
      dropChecksMentioning(t.transaction, 'withdrawal'),
      `ALTER TABLE ${t.transaction} ADD CONSTRAINT ${t.transaction}_shape CHECK (
          (type = 'deposit' AND state IN ('incoming', 'credited')
            AND receiving_account_id IS NOT NULL AND sending_account_id IS NULL
            AND network_transaction_id IS NOT NULL AND address_id IS NOT NULL
            AND (credited_at IS NOT NULL) = (state = 'credited'))
          OR (type = 'withdrawal' AND state IN ('pending', 'broadcasting', 'broadcasted', 'refused', 'cancelled')
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NULL AND address_id IS NOT NULL
            AND (network_transaction_id IS NULL) = (state IN ('pending', 'refused', 'cancelled')))
          OR (type = 'internal' AND state = 'done'
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NOT NULL
            AND sending_account_id <> receiving_account_id AND network_transaction_id IS NULL)
          OR (type = 'network_fee' AND state = 'done'
            AND sending_account_id IS NOT NULL AND receiving_account_id IS NULL
            AND network_transaction_id IS NOT NULL)
          OR (type = 'balance_import' AND state = 'done'
            AND receiving_account_id IS NOT NULL AND sending_account_id IS NULL)
        )`,
      dropChecksMentioning(t.entry, 'deposit_credit'),
      `ALTER TABLE ${t.entry} ADD CONSTRAINT ${t.entry}_kind CHECK (kind IN ('deposit_credit', 'deposit_reversal', 'withdrawal',
        'transfer_out', 'transfer_in', 'network_fee', 'balance_import', 'withdrawal_refund'))`,
      `CREATE TABLE ${t.chainState} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cursor_hash TEXT CHECK (cursor_hash IS NULL OR cursor_hash ~ '^[0-9a-f]{64}$'),
        cursor_height INTEGER CHECK (cursor_height IS NULL OR cursor_height >= 0),
        reading_seq BIGINT NOT NULL DEFAULT 0 CHECK (reading_seq >= 0),
        tip_hash TEXT,
        tip_height INTEGER,
        scanned_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL,
        CHECK ((cursor_hash IS NULL) = (cursor_height IS NULL))
      )`,
      `ALTER TABLE ${t.networkTransaction} ADD COLUMN reading_seq BIGINT NOT NULL DEFAULT 0`,
      `ALTER TABLE ${t.networkTransaction} ADD COLUMN lease_generation BIGINT`,
      `ALTER TABLE ${t.networkTransaction} ADD COLUMN opened_at_ms BIGINT`,
      // Broadcasts opened under schema 2 keep their time of opening: one left open must wait like
      // any other before it is given up on.
      `UPDATE ${t.networkTransaction} SET opened_at_ms = CAST(FLOOR(EXTRACT(EPOCH FROM opened_at) * 1000) AS BIGINT)
       WHERE opened_at IS NOT NULL`,
      // A withdrawal that joined a broadcast under schema 2 had its `broadcasting` event then.
      `UPDATE ${t.transaction} SET broadcast_attempts = 1 WHERE type = 'withdrawal' AND state IN ('broadcasting', 'broadcasted')`,
    ],
  },
  {
    version: 4,
    name: 'frozen accounts',
    // When an operator froze the account (null: not frozen). A frozen account neither sends nor
    // receives transfers; deposits still credit it.
    statements: (t) => [`ALTER TABLE ${t.account} ADD COLUMN frozen_at TIMESTAMPTZ`],
  },
  {
    version: 5,
    name: 'ledger functions',
    // Transfers and withdrawals in one round trip, accounts locked in id order (ledger-functions.ts).
    statements: ledgerFunctionStatements,
  },
  {
    version: 6,
    name: 'ledger functions, one transfer',
    // Schema 5 was edited before its first release (the one-transfer function, locks by id, the
    // batch's compact answer); a database that took an earlier schema 5 gets every function again
    // (CREATE OR REPLACE: the same statements, idempotent).
    statements: ledgerFunctionStatements,
  },
];

/** Drop the CHECK constraints of `table` whose definition mentions `text`. */
function dropChecksMentioning(table: string, text: string): string {
  return `DO $$ DECLARE name TEXT; BEGIN
    FOR name IN SELECT conname FROM pg_constraint
      WHERE conrelid = '${table}'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%${text}%'
    LOOP EXECUTE format('ALTER TABLE ${table} DROP CONSTRAINT %I', name); END LOOP;
  END $$`;
}

/** Tables shared by all coins. */
export const POSTGRES_GLOBAL_MIGRATIONS: readonly CoinMigration[] = [
  {
    version: 1,
    name: 'service lease',
    statements: () => [
      `CREATE TABLE cryptoassets_lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 255),
        acquired_at TIMESTAMPTZ NOT NULL,
        expires_at_ms BIGINT NOT NULL
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
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        seq BIGINT UNIQUE,
        name TEXT NOT NULL CHECK (name IN ('txupdate')),
        coin TEXT NOT NULL,
        transaction_type TEXT NOT NULL CHECK (transaction_type IN ('deposit', 'withdrawal')),
        transaction_id BIGINT NOT NULL,
        payload TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        sequenced_at TIMESTAMPTZ
      )`,
      `CREATE INDEX cryptoassets_event_unsequenced ON cryptoassets_event (id) WHERE seq IS NULL`,
      `CREATE INDEX cryptoassets_event_transaction ON cryptoassets_event (coin, transaction_type, transaction_id, id)`,
      `CREATE TABLE cryptoassets_event_handler (
        name TEXT PRIMARY KEY,
        delivered_seq BIGINT NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TIMESTAMPTZ NOT NULL
      )`,
      `CREATE TABLE cryptoassets_event_dead_letter (
        handler TEXT NOT NULL,
        seq BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        dead_at TIMESTAMPTZ NOT NULL,
        redeliver_requested_at TIMESTAMPTZ,
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
      `ALTER TABLE cryptoassets_lease ADD COLUMN generation BIGINT NOT NULL DEFAULT 0`,
      `ALTER TABLE cryptoassets_lease ADD COLUMN previous_expired_at_ms BIGINT`,
    ],
  },
];
