import { Testing } from 'cdktf';
import type { StateBackendEnv } from '../../cdktf/state-backend';
import { STACK_NAME, TotesLakeStack } from '../../cdktf/totes-lake-stack';

/** A block of the synthesized Terraform JSON, as plain data. */
export type Block = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Synthesized {
  json: string;
  tf: Block;
  /** All resources of a type, keyed by logical id. */
  resources(type: string): Record<string, Block>;
  data(type: string): Record<string, Block>;
  /** The `${type.id.attr}` interpolation Terraform uses to reference an attribute. */
  ref(type: string, id: string, attr: string): string;
  /** Logical id of the single resource of `type` whose block satisfies `pick`. */
  idOf(type: string, pick: (b: Block) => boolean): string;
}

/** Synthesizes the whole stack once (the infra tests assert over the result, not over constructs). */
export function synthesizeStack(backend?: StateBackendEnv): Synthesized {
  const app = Testing.app();
  const stack = new TotesLakeStack(app, STACK_NAME, { backend });
  const json = Testing.synth(stack);
  const tf = JSON.parse(json) as Block;
  const resources = (type: string) => (tf.resource?.[type] ?? {}) as Record<string, Block>;
  const data = (type: string) => (tf.data?.[type] ?? {}) as Record<string, Block>;
  return {
    json, tf, resources, data,
    ref: (type, id, attr) => `\${${type}.${id}.${attr}}`,
    idOf(type, pick) {
      const ids = Object.entries(resources(type)).filter(([, b]) => pick(b)).map(([id]) => id);
      if (ids.length !== 1) throw new Error(`Expected one ${type} matching, found ${ids.length}: ${ids.join(', ')}`);
      return ids[0];
    },
  };
}

/** `${data.aws_iam_policy_document.<id>.json}` → the document's statements. */
export function statementsOf(s: Synthesized, policyRef: string): Block[] {
  const m = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(policyRef);
  if (!m) throw new Error(`Policy is not an aws_iam_policy_document reference: ${policyRef.slice(0, 120)}`);
  const doc = s.data('aws_iam_policy_document')[m[1]];
  if (!doc) throw new Error(`No policy document ${m[1]}`);
  return doc.statement as Block[];
}
