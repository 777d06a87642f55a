import type { RawBatch, RawRow } from './raw-lake';

/**
 * Hand-written totesys row versions for the transform tests: small enough to check row for row,
 * shaped to hit every rule (NULL parts, an unknown currency, zero and non-zero milliseconds,
 * agreed dates in the future of their order, an amendment, a department move, a version read twice).
 */

const audit = (created: string, updated = created): RawRow => ({ created_at: created, last_updated: updated });

export const T0 = '2022-11-03 14:20:49.962';

export const address = (id: number, over: RawRow = {}): RawRow => ({
  address_id: id,
  address_line_1: `${id} Tote Street`,
  address_line_2: null,
  district: null,
  city: 'Leeds',
  postal_code: `LS${id} 1AA`,
  country: 'United Kingdom',
  phone: `0113 000 000${id}`,
  ...audit(T0),
  ...over,
});

export const salesOrder = (id: number, over: RawRow = {}): RawRow => ({
  sales_order_id: id,
  ...audit(T0),
  design_id: 1,
  staff_id: 1,
  counterparty_id: 1,
  units_sold: 100,
  unit_price: 2.5,
  currency_id: 1,
  agreed_delivery_date: '2022-11-10',
  agreed_payment_date: '2022-11-07',
  agreed_delivery_location_id: 1,
  ...over,
});

export const department = (id: number, name: string, location: string | null, updated = T0): RawRow => ({
  department_id: id,
  department_name: name,
  location,
  manager: 'Someone',
  ...audit(T0, updated),
});

export const payment = (id: number, over: RawRow = {}): RawRow => ({
  payment_id: id,
  ...audit('2022-11-04 08:00:00.000'),
  transaction_id: 2,
  counterparty_id: 1,
  payment_amount: 1234.5,
  currency_id: 2,
  payment_type_id: 3,
  paid: false,
  payment_date: '2022-11-08',
  company_ac_number: 11111111,
  counterparty_ac_number: 22222222,
  ...over,
});

/** The first batch: every table, as a fresh totesys would give it. */
export const batchOne: RawBatch = {
  address: [
    address(1),
    address(2, { address_line_2: 'Unit 7', district: 'Holbeck', city: 'Leeds' }),
  ],
  counterparty: [
    {
      counterparty_id: 1,
      counterparty_legal_name: 'Fahey and Sons',
      legal_address_id: 2,
      commercial_contact: 'Micheal Toy',
      delivery_contact: null,
      ...audit(T0),
    },
  ],
  currency: [
    { currency_id: 1, currency_code: 'GBP', ...audit(T0) },
    { currency_id: 2, currency_code: 'USD', ...audit(T0) },
    { currency_id: 3, currency_code: 'EUR', ...audit(T0) },
    { currency_id: 4, currency_code: 'JPY', ...audit(T0) },
  ],
  department: [department(1, 'Sales', null), department(2, 'Purchasing', 'Leeds')],
  design: [{ design_id: 1, design_name: 'Wooden', file_location: '/usr', file_name: 'wooden-20220717-npgz.json', ...audit(T0) }],
  staff: [
    { staff_id: 1, first_name: 'Jeremie', last_name: 'Franey', department_id: 1, email_address: 'jeremie.franey@terrifictotes.com', ...audit(T0) },
    { staff_id: 2, first_name: 'Deron', last_name: 'Beier', department_id: 2, email_address: 'deron.beier@terrifictotes.com', ...audit(T0) },
  ],
  sales_order: [
    salesOrder(1),
    salesOrder(2, { ...audit('2022-11-04 10:00:00.000'), units_sold: 7, unit_price: 3, currency_id: 3, agreed_delivery_date: '2022-11-06', agreed_payment_date: '2022-11-06', agreed_delivery_location_id: 2 }),
  ],
  purchase_order: [
    {
      purchase_order_id: 1,
      ...audit('2022-11-03 15:00:00.001'),
      staff_id: 2,
      counterparty_id: 1,
      item_code: 'ZDOI5EA',
      item_quantity: 371,
      item_unit_price: 361.39,
      currency_id: 2,
      agreed_delivery_date: '2022-11-09',
      agreed_payment_date: '2022-11-05',
      agreed_delivery_location_id: 2,
    },
  ],
  transaction: [
    { transaction_id: 1, transaction_type: 'SALE', sales_order_id: 1, purchase_order_id: null, ...audit(T0) },
    { transaction_id: 2, transaction_type: 'PURCHASE', sales_order_id: null, purchase_order_id: 1, ...audit(T0) },
  ],
  payment: [payment(1)],
  payment_type: [
    { payment_type_id: 1, payment_type_name: 'SALES_RECEIPT', ...audit(T0) },
    { payment_type_id: 2, payment_type_name: 'SALES_REFUND', ...audit(T0) },
    { payment_type_id: 3, payment_type_name: 'PURCHASE_PAYMENT', ...audit(T0) },
    { payment_type_id: 4, payment_type_name: 'PURCHASE_REFUND', ...audit(T0) },
  ],
};

/**
 * The second batch: sales order 1 amended (units and a later delivery date), the Sales department
 * moved to Manchester, payment 1 paid — and read twice, as an at-least-once read may.
 */
export const batchTwo: RawBatch = {
  sales_order: [salesOrder(1, { last_updated: '2022-11-05 09:15:00.500', units_sold: 120, agreed_delivery_date: '2022-11-12' })],
  department: [department(1, 'Sales', 'Manchester', '2022-11-05 09:00:00.000')],
  payment: [
    payment(1, { last_updated: '2022-11-05 12:00:00.000', paid: true }),
    payment(1, { last_updated: '2022-11-05 12:00:00.000', paid: true }),
  ],
};
