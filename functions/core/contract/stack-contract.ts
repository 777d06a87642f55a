/**
 * What the deployed stack tells the operator's tools: the names of its Terraform outputs and the
 * version of the contract between the stack and the `totes` CLI. The stack (cdktf/totes-lake-stack.ts)
 * writes these outputs; the CLI (functions/aws/stack-outputs.ts) reads them to operate the
 * deployment (`totes status --aws`, …). Both import this file, so an output cannot be renamed on
 * one side only.
 *
 * STACK_VERSION changes whenever the CLI could misread a stack of the previous shape (an output
 * renamed or removed, a lake layout or ledger change the commands depend on). The CLI refuses a
 * stack whose `stack_version` output differs, rather than report on it wrongly.
 */
export const STACK_VERSION = 1;

export const STACK_OUTPUTS = {
  stackVersion: 'stack_version',
  region: 'region',
  namePrefix: 'name_prefix',
  ingestionBucket: 'ingestion_bucket',
  processedBucket: 'processed_bucket',
  athenaResultsBucket: 'athena_results_bucket',
  rawDatabase: 'glue_raw_database',
  processedDatabase: 'glue_processed_database',
  athenaWorkgroup: 'athena_workgroup',
  sourceSecretArn: 'source_secret_arn',
  warehouseSecretArn: 'warehouse_secret_arn',
  warehouseSchema: 'warehouse_schema',
  extractFunction: 'extract_function',
  /** Read-only operation: status, verify, query, docs, compile. */
  operatorPolicyArn: 'operator_policy_arn',
  /** Starting work: invoking the extract. */
  operatorRunPolicyArn: 'operator_run_policy_arn',
  /** `totes backfill <fact> --aws`, beside the read-only policy. */
  operatorBackfillPolicyArn: 'operator_backfill_policy_arn',
} as const;

export type StackOutputKey = keyof typeof STACK_OUTPUTS;
