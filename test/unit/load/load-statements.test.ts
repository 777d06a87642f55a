import { starTable } from '../../../functions/core/contract/star-tables';
import { copyTargetStatement, createStagingStatement, isEmptyStatement, mergeStatement, unnestSource } from '../../../functions/core/load/load-statements';
import { copyText } from '../../support/copy-text';

describe('load statements', () => {
  it('upserts a dimension on its key, rewriting only rows that differ', () => {
    const staff = starTable('dim_staff');
    expect(mergeStatement('totes_dw', staff, unnestSource(staff))).toBe(
      'INSERT INTO "totes_dw"."dim_staff" AS t ("staff_id", "first_name", "last_name", "department_name", "location", "email_address") ' +
        'SELECT "staff_id", "first_name", "last_name", "department_name", "location", "email_address" ' +
        'FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u("staff_id", "first_name", "last_name", "department_name", "location", "email_address") ' +
        'ON CONFLICT ("staff_id") DO UPDATE SET "first_name" = EXCLUDED."first_name", "last_name" = EXCLUDED."last_name", ' +
        '"department_name" = EXCLUDED."department_name", "location" = EXCLUDED."location", "email_address" = EXCLUDED."email_address" ' +
        'WHERE (t."first_name", t."last_name", t."department_name", t."location", t."email_address") IS DISTINCT FROM ' +
        '(EXCLUDED."first_name", EXCLUDED."last_name", EXCLUDED."department_name", EXCLUDED."location", EXCLUDED."email_address")',
    );
  });

  it('inserts a fact version once, typed arrays per contract column; a later version with the same key replaces it with a new surrogate key', () => {
    const sql = mergeStatement('public', starTable('fact_payment'), unnestSource(starTable('fact_payment')));
    expect(sql).toContain('$3::time(3)[], $4::date[], $5::time(3)[]');
    expect(sql).toContain('$8::numeric(10,2)[]');
    expect(sql).toContain('$11::boolean[], $12::date[]');
    expect(sql).toMatch(/ON CONFLICT \("payment_id", "last_updated_date", "last_updated_time"\) DO UPDATE SET "payment_record_id" = DEFAULT, "created_date" = EXCLUDED."created_date", /);
    expect(sql).toMatch(/WHERE \(t."created_date", .*t."payment_date"\) IS DISTINCT FROM \(EXCLUDED."created_date", .*EXCLUDED."payment_date"\)$/);
    expect(sql.split('ON CONFLICT')[0]).not.toContain('payment_record_id');
  });

  it('stages without the identity column and refuses unsafe schema names', () => {
    expect(createStagingStatement('public', starTable('fact_sales_order'))).toMatch(
      /^CREATE TEMP TABLE "load_stage_fact_sales_order" ON COMMIT DROP AS SELECT "sales_order_id", .* FROM "public"."fact_sales_order" WITH NO DATA$/,
    );
    expect(() => mergeStatement('x"; DROP', starTable('dim_date'), 'y')).toThrow(/Invalid warehouse schema name/);
  });

  it('copies straight into a table without its identity column, and checks a table for emptiness', () => {
    expect(copyTargetStatement('totes_dw', starTable('fact_payment'))).toBe(
      'COPY "totes_dw"."fact_payment" ("payment_id", "created_date", "created_time", "last_updated_date", "last_updated_time", "transaction_id", ' +
        '"counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid", "payment_date") FROM STDIN (FORMAT binary)',
    );
    expect(isEmptyStatement('public', starTable('dim_date'))).toBe('SELECT NOT EXISTS (SELECT 1 FROM "public"."dim_date") AS empty');
    expect(() => copyTargetStatement('x"; DROP', starTable('dim_date'))).toThrow(/Invalid warehouse schema name/);
  });

  it('writes COPY text with NULLs and escapes', () => {
    expect(copyText([[1, 2], ['a\tb\\c', null], [true, false], ['line\nbreak\r', '']], 2)).toBe('1\ta\\tb\\\\c\tt\tline\\nbreak\\r\n2\t\\N\tf\t\n');
    expect(copyText([[]], 0)).toBe('');
  });
});
