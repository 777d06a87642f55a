import { SOURCE_TABLE_NAMES, type SourceTableName } from '../../functions/core/contract/source-tables';
import { STAR_TABLES } from '../../functions/core/contract/star-tables';
import {
  currencyName, dateRowOf, expectedStar, money, splitTimestamp,
  type TextRow,
} from '../support/expected-star';
import { canonicalRow, describeDifferences, diffStar } from '../support/warehouse-snapshot';

type Snapshot = Record<SourceTableName, TextRow[]>;
const empty = (): Snapshot => Object.fromEntries(SOURCE_TABLE_NAMES.map((t) => [t, []])) as unknown as Snapshot;
const ts = (s: string) => ({ created_at: s, last_updated: s });

/** A tiny totesys: 2 addresses, 1 counterparty, 3 currencies (one unknown), 1 department, 1 staff, … */
function baseSnapshot(): Snapshot {
  const s = empty();
  s.address = [
    { address_id: '1', address_line_1: '1 High St', address_line_2: null, district: null, city: 'Leeds', postal_code: 'LS1', country: 'UK', phone: '0113', ...ts('2022-11-03 14:20:49.962') },
    { address_id: '2', address_line_1: '2 Low St', address_line_2: 'Flat 3', district: 'West', city: 'York', postal_code: 'YO1', country: 'UK', phone: '0190', ...ts('2022-11-03 14:20:49.962') },
  ];
  s.counterparty = [{ counterparty_id: '7', counterparty_legal_name: 'Fahey Ltd', legal_address_id: '2', commercial_contact: 'Ann', delivery_contact: null, ...ts('2022-11-03 14:20:51.563') }];
  s.currency = [
    { currency_id: '1', currency_code: 'GBP', ...ts('2022-11-03 14:20:49.962') },
    { currency_id: '2', currency_code: 'EUR', ...ts('2022-11-03 14:20:49.962') },
    { currency_id: '3', currency_code: 'JPY', ...ts('2022-11-03 14:20:49.962') },
  ];
  s.department = [{ department_id: '4', department_name: 'Sales', location: null, manager: 'Bob', ...ts('2022-11-03 14:20:49.962') }];
  s.staff = [{ staff_id: '9', first_name: 'Jo', last_name: 'Ray', department_id: '4', email_address: 'jo@t.com', ...ts('2022-11-03 14:20:51.563') }];
  s.design = [{ design_id: '5', design_name: 'Wooden', file_location: '/usr', file_name: 'wooden.json', ...ts('2022-11-03 14:20:49.962') }];
  s.payment_type = [{ payment_type_id: '1', payment_type_name: 'SALES_RECEIPT', ...ts('2022-11-03 14:20:49.962') }];
  s.sales_order = [{
    sales_order_id: '100', created_at: '2022-11-03 14:20:52.186', last_updated: '2022-11-03 14:20:52.186',
    design_id: '5', staff_id: '9', counterparty_id: '7', units_sold: '42', unit_price: '3.9', currency_id: '1',
    agreed_delivery_date: '2022-11-10', agreed_payment_date: '2022-11-08', agreed_delivery_location_id: '1',
  }];
  s.transaction = [{ transaction_id: '50', transaction_type: 'SALE', sales_order_id: '100', purchase_order_id: null, ...ts('2022-11-03 14:20:52.186') }];
  s.payment = [{
    payment_id: '60', created_at: '2022-11-03 14:20:52.187', last_updated: '2022-11-03 14:20:52.187', transaction_id: '50',
    counterparty_id: '7', payment_amount: '163.80', currency_id: '1', payment_type_id: '1', paid: 'false',
    payment_date: '2022-11-08', company_ac_number: '1', counterparty_ac_number: '2',
  }];
  return s;
}

describe('expected star (the e2e oracle)', () => {
  it('gives ISO weekdays, English names and quarters of known dates', () => {
    expect(dateRowOf('2024-01-01')).toEqual({
      date_id: '2024-01-01', year: '2024', month: '1', day: '1', day_of_week: '1', day_name: 'Monday', month_name: 'January', quarter: '1',
    });
    expect(dateRowOf('2023-12-31')).toMatchObject({ day_of_week: '7', day_name: 'Sunday', month_name: 'December', quarter: '4' });
    expect(dateRowOf('2024-02-29')).toMatchObject({ day_of_week: '4', day_name: 'Thursday', month_name: 'February', quarter: '1' });
    expect(dateRowOf('2022-07-02')).toMatchObject({ day_of_week: '6', day_name: 'Saturday', month_name: 'July', quarter: '3' });
    expect(dateRowOf('2022-10-04').month_name).toBe('October');
  });

  it('splits timestamps into a date and a time with milliseconds', () => {
    expect(splitTimestamp('2022-11-03 14:20:52.000')).toEqual({ date: '2022-11-03', time: '14:20:52.000' });
    expect(splitTimestamp('2022-11-03 00:00:00')).toEqual({ date: '2022-11-03', time: '00:00:00.000' });
    expect(splitTimestamp('2022-11-03 23:59:59.5')).toEqual({ date: '2022-11-03', time: '23:59:59.500' });
    expect(() => splitTimestamp('03/11/2022')).toThrow(/not 'YYYY-MM-DD HH:MM:SS.mmm'/);
  });

  it('names known currencies and leaves an unknown code with a NULL name', () => {
    expect(currencyName('GBP')).toBe('Pound Sterling');
    expect(currencyName('USD')).toBe('US Dollar');
    expect(currencyName('EUR')).toBe('Euro');
    expect(currencyName('JPY')).toBeNull();
    expect(currencyName('constructor')).toBeNull();
  });

  it('writes numerics with two decimals without floating point', () => {
    expect(money('3.9')).toBe('3.90');
    expect(money('12')).toBe('12.00');
    expect(money('99999999.99')).toBe('99999999.99');
    expect(money('0.10')).toBe('0.10');
    expect(() => money('1.234')).toThrow(/numeric\(10,2\)/);
  });

  it('builds every dimension with its joins and NULLs', () => {
    const star = expectedStar([baseSnapshot()]);
    expect(star.dim_staff).toEqual([{ staff_id: '9', first_name: 'Jo', last_name: 'Ray', department_name: 'Sales', location: null, email_address: 'jo@t.com' }]);
    expect(star.dim_counterparty).toEqual([{
      counterparty_id: '7', counterparty_legal_name: 'Fahey Ltd', counterparty_legal_address_line_1: '2 Low St',
      counterparty_legal_address_line_2: 'Flat 3', counterparty_legal_district: 'West', counterparty_legal_city: 'York',
      counterparty_legal_postal_code: 'YO1', counterparty_legal_country: 'UK', counterparty_legal_phone_number: '0190',
    }]);
    expect(star.dim_location[0]).toEqual({ location_id: '1', address_line_1: '1 High St', address_line_2: null, district: null, city: 'Leeds', postal_code: 'LS1', country: 'UK', phone: '0113' });
    expect(star.dim_currency.map((c) => c.currency_name)).toEqual(['Pound Sterling', 'Euro', null]);
    expect(star.dim_transaction).toEqual([{ transaction_id: '50', transaction_type: 'SALE', sales_order_id: '100', purchase_order_id: null }]);
    expect(star.fact_payment[0]).toMatchObject({ payment_amount: '163.80', paid: 'false', payment_date: '2022-11-08', created_time: '14:20:52.187' });
    // every column of the contract is present in every row
    for (const t of STAR_TABLES) for (const r of star[t.name]) expect(() => canonicalRow(t, r)).not.toThrow();
  });

  it('keeps both versions of an amended sales order, and only once across cycles', () => {
    const first = baseSnapshot();
    const second = baseSnapshot();
    second.sales_order = [{ ...second.sales_order[0], units_sold: '50', last_updated: '2022-11-05 09:00:00.000', agreed_delivery_date: '2022-11-20' }];
    const star = expectedStar([first, second]);
    expect(star.fact_sales_order).toEqual([
      {
        sales_order_id: '100', created_date: '2022-11-03', created_time: '14:20:52.186', last_updated_date: '2022-11-03', last_updated_time: '14:20:52.186',
        sales_staff_id: '9', counterparty_id: '7', units_sold: '42', unit_price: '3.90', currency_id: '1', design_id: '5',
        agreed_payment_date: '2022-11-08', agreed_delivery_date: '2022-11-10', agreed_delivery_location_id: '1',
      },
      expect.objectContaining({ sales_order_id: '100', created_date: '2022-11-03', last_updated_date: '2022-11-05', last_updated_time: '09:00:00.000', units_sold: '50', agreed_delivery_date: '2022-11-20' }),
    ]);
    // dim_date spans the earliest (created 2022-11-03) to the latest (delivery 2022-11-20) referenced date
    expect(star.dim_date.map((d) => d.date_id)).toEqual(Array.from({ length: 18 }, (_, i) => `2022-11-${String(3 + i).padStart(2, '0')}`));
  });

  it('upserts dimensions: a department move refreshes dim_staff, a vanished row stays', () => {
    const first = baseSnapshot();
    const second = baseSnapshot();
    second.department = [...second.department, { department_id: '5', department_name: 'Finance', location: 'Leeds', manager: null, ...ts('2022-11-04 10:00:00.000') }];
    second.staff = [{ ...second.staff[0], department_id: '5', last_updated: '2022-11-04 10:00:00.000' }];
    second.design = [];
    const star = expectedStar([first, second]);
    expect(star.dim_staff).toEqual([expect.objectContaining({ staff_id: '9', department_name: 'Finance', location: 'Leeds' })]);
    expect(star.dim_design).toHaveLength(1);
  });

  it('reports the first differing rows of a table', () => {
    const star = expectedStar([baseSnapshot()]);
    const wrong = { ...star, dim_currency: star.dim_currency.map((c) => (c.currency_code === 'JPY' ? { ...c, currency_name: 'Yen' } : c)) };
    const diffs = diffStar(star, wrong);
    expect(diffs.map((d) => d.table)).toEqual(['dim_currency']);
    expect(describeDifferences(diffs)).toContain('- missing from warehouse: ["3","JPY",null]');
    expect(describeDifferences(diffs)).toContain('+ unexpected in warehouse: ["3","JPY","Yen"]');
    expect(diffStar(star, { ...star, fact_payment: [...star.fact_payment, ...star.fact_payment] })[0].unexpected).toHaveLength(1);
  });
});
