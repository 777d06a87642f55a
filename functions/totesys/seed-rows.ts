/**
 * Pure generation of totesys rows: no database here, so the shape is unit-testable and the same
 * (seed, scale, asOf) always yields the same rows, whichever way they are written.
 *
 * Time runs over the ~18 months before `asOf`. Reference data (addresses, counterparties, staff…)
 * exists a month before the first order; designs keep appearing through the period. Orders are
 * generated in created_at order (serial ids follow time, as in a live system); sales and purchase
 * orders are merged by time, so transaction and payment ids also follow time. Every row's
 * last_updated ≥ created_at and ≤ asOf.
 *
 * Rows are arrays of PostgreSQL text values in the contract's column order (see row-writer.ts).
 */
import type { Row } from './row-writer';
import { SeededRandom } from './seeded-random';
import {
  CITIES, COMPANY_SUFFIXES, COMPANY_WORDS, CURRENCY_CODES, DEPARTMENTS, DESIGN_WORDS, DISTRICTS,
  FILE_FOLDERS, FIRST_NAMES, LAST_NAMES, PAYMENT_TYPE_NAMES, STREET_KINDS, STREET_WORDS,
} from './seed-names';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** ≈ 18 months. */
export const HISTORY_DAYS = 548;

export interface SeedShape {
  readonly seed: number;
  readonly asOf: number;
  readonly addresses: number;
  readonly counterparties: number;
  readonly staff: number;
  readonly designs: number;
  /** Designs that exist before the first order; the rest appear evenly through the period. */
  readonly initialDesigns: number;
  readonly salesOrders: number;
  readonly purchaseOrders: number;
}

export function seedShape(seed: number, scale: number, asOf: Date): SeedShape {
  return {
    seed,
    asOf: asOf.getTime(),
    addresses: 30,
    counterparties: 20,
    staff: 20,
    designs: 300,
    initialDesigns: 100,
    salesOrders: Math.round(7000 * scale),
    purchaseOrders: Math.round(3000 * scale),
  };
}

/** 'YYYY-MM-DD HH:MM:SS.mmm', UTC: the text form of timestamp(3). */
export function timestampText(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** 'YYYY-MM-DD', UTC: how totesys stores agreed and payment dates. */
export function dateText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

const cents = (value: number): string => `${Math.floor(value / 100)}.${String(value % 100).padStart(2, '0')}`;

export const periodStart = (shape: SeedShape): number => shape.asOf - HISTORY_DAYS * DAY;
/** Reference rows are created in the month before the first order. */
const referenceTime = (shape: SeedShape, random: SeededRandom): number => periodStart(shape) - random.int(1, 30 * DAY);

/** A reference row's audit pair: mostly untouched since creation, sometimes edited later. */
function audit(shape: SeedShape, random: SeededRandom, editChance: number): [string, string] {
  const created = referenceTime(shape, random);
  const updated = random.chance(editChance) ? random.int(created, shape.asOf) : created;
  return [timestampText(created), timestampText(updated)];
}

export function addressRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'address');
  return Array.from({ length: shape.addresses }, (_, i) => {
    const { city, country } = random.pick(CITIES);
    return [
      String(i + 1),
      `${random.int(1, 999)} ${random.pick(STREET_WORDS)} ${random.pick(STREET_KINDS)}`,
      random.chance(0.5) ? `${random.pick(STREET_WORDS)} House` : null,
      random.chance(0.6) ? random.pick(DISTRICTS) : null,
      city,
      `${random.int(10000, 99999)}-${random.int(1000, 9999)}`,
      country,
      `${random.int(1000, 9999)} ${random.int(100000, 999999)}`,
      ...audit(shape, random, 0.1),
    ];
  });
}

export function counterpartyRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'counterparty');
  return Array.from({ length: shape.counterparties }, (_, i) => {
    const name = random.chance(0.5)
      ? `${random.pick(COMPANY_WORDS)}, ${random.pick(COMPANY_WORDS)} and ${random.pick(COMPANY_WORDS)}`
      : `${random.pick(COMPANY_WORDS)} ${random.pick(COMPANY_SUFFIXES)}`;
    const contact = (): string => `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}`;
    return [
      String(i + 1),
      name,
      String(random.int(1, shape.addresses)),
      random.chance(0.9) ? contact() : null,
      random.chance(0.9) ? contact() : null,
      ...audit(shape, random, 0.05),
    ];
  });
}

export function currencyRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'currency');
  return CURRENCY_CODES.map((code, i) => [String(i + 1), code, ...audit(shape, random, 0)]);
}

export function departmentRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'department');
  return DEPARTMENTS.map((department, i) => [
    String(i + 1),
    department.name,
    department.location,
    random.chance(0.8) ? `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}` : null,
    ...audit(shape, random, 0.1),
  ]);
}

export function staffRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'staff');
  return Array.from({ length: shape.staff }, (_, i) => {
    const first = random.pick(FIRST_NAMES);
    const last = random.pick(LAST_NAMES);
    return [
      String(i + 1),
      first,
      last,
      String(random.int(1, DEPARTMENTS.length)),
      `${first}.${last}${i + 1}@terrifictotes.com`.toLowerCase(),
      ...audit(shape, random, 0.05),
    ];
  });
}

export function paymentTypeRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'payment_type');
  return PAYMENT_TYPE_NAMES.map((name, i) => [String(i + 1), name, ...audit(shape, random, 0)]);
}

/** When design `id` (1-based) was created: the initial ones before the period, then evenly through it. */
function designCreatedAt(shape: SeedShape, id: number, random: SeededRandom): number {
  if (id <= shape.initialDesigns) return referenceTime(shape, random);
  const later = shape.designs - shape.initialDesigns;
  return periodStart(shape) + Math.floor(((id - shape.initialDesigns) * HISTORY_DAYS * DAY) / (later + 1));
}

/** How many designs exist at time `t` (designs are created in id order after the initial ones). */
function designsAvailable(shape: SeedShape, t: number): number {
  const later = shape.designs - shape.initialDesigns;
  const appeared = Math.floor(((t - periodStart(shape)) * (later + 1)) / (HISTORY_DAYS * DAY));
  return Math.min(shape.designs, shape.initialDesigns + Math.max(0, appeared));
}

export function designFileName(name: string, created: number, random: SeededRandom): string {
  const letters = Array.from({ length: 4 }, () => String.fromCharCode(97 + random.int(0, 25))).join('');
  return `${name.toLowerCase()}-${dateText(created).replaceAll('-', '')}-${letters}.json`;
}

export function designRows(shape: SeedShape): Row[] {
  const random = new SeededRandom(shape.seed, 'design');
  return Array.from({ length: shape.designs }, (_, i) => {
    const created = designCreatedAt(shape, i + 1, random);
    const name = random.pick(DESIGN_WORDS);
    return [
      String(i + 1),
      name,
      random.pick(FILE_FOLDERS),
      designFileName(name, created, random),
      timestampText(created),
      timestampText(created),
    ];
  });
}

/** One order of either kind, with what its transaction and payment need. */
export interface OrderEvent {
  readonly kind: 'SALE' | 'PURCHASE';
  readonly orderRow: Row;
  readonly created: number;
  readonly counterpartyId: number;
  readonly currencyId: number;
  readonly amountCents: number;
  readonly agreedPaymentDate: string;
}

/** GBP half the time, USD and EUR a quarter each. */
const currencyId = (random: SeededRandom): number => (random.chance(0.5) ? 1 : random.chance(0.5) ? 2 : 3);

/**
 * Order `index` (0-based) of `count`, created in time order over the period: each order gets its own
 * slot of the period and a random moment inside it, so created_at never decreases with the id.
 */
const orderTime = (shape: SeedShape, index: number, count: number, random: SeededRandom): number =>
  periodStart(shape) + Math.floor(((index + random.next()) * HISTORY_DAYS * DAY) / count);

function* salesOrders(shape: SeedShape): Generator<OrderEvent> {
  const random = new SeededRandom(shape.seed, 'sales_order');
  for (let i = 0; i < shape.salesOrders; i++) {
    const created = orderTime(shape, i, shape.salesOrders, random);
    // About one order in eight is amended later (units, price or dates changed in place).
    const amended = random.chance(0.12) ? created + random.int(HOUR, 14 * DAY) : created;
    const updated = amended <= shape.asOf ? amended : created;
    const counterpartyId = random.int(1, shape.counterparties);
    const units = random.int(1000, 100000);
    const priceCents = random.int(200, 399);
    const currency = currencyId(random);
    const agreedPaymentDate = dateText(created + random.int(1, 45) * DAY);
    const row: Row = [
      String(i + 1),
      timestampText(created),
      timestampText(updated),
      String(random.int(1, designsAvailable(shape, created))),
      String(random.int(1, shape.staff)),
      String(counterpartyId),
      String(units),
      cents(priceCents),
      String(currency),
      dateText(created + random.int(2, 30) * DAY),
      agreedPaymentDate,
      String(random.int(1, shape.addresses)),
    ];
    yield { kind: 'SALE', orderRow: row, created, counterpartyId, currencyId: currency, amountCents: units * priceCents, agreedPaymentDate };
  }
}

function* purchaseOrders(shape: SeedShape): Generator<OrderEvent> {
  const random = new SeededRandom(shape.seed, 'purchase_order');
  const codeLetters = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  for (let i = 0; i < shape.purchaseOrders; i++) {
    const created = orderTime(shape, i, shape.purchaseOrders, random);
    const updated = random.chance(0.03) ? Math.min(shape.asOf, created + random.int(HOUR, 3 * DAY)) : created;
    const counterpartyId = random.int(1, shape.counterparties);
    const quantity = random.int(1, 1000);
    const priceCents = random.int(100, 100000);
    const currency = currencyId(random);
    const agreedPaymentDate = dateText(created + random.int(1, 60) * DAY);
    const row: Row = [
      String(i + 1),
      timestampText(created),
      timestampText(updated),
      String(random.int(1, shape.staff)),
      String(counterpartyId),
      Array.from({ length: 7 }, () => codeLetters[random.int(0, codeLetters.length - 1)]).join(''),
      String(quantity),
      cents(priceCents),
      String(currency),
      dateText(created + random.int(2, 30) * DAY),
      agreedPaymentDate,
      String(random.int(1, shape.addresses)),
    ];
    yield { kind: 'PURCHASE', orderRow: row, created, counterpartyId, currencyId: currency, amountCents: quantity * priceCents, agreedPaymentDate };
  }
}

/** Sales and purchase orders merged by created_at (sales first on a tie): the order of transaction ids. */
export function* ordersInTimeOrder(shape: SeedShape): Generator<OrderEvent> {
  const sales = salesOrders(shape);
  const purchases = purchaseOrders(shape);
  let sale = sales.next();
  let purchase = purchases.next();
  while (!sale.done || !purchase.done) {
    if (!sale.done && (purchase.done || sale.value.created <= purchase.value.created)) {
      yield sale.value;
      sale = sales.next();
    } else if (!purchase.done) {
      yield purchase.value;
      purchase = purchases.next();
    }
  }
}

/**
 * The transaction and payment of an order. The payment is created unpaid with the order; most are
 * paid hours to days later (last_updated = when paid); those whose payment moment is still after
 * `asOf`, and a few stragglers, remain unpaid.
 */
export function transactionAndPayment(
  shape: SeedShape,
  order: OrderEvent,
  transactionId: number,
  random: SeededRandom,
): { transaction: Row; payment: Row } {
  const created = timestampText(order.created);
  const orderId = order.orderRow[0];
  const transaction: Row = [
    String(transactionId),
    order.kind,
    order.kind === 'SALE' ? orderId : null,
    order.kind === 'PURCHASE' ? orderId : null,
    created,
    created,
  ];
  const paidAt = order.created + random.int(2 * HOUR, 10 * DAY);
  const paid = paidAt <= shape.asOf && random.chance(0.95);
  const refund = random.chance(0.03);
  const paymentType = order.kind === 'SALE' ? (refund ? 2 : 1) : refund ? 4 : 3;
  const payment: Row = [
    String(transactionId),
    created,
    timestampText(paid ? paidAt : order.created),
    String(transactionId),
    String(order.counterpartyId),
    cents(order.amountCents),
    String(order.currencyId),
    String(paymentType),
    paid ? 'true' : 'false',
    order.agreedPaymentDate,
    String(random.int(10_000_000, 99_999_999)),
    String(random.int(10_000_000, 99_999_999)),
  ];
  return { transaction, payment };
}
