import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3ObjectStore } from '../../../functions/aws/s3-object-store';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { describeIfMoto, startMotoServer } from '../../support/moto-server';
import { objectStoreContract } from './object-store.contract';

describe('ObjectStore contract: FolderObjectStore', () => {
  objectStoreContract(async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-store-contract-'));
    return { store: new FolderObjectStore(root), close: () => fs.rm(root, { recursive: true, force: true }) };
  });
});

describeIfMoto('ObjectStore contract: S3ObjectStore on moto', () => {
  objectStoreContract(async () => {
    const moto = await startMotoServer();
    const client = new S3Client(moto.clientConfig);
    await client.send(new CreateBucketCommand({ Bucket: 'contract', CreateBucketConfiguration: { LocationConstraint: 'eu-west-2' } }));
    // Small pages and parts, so listing pages and a streamed upload goes multipart.
    const store = new S3ObjectStore('contract', client, { partSize: 5 * 1024 * 1024, pageSize: 2 });
    return {
      store,
      close: async () => {
        client.destroy();
        await moto.stop();
      },
    };
  });
});
