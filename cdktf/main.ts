/**
 * Synthesizes the Totes Lake stack to Terraform JSON under cdktf.out/stacks/totes-lake/.
 *
 * `npm run synth` runs this file with tsx (offline, no Terraform, no AWS credentials); the cdktf
 * CLI would run the same file through cdktf.json; the deploy uses Terraform on the JSON (README, "Deploy").
 */
import { App } from 'cdktf';
import { parseStateBackendEnv } from './state-backend';
import { STACK_NAME, TotesLakeStack } from './totes-lake-stack';

const app = new App();
new TotesLakeStack(app, STACK_NAME, { backend: parseStateBackendEnv(process.env) });
app.synth();
console.log(`totes: synthesized stack "${STACK_NAME}" to ${app.outdir}/stacks/${STACK_NAME}/cdk.tf.json`);
