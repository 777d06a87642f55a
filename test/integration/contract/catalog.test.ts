import { CreateDatabaseCommand, GlueClient } from '@aws-sdk/client-glue';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GlueCatalog } from '../../../functions/aws/glue-catalog';
import { FolderCatalog } from '../../../functions/local/folder-catalog';
import { FolderObjectStore } from '../../../functions/local/folder-object-store';
import { describeIfMoto, startMotoServer } from '../../support/moto-server';
import { catalogContract } from './catalog.contract';

describe('Catalog contract: FolderCatalog', () => {
  catalogContract(async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'totes-catalog-contract-'));
    return { catalog: new FolderCatalog(new FolderObjectStore(root)), close: () => fs.rm(root, { recursive: true, force: true }) };
  });
});

describeIfMoto('Catalog contract: GlueCatalog on moto', () => {
  catalogContract(async () => {
    const moto = await startMotoServer();
    const glue = new GlueClient(moto.clientConfig);
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'totes_processed' } }));
    return {
      catalog: new GlueCatalog(glue, { database: 'totes_processed', bucket: 'processed', pageSize: 2 }),
      close: async () => {
        glue.destroy();
        await moto.stop();
      },
    };
  });
});
