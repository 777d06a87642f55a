import { build, type Metafile } from 'esbuild';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeZip, type ZipEntry } from './zip-writer';

/**
 * `npm run build:lambdas`: one zip per Lambda function at dist/lambdas/<name>.zip, with
 * `index.js` exporting `handler` (runtime nodejs22.x, handler `index.handler`) and the sql/
 * folders the function reads at run time.
 *
 * The AWS SDK v3 is bundled, not taken from the runtime: nodejs22.x ships an SDK v3 whose
 * version AWS changes without notice, and the conditional-write and Glue/Athena behaviour we
 * test is that of the version in package-lock.json. Bundled and minified it adds little.
 * No function may bundle DuckDB (native, ~40 MB): the transform runs on Athena and the load
 * reads Parquet with hyparquet; the build fails if DuckDB slips into a bundle.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'dist', 'lambdas');

export interface LambdaBundle {
  name: 'extract' | 'transform' | 'load';
  entry: string;
  /** Folders under the repository root copied into the zip, as the function's `sqlRoot`. */
  sql: string[];
}

export const LAMBDAS: readonly LambdaBundle[] = [
  { name: 'extract', entry: 'functions/extract/handler.ts', sql: [] },
  { name: 'transform', entry: 'functions/transform/handler.ts', sql: ['sql/transform', 'sql/compaction'] },
  { name: 'load', entry: 'functions/load/handler.ts', sql: ['sql/warehouse'] },
];

/** Modules a bundle must never contain. */
const FORBIDDEN = [/node_modules\/@duckdb\//, /node_modules\/@electric-sql\//];

export interface BuiltLambda {
  name: string;
  zip: string;
  bytes: number;
  bundleBytes: number;
  files: string[];
}

export async function buildLambda(lambda: LambdaBundle, outDir = OUT): Promise<BuiltLambda> {
  const result = await build({
    entryPoints: [path.join(ROOT, lambda.entry)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    keepNames: true,
    legalComments: 'none',
    write: false,
    outfile: 'index.js',
    metafile: true,
    logLevel: 'warning',
    // pg loads its optional native binding only when asked to; never in our functions.
    external: ['pg-native'],
  });
  const bundled = forbiddenInputs(result.metafile);
  if (bundled.length > 0) throw new Error(`The ${lambda.name} bundle includes ${bundled.join(', ')}; remove the import that pulls it in`);
  const code = result.outputFiles.find((f) => f.path.endsWith('index.js'));
  if (!code) throw new Error(`esbuild produced no index.js for ${lambda.name}`);

  const entries: ZipEntry[] = [{ name: 'index.js', data: code.contents }];
  for (const dir of lambda.sql) {
    for (const file of await listFiles(path.join(ROOT, dir))) {
      entries.push({ name: path.relative(ROOT, file).split(path.sep).join('/'), data: await fs.readFile(file) });
    }
  }
  const zip = writeZip(entries);
  await fs.mkdir(outDir, { recursive: true });
  const zipPath = path.join(outDir, `${lambda.name}.zip`);
  await fs.writeFile(zipPath, zip);
  return { name: lambda.name, zip: zipPath, bytes: zip.length, bundleBytes: code.contents.length, files: entries.map((e) => e.name) };
}

function forbiddenInputs(metafile: Metafile): string[] {
  const packages = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    if (FORBIDDEN.some((re) => re.test(input))) packages.add(input.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1'));
  }
  return [...packages];
}

async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new Error(`Cannot read ${dir} for the Lambda bundle: ${(err as Error).message}`);
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

const kib = (n: number) => `${(n / 1024).toFixed(0).padStart(6)} KiB`;

async function main(): Promise<void> {
  const built: BuiltLambda[] = [];
  for (const lambda of LAMBDAS) built.push(await buildLambda(lambda));
  console.log('Lambda bundles (dist/lambdas):');
  for (const b of built) {
    console.log(`  ${b.name.padEnd(10)} ${kib(b.bytes)} zipped  (index.js ${kib(b.bundleBytes).trim()}, ${b.files.length} files)  ${path.relative(ROOT, b.zip)}`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`build:lambdas failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
