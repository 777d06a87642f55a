import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { Fn } from 'cdktf';
import { Construct } from 'constructs';

export interface LambdaBundleProps {
  /** Bundle name: `<name>.zip` in the dist folder, built by `npm run build:lambdas`. */
  name: string;
  distDir: string;
  codeBucket: string;
}

/**
 * Uploads one function bundle to the code bucket.
 *
 * The zip is referenced by path and hashed by Terraform at plan time (`filemd5`,
 * `filebase64sha256`), not read at synth time: `npm run synth` works on a fresh clone with no build,
 * and a plan without the bundle stops on a precondition that says which command to run.
 */
export class LambdaBundle extends Construct {
  readonly object: S3Object;
  /** base64 SHA-256 of the zip, so the function is updated exactly when the bundle changes. */
  readonly sourceCodeHash: string;

  constructor(scope: Construct, id: string, props: LambdaBundleProps) {
    super(scope, id);
    const path = `${props.distDir}/${props.name}.zip`;
    this.object = new S3Object(this, 'zip', {
      bucket: props.codeBucket,
      key: `lambdas/${props.name}.zip`,
      source: path,
      sourceHash: Fn.filemd5(path),
      contentType: 'application/zip',
      lifecycle: {
        precondition: [{
          condition: Fn.fileexists(path),
          errorMessage: `The ${props.name} bundle is missing (${props.name}.zip in lambda_dist_dir, by default dist/lambdas/). Run \`npm run build:lambdas\`, then plan again.`,
        }],
      },
    });
    this.sourceCodeHash = Fn.filebase64sha256(path);
  }
}
