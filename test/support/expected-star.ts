/**
 * The test oracle: the star schema the warehouse must hold, computed in plain TypeScript from
 * snapshots of the totesys source rows, independently of the SQL files under test.
 *
 * It follows ARCHITECTURE.md "Star schema conventions" literally, and nothing else: if the warehouse and
 * this oracle disagree, one of them misreads the design, and the test says which rows differ.
 *
 * Everything is text, in the canonical form `warehouse-snapshot.ts` reads the warehouse in:
 * integers as decimal digits, dates 'YYYY-MM-DD', times 'HH:MM:SS.mmm', numerics with two decimals,
 * booleans 'true'/'false', NULL as null. Source snapshots are read the same way (timestamps as
 * 'YYYY-MM-DD HH:MM:SS.mmm', taken as UTC).
 *
 * How cycles accumulate (one snapshot is taken just before each `totes run`):
 * - a fact holds every version (id, last_updated) seen in any snapshot, once: the first snapshot
 *   that shows a version decides its content, because the warehouse inserts a version only once;
 * - a dimension is upserted on its natural key, so later snapshots overwrite earlier ones and a row
 *   that disappears from the source stays;
 * - dim_date holds every date from the earliest to the latest date any fact version references.
 */
import { STAR_TABLE_NAMES, type StarTableName } from '../../functions/core/contract/star-tables';
import type { SourceTableName } from '../../functions/core/contract/source-tables';

/** A row as text: column name → canonical text value, or null. */
export type TextRow = Readonly<Record<string, string | null>>;

/** The rows of the 11 totesys tables at one moment, as text. */
export type SourceSnapshot = Readonly<Record<SourceTableName, readonly TextRow[]>>;

/** The rows of the 11 star tables, without the warehouse's surrogate `*_record_id` columns. */
export type StarRows = Record<StarTableName, TextRow[]>;

/** ISO 4217 English names of the currencies we know; any other code gets a NULL name. */
export const CURRENCY_NAMES: Readonly<Record<string, string>> = {
  GBP: 'Pound Sterling',
  USD: 'US Dollar',
  EUR: 'Euro',
};

const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTH_NAMES = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

/** The star schema expected after one cycle per snapshot, in order. */
export function expectedStar(snapshots: readonly SourceSnapshot[]): StarRows {
  if (snapshots.length === 0) throw new Error('expectedStar needs at least one source snapshot (one per `totes run`)');
  const facts = {
    fact_sales_order: accumulateVersions(snapshots, 'sales_order', 'sales_order_id', factSalesOrder),
    fact_purchase_order: accumulateVersions(snapshots, 'purchase_order', 'purchase_order_id', factPurchaseOrder),
    fact_payment: accumulateVersions(snapshots, 'payment', 'payment_id', factPayment),
  };
  const dims = {
    dim_staff: upsertAcross(snapshots, 'staff_id', dimStaff),
    dim_location: upsertAcross(snapshots, 'location_id', dimLocation),
    dim_design: upsertAcross(snapshots, 'design_id', dimDesign),
    dim_currency: upsertAcross(snapshots, 'currency_id', dimCurrency),
    dim_counterparty: upsertAcross(snapshots, 'counterparty_id', dimCounterparty),
    dim_transaction: upsertAcross(snapshots, 'transaction_id', dimTransaction),
    dim_payment_type: upsertAcross(snapshots, 'payment_type_id', dimPaymentType),
  };
  const all: StarRows = { ...dims, ...facts, dim_date: dimDate(Object.values(facts).flat()) };
  for (const name of STAR_TABLE_NAMES) if (!all[name]) throw new Error(`expectedStar built no rows for ${name}`);
  return all;
}

// ---------------------------------------------------------------------------------------------
// Dimensions: one function per table, from one snapshot.

export function dimStaff(s: SourceSnapshot): TextRow[] {
  const departments = indexBy(s.department, 'department_id', 'department');
  return s.staff.map((st) => {
    const dep = mustFind(departments, st.department_id, `staff ${st.staff_id} → department`);
    return {
      staff_id: int(st.staff_id),
      first_name: st.first_name,
      last_name: st.last_name,
      department_name: dep.department_name,
      location: dep.location ?? null,
      email_address: st.email_address,
    };
  });
}

export function dimLocation(s: SourceSnapshot): TextRow[] {
  return s.address.map((a) => ({
    location_id: int(a.address_id),
    address_line_1: a.address_line_1,
    address_line_2: a.address_line_2 ?? null,
    district: a.district ?? null,
    city: a.city,
    postal_code: a.postal_code,
    country: a.country,
    phone: a.phone,
  }));
}

export function dimDesign(s: SourceSnapshot): TextRow[] {
  return s.design.map((d) => ({
    design_id: int(d.design_id),
    design_name: d.design_name,
    file_location: d.file_location,
    file_name: d.file_name,
  }));
}

export function dimCurrency(s: SourceSnapshot): TextRow[] {
  return s.currency.map((c) => ({
    currency_id: int(c.currency_id),
    currency_code: c.currency_code,
    currency_name: currencyName(c.currency_code),
  }));
}

export function currencyName(code: string | null): string | null {
  return code !== null && Object.hasOwn(CURRENCY_NAMES, code) ? CURRENCY_NAMES[code] : null;
}

export function dimCounterparty(s: SourceSnapshot): TextRow[] {
  const addresses = indexBy(s.address, 'address_id', 'address');
  return s.counterparty.map((cp) => {
    const a = mustFind(addresses, cp.legal_address_id, `counterparty ${cp.counterparty_id} → legal address`);
    return {
      counterparty_id: int(cp.counterparty_id),
      counterparty_legal_name: cp.counterparty_legal_name,
      counterparty_legal_address_line_1: a.address_line_1,
      counterparty_legal_address_line_2: a.address_line_2 ?? null,
      counterparty_legal_district: a.district ?? null,
      counterparty_legal_city: a.city,
      counterparty_legal_postal_code: a.postal_code,
      counterparty_legal_country: a.country,
      counterparty_legal_phone_number: a.phone,
    };
  });
}

export function dimTransaction(s: SourceSnapshot): TextRow[] {
  return s.transaction.map((t) => ({
    transaction_id: int(t.transaction_id),
    transaction_type: t.transaction_type,
    sales_order_id: t.sales_order_id === null ? null : int(t.sales_order_id),
    purchase_order_id: t.purchase_order_id === null ? null : int(t.purchase_order_id),
  }));
}

export function dimPaymentType(s: SourceSnapshot): TextRow[] {
  return s.payment_type.map((p) => ({
    payment_type_id: int(p.payment_type_id),
    payment_type_name: p.payment_type_name,
  }));
}

/**
 * Every date from the earliest to the latest one any fact row references (created, last updated,
 * agreed and payment dates), with ISO weekday (1 = Monday … 7 = Sunday) and English names.
 */
export function dimDate(factRows: readonly TextRow[]): TextRow[] {
  const referenced = factRows.flatMap((r) =>
    ['created_date', 'last_updated_date', 'agreed_payment_date', 'agreed_delivery_date', 'payment_date']
      .map((col) => r[col])
      .filter((v): v is string => typeof v === 'string'),
  );
  if (referenced.length === 0) return [];
  const sorted = [...referenced].sort();
  const rows: TextRow[] = [];
  for (let day = dayNumber(sorted[0]); day <= dayNumber(sorted[sorted.length - 1]); day++) rows.push(dateRow(day));
  return rows;
}

/** The dim_date row of one date 'YYYY-MM-DD'. */
export function dateRowOf(date: string): TextRow {
  return dateRow(dayNumber(date));
}

function dateRow(day: number): TextRow {
  const d = new Date(day * 86_400_000);
  const month = d.getUTCMonth() + 1;
  const isoWeekday = ((d.getUTCDay() + 6) % 7) + 1;
  return {
    date_id: d.toISOString().slice(0, 10),
    year: String(d.getUTCFullYear()),
    month: String(month),
    day: String(d.getUTCDate()),
    day_of_week: String(isoWeekday),
    day_name: DAY_NAMES[isoWeekday - 1],
    month_name: MONTH_NAMES[month - 1],
    quarter: String(Math.ceil(month / 3)),
  };
}

/** Days since 1970-01-01 of a 'YYYY-MM-DD' date (UTC, so no daylight-saving gaps). */
function dayNumber(date: string): number {
  return Date.parse(`${isoDate(date, 'a date')}T00:00:00Z`) / 86_400_000;
}

// ---------------------------------------------------------------------------------------------
// Facts: one row per source row version.

export function factSalesOrder(r: TextRow): TextRow {
  return {
    sales_order_id: int(r.sales_order_id),
    ...versionColumns(r),
    sales_staff_id: int(r.staff_id),
    counterparty_id: int(r.counterparty_id),
    units_sold: int(r.units_sold),
    unit_price: money(r.unit_price),
    currency_id: int(r.currency_id),
    design_id: int(r.design_id),
    agreed_payment_date: isoDate(r.agreed_payment_date, 'sales_order.agreed_payment_date'),
    agreed_delivery_date: isoDate(r.agreed_delivery_date, 'sales_order.agreed_delivery_date'),
    agreed_delivery_location_id: int(r.agreed_delivery_location_id),
  };
}

export function factPurchaseOrder(r: TextRow): TextRow {
  return {
    purchase_order_id: int(r.purchase_order_id),
    ...versionColumns(r),
    staff_id: int(r.staff_id),
    counterparty_id: int(r.counterparty_id),
    item_code: r.item_code,
    item_quantity: int(r.item_quantity),
    item_unit_price: money(r.item_unit_price),
    currency_id: int(r.currency_id),
    agreed_delivery_date: isoDate(r.agreed_delivery_date, 'purchase_order.agreed_delivery_date'),
    agreed_payment_date: isoDate(r.agreed_payment_date, 'purchase_order.agreed_payment_date'),
    agreed_delivery_location_id: int(r.agreed_delivery_location_id),
  };
}

export function factPayment(r: TextRow): TextRow {
  return {
    payment_id: int(r.payment_id),
    ...versionColumns(r),
    transaction_id: int(r.transaction_id),
    counterparty_id: int(r.counterparty_id),
    payment_amount: money(r.payment_amount),
    currency_id: int(r.currency_id),
    payment_type_id: int(r.payment_type_id),
    paid: bool(r.paid),
    payment_date: isoDate(r.payment_date, 'payment.payment_date'),
  };
}

function versionColumns(r: TextRow): TextRow {
  const created = splitTimestamp(r.created_at);
  const updated = splitTimestamp(r.last_updated);
  return { created_date: created.date, created_time: created.time, last_updated_date: updated.date, last_updated_time: updated.time };
}

/** Splits a source timestamp 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC) into date and 'HH:MM:SS.mmm'. */
export function splitTimestamp(ts: string | null): { date: string; time: string } {
  const m = ts === null ? null : /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,3}))?$/.exec(ts);
  if (!m) throw new Error(`Source timestamp ${JSON.stringify(ts)} is not 'YYYY-MM-DD HH:MM:SS.mmm' (read it with to_char(…, 'YYYY-MM-DD HH24:MI:SS.MS'))`);
  return { date: m[1], time: `${m[2]}.${(m[3] ?? '').padEnd(3, '0')}` };
}

// ---------------------------------------------------------------------------------------------
// Accumulation across cycles.

function accumulateVersions(
  snapshots: readonly SourceSnapshot[],
  table: 'sales_order' | 'purchase_order' | 'payment',
  idColumn: string,
  toFact: (r: TextRow) => TextRow,
): TextRow[] {
  const versions = new Map<string, TextRow>();
  for (const s of snapshots) {
    for (const row of s[table]) {
      const key = `${int(row[idColumn])}|${row.last_updated}`;
      if (!versions.has(key)) versions.set(key, toFact(row));
    }
  }
  return [...versions.values()];
}

function upsertAcross(snapshots: readonly SourceSnapshot[], key: string, build: (s: SourceSnapshot) => TextRow[]): TextRow[] {
  const rows = new Map<string | null, TextRow>();
  for (const s of snapshots) for (const row of build(s)) rows.set(row[key], row);
  return [...rows.values()];
}

// ---------------------------------------------------------------------------------------------
// Canonical text values.

function int(v: string | null | undefined): string {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw new Error(`Expected an integer, got ${JSON.stringify(v)}`);
  return String(Number(v));
}

/** A numeric(10,2) as text with exactly two decimals, without going through a float. */
export function money(v: string | null | undefined): string {
  const m = typeof v === 'string' ? /^(-?)(\d+)(?:\.(\d*))?$/.exec(v) : null;
  if (!m || (m[3] ?? '').replace(/0+$/, '').length > 2) throw new Error(`Expected a numeric(10,2), got ${JSON.stringify(v)}`);
  return `${m[1]}${String(BigInt(m[2]))}.${(m[3] ?? '').slice(0, 2).padEnd(2, '0')}`;
}

function bool(v: string | null | undefined): string {
  if (v === 'true' || v === 't') return 'true';
  if (v === 'false' || v === 'f') return 'false';
  throw new Error(`Expected a boolean, got ${JSON.stringify(v)}`);
}

function isoDate(v: string | null | undefined, what: string): string {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) {
    throw new Error(`${what} ${JSON.stringify(v)} is not a 'YYYY-MM-DD' date`);
  }
  return v;
}

function indexBy(rows: readonly TextRow[], key: string, table: string): Map<string, TextRow> {
  const index = new Map<string, TextRow>();
  for (const r of rows) index.set(int(r[key]), r);
  if (index.size !== rows.length) throw new Error(`Source snapshot of ${table} has duplicate ${key} values`);
  return index;
}

function mustFind(index: Map<string, TextRow>, id: string | null, what: string): TextRow {
  const row = index.get(int(id));
  if (!row) throw new Error(`Source snapshot is inconsistent: ${what} ${id} does not exist`);
  return row;
}
