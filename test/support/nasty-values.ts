import type { ClientBase } from 'pg';
import { applyTotesysSchema } from '../../functions/totesys/totesys-schema';

/**
 * Rows of every totesys table holding the values an extract renderer gets wrong first: text with
 * quotes, backslashes, COPY's own escapes, tabs, newlines, every control character, unicode beyond
 * the BMP, NULLs; numerics at their limits and NaN; timestamps at the millisecond's edges, far
 * years, BC and ±infinity (outside `last_updated`, which windows compare); both enums.
 * Used by test/integration/extract/copy-json.test.ts and test/bench/extract-alternatives.ts to
 * check that every rendering gives PostgreSQL's own JSON bytes.
 */
export const NASTY_TEXTS: readonly string[] = [
  'plain',
  '',
  ' ',
  'quote " inside',
  '"quoted"',
  "single ' quote",
  'back\\slash',
  'trailing backslash \\',
  '\\N',
  '\\\\N',
  'NULL',
  'null',
  '\\"',
  'tab\there',
  'new\nline',
  'cr\rlf\r\n',
  '\b\f\v',
  Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join(''),
  '\x7f del',
  'comma, "semi"; pipe|',
  'é ü ß ñ Ω 日本語 한국어',
  '😀 𝄞 🏳️‍🌈 beyond the BMP',
  '\u2028\u2029 line separators',
  '\ufeff bom',
  '{"json": [1, "two"]}',
  '\\u0041 not an escape',
  '\\x41\\101',
  `${'long '.repeat(2000)}end`,
];

export const NASTY_NUMERICS: readonly string[] = ['0', '0.01', '-0.01', '12.3', '99999999.99', '-99999999.99', '1', '-0', 'NaN', '00012.50'];

/** Timestamps for created_at (any value) … */
export const NASTY_TIMESTAMPS: readonly string[] = [
  '2026-01-01 00:00:00',
  '2026-12-31 23:59:59.999',
  '2000-01-01 00:00:00.001',
  '1999-12-31 23:59:59.5',
  '2024-02-29 12:00:00.05',
  '1970-01-01 00:00:00',
  '1900-01-01 00:00:00.123',
  '0001-01-01 00:00:00',
  '0044-03-15 12:00:00.25 BC',
  '4713-11-24 00:00:00 BC',
  '9999-12-31 23:59:59.999',
  '12345-06-07 08:09:10.011',
  '294276-12-31 23:59:59.999',
  'infinity',
  '-infinity',
];

/** … and for last_updated, which must stay finite and below the windows' bounds. */
export const NASTY_LAST_UPDATED: readonly string[] = ['2026-01-01 00:00:00', '2026-06-30 23:59:59.999', '2026-03-01 00:00:00.1', '0044-03-15 12:00:00 BC', '1999-12-31 23:59:59.99'];

/** Applies the totesys schema (when absent) and writes the nasty rows; foreign keys are not enforced (replica role, this session). */
export async function insertNastyRows(client: ClientBase): Promise<void> {
  await applyTotesysSchema(client);
  await client.query('SET session_replication_role = replica');
  const texts = NASTY_TEXTS;
  const n = Math.max(texts.length, NASTY_NUMERICS.length, NASTY_TIMESTAMPS.length);
  const at = (list: readonly string[], i: number): string => list[i % list.length];
  const maybeNull = (i: number): string | null => (i % 4 === 3 ? null : at(texts, i + 1));
  for (let i = 0; i < n; i++) {
    const created = at(NASTY_TIMESTAMPS, i);
    const updated = at(NASTY_LAST_UPDATED, i);
    const t = at(texts, i);
    const stamps = [created, updated];
    await client.query(
      `INSERT INTO "address" (address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [t, maybeNull(i), maybeNull(i + 1), at(texts, i + 2), at(texts, i + 3), at(texts, i + 4), at(texts, i + 5), ...stamps],
    );
    await client.query(`INSERT INTO "counterparty" (counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, created_at, last_updated) VALUES ($1, $2, $3, $4, $5, $6)`, [
      t, i + 1, maybeNull(i), maybeNull(i + 2), ...stamps,
    ]);
    await client.query(`INSERT INTO "currency" (currency_code, created_at, last_updated) VALUES ($1, $2, $3)`, [[...t].slice(0, 3).join(''), ...stamps]);
    await client.query(`INSERT INTO "department" (department_name, location, manager, created_at, last_updated) VALUES ($1, $2, $3, $4, $5)`, [t, maybeNull(i), maybeNull(i + 1), ...stamps]);
    await client.query(`INSERT INTO "design" (design_name, file_location, file_name, created_at, last_updated) VALUES ($1, $2, $3, $4, $5)`, [t, at(texts, i + 1), at(texts, i + 2), ...stamps]);
    await client.query(`INSERT INTO "staff" (first_name, last_name, department_id, email_address, created_at, last_updated) VALUES ($1, $2, $3, $4, $5, $6)`, [t, at(texts, i + 1), i + 1, at(texts, i + 2), ...stamps]);
    await client.query(`INSERT INTO "payment_type" (payment_type_name, created_at, last_updated) VALUES ($1, $2, $3)`, [['SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND'][i % 4], ...stamps]);
    await client.query(
      `INSERT INTO "sales_order" (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [...stamps, i + 1, -(i + 1), 2147483647 - i, -2147483648 + i, at(NASTY_NUMERICS, i), i, t, at(texts, i + 1), 0],
    );
    await client.query(
      `INSERT INTO "purchase_order" (created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [...stamps, i + 1, i + 2, t, i * 1000, at(NASTY_NUMERICS, i + 3), i, at(texts, i + 1), at(texts, i + 2), i],
    );
    await client.query(`INSERT INTO "transaction" (transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) VALUES ($1, $2, $3, $4, $5)`, [
      i % 2 ? 'SALE' : 'PURCHASE', i % 2 ? i + 1 : null, i % 2 ? null : i + 1, ...stamps,
    ]);
    await client.query(
      `INSERT INTO "payment" (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [...stamps, i + 1, i, at(NASTY_NUMERICS, i + 5), i, (i % 4) + 1, i % 2 === 0, t, 12345678 + i, -i],
    );
  }
  await client.query('SET session_replication_role = DEFAULT');
}
