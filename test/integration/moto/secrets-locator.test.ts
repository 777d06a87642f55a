import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'pg-connection-string';
import { SecretsManagerLocator } from '../../../functions/aws/secrets-locator';
import { openConnection } from '../../../functions/core/database-connection';
import { postgresServerAvailable, startTlsPostgres, type TlsPostgres } from '../../cloud/tls-postgres';
import { describeIfMoto, startMotoServer, type MotoServer } from '../../support/moto-server';
import { describeRequiring } from '../../support/requires';
import { recordingLog } from '../../unit/aws/lake-fixtures';

const PASSWORD = 'p@ss:w/rd?#';

describeIfMoto('SecretsManagerLocator against moto', () => {
  let moto: MotoServer;
  let client: SecretsManagerClient;
  let arn: string;
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'totes-ca-')), 'rds-ca.pem');
  let counter = 0;

  /** Creates a secret in moto and a locator for it, as the Lambda would build it. */
  const locatorFor = async (value: Record<string, unknown>) => {
    const created = await client.send(new CreateSecretCommand({ Name: `totes/db-${++counter}`, SecretString: JSON.stringify(value) }));
    const recorded = recordingLog();
    return { locator: new SecretsManagerLocator(client, created.ARN!, { caFile, log: recorded.log }), arn: created.ARN!, lines: recorded.lines };
  };

  beforeAll(async () => {
    moto = await startMotoServer();
    client = new SecretsManagerClient(moto.clientConfig);
    const created = await client.send(
      new CreateSecretCommand({
        Name: 'totes/source',
        SecretString: JSON.stringify({ host: 'totesys.abc.eu-west-2.rds.amazonaws.com', port: 5432, dbname: 'totesys', username: 'reader', password: PASSWORD }),
      }),
    );
    arn = created.ARN!;
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it('turns the secret into a verify-full TLS URL that pg parses back to the same credentials', async () => {
    const locator = new SecretsManagerLocator(client, arn, { caFile });
    const url = await locator.url();
    const parsed = parse(url);
    expect(parsed).toMatchObject({ host: 'totesys.abc.eu-west-2.rds.amazonaws.com', port: '5432', database: 'totesys', user: 'reader', password: PASSWORD });
    expect(parsed.ssl).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE') });
    expect((parsed.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized).not.toBe(false);
    expect(readFileSync(caFile, 'utf8').match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(10);
    expect(locator.description).toMatch(new RegExp(`^the database in secret ${arn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(TLS verify-full against the Amazon RDS CA bundle`));
    expect(locator.description).not.toContain('p@ss');
    await locator.close();
  });

  it('names the missing secret and the permission to check', async () => {
    const locator = new SecretsManagerLocator(client, 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:nope');
    await expect(locator.url()).rejects.toThrow(/Cannot read secret .*nope.*ResourceNotFoundException.*GetSecretValue permission/);
  });

  // A PostgreSQL outside RDS, with its own CA: what the offline cloud and real users' servers need.
  const noServer = postgresServerAvailable() ? undefined : 'no PostgreSQL server binaries (pg_config); install postgresql-15';
  describeRequiring('connecting over TLS to a server with its own CA', noServer, () => {
    let pg: TlsPostgres;
    let otherAddress: Server;
    let otherPort: number;
    const secretFor = (host: string, port: number, tls: Record<string, unknown>) => ({ host, port, dbname: 'postgres', username: 'postgres', password: PASSWORD, ...tls });
    const connectWith = async (locator: SecretsManagerLocator) => {
      const db = await openConnection(locator, { what: 'the warehouse', applicationName: 'totes-lake-test', hint: 'Check the secret.' });
      try {
        return (await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl;
      } finally {
        await db.end();
      }
    };
    const failure = (locator: SecretsManagerLocator) => connectWith(locator).then(
      () => { throw new Error('connected, but should not have'); },
      (err: Error) => err.message,
    );

    beforeAll(async () => {
      pg = await startTlsPostgres();
      // The same server at an address its certificate does not name (127.0.0.2 is loopback too).
      otherAddress = createServer((socket) => {
        const upstream = connect(pg.port, '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        const close = () => { socket.destroy(); upstream.destroy(); };
        socket.on('error', close);
        upstream.on('error', close);
      });
      await new Promise<void>((resolve, reject) => otherAddress.once('error', reject).listen(0, '127.0.0.2', resolve));
      otherPort = (otherAddress.address() as { port: number }).port;
    }, 120_000);

    afterAll(async () => {
      await new Promise((r) => otherAddress?.close(r));
      await pg?.stop();
    });

    it('verify-full with the local CA in sslrootcert connects, encrypted', async () => {
      const { locator, lines } = await locatorFor(secretFor('127.0.0.1', pg.port, { sslrootcert: pg.caPem }));
      expect(await connectWith(locator)).toBe(true);
      const { locator: byName } = await locatorFor(secretFor('localhost', pg.port, { sslmode: 'verify-full', sslrootcert: pg.caPem }));
      expect(await connectWith(byName)).toBe(true);
      expect(lines).toEqual([]);
    });

    it('the default (verify-full against the RDS bundle) refuses it, saying why and what to set', async () => {
      const { locator, arn: id } = await locatorFor(secretFor('127.0.0.1', pg.port, {}));
      const message = await failure(locator);
      expect(message).toContain(`Cannot connect to the warehouse at the database in secret ${id} (TLS verify-full against the Amazon RDS CA bundle; a server outside RDS needs its CA in the secret's sslrootcert)`);
      expect(message).toMatch(/unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate/);
      expect(message).not.toContain(PASSWORD);
    });

    it('verify-full refuses a host name the certificate does not name; verify-ca accepts it', async () => {
      const { locator } = await locatorFor(secretFor('127.0.0.2', otherPort, { sslrootcert: pg.caPem }));
      const message = await failure(locator);
      expect(message).toMatch(/Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.2 is not in the cert's list: 127\.0\.0\.1/);
      expect(message).not.toContain(PASSWORD);
      const { locator: caOnly } = await locatorFor(secretFor('127.0.0.2', otherPort, { sslmode: 'verify-ca', sslrootcert: pg.caPem }));
      expect(await connectWith(caOnly)).toBe(true);
    });

    it('verify-ca still checks the chain', async () => {
      const { locator } = await locatorFor(secretFor('127.0.0.2', otherPort, { sslmode: 'verify-ca' }));
      expect(await failure(locator)).toMatch(/TLS verify-ca against the Amazon RDS CA bundle, host name not checked\): (unable to verify|self[- ]signed)/);
    });

    it('require connects encrypted without verifying, and disable in clear; both warn', async () => {
      const required = await locatorFor(secretFor('127.0.0.2', otherPort, { sslmode: 'require' }));
      expect(await connectWith(required.locator)).toBe(true);
      expect(required.lines.map((l) => l.message)).toEqual([expect.stringMatching(/^sslmode=require in secret .*not verified/)]);
      const disabled = await locatorFor(secretFor('127.0.0.1', pg.port, { sslmode: 'disable' }));
      expect(await connectWith(disabled.locator)).toBe(false);
      expect(disabled.lines.map((l) => l.message)).toEqual([expect.stringMatching(/^sslmode=disable in secret .*unencrypted/)]);
      expect(JSON.stringify([...required.lines, ...disabled.lines])).not.toContain(PASSWORD);
    });
  });
});
