import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'pg-connection-string';
import { SecretsManagerLocator } from '../../../functions/aws/secrets-locator';
import { describeIfMoto, startMotoServer, type MotoServer } from '../../support/moto-server';

describeIfMoto('SecretsManagerLocator against moto', () => {
  let moto: MotoServer;
  let client: SecretsManagerClient;
  let arn: string;

  beforeAll(async () => {
    moto = await startMotoServer();
    client = new SecretsManagerClient(moto.clientConfig);
    const created = await client.send(
      new CreateSecretCommand({
        Name: 'totes/source',
        SecretString: JSON.stringify({ host: 'totesys.abc.eu-west-2.rds.amazonaws.com', port: 5432, dbname: 'totesys', username: 'reader', password: 'p@ss:w/rd?#' }),
      }),
    );
    arn = created.ARN!;
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it('turns the secret into a verify-full TLS URL that pg parses back to the same credentials', async () => {
    const caFile = path.join(mkdtempSync(path.join(tmpdir(), 'totes-ca-')), 'rds-ca.pem');
    const locator = new SecretsManagerLocator(client, arn, { caFile });
    const url = await locator.url();
    const parsed = parse(url);
    expect(parsed).toMatchObject({ host: 'totesys.abc.eu-west-2.rds.amazonaws.com', port: '5432', database: 'totesys', user: 'reader', password: 'p@ss:w/rd?#' });
    expect(parsed.ssl).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE') });
    expect((parsed.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized).not.toBe(false);
    expect(readFileSync(caFile, 'utf8').match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(10);
    expect(locator.description).toBe(`the database in secret ${arn}`);
    expect(locator.description).not.toContain('p@ss');
    await locator.close();
  });

  it('names the missing secret and the permission to check', async () => {
    const locator = new SecretsManagerLocator(client, 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:nope', { tls: 'disable' });
    await expect(locator.url()).rejects.toThrow(/Cannot read secret .*nope.*ResourceNotFoundException.*GetSecretValue permission/);
  });
});
