import { z } from 'zod';

/**
 * The events that start the three functions, parsed with zod so a wrong trigger fails at once
 * with a clear message instead of half-way through a stage.
 */

/** EventBridge Scheduler / an EventBridge schedule rule: `{ "detail-type": "Scheduled Event", … }`. */
export const ScheduleEvent = z
  .object({
    version: z.string().optional(),
    id: z.string().optional(),
    'detail-type': z.literal('Scheduled Event'),
    source: z.enum(['aws.events', 'aws.scheduler']),
    account: z.string().optional(),
    time: z.iso.datetime({ offset: true }),
    region: z.string().optional(),
    resources: z.array(z.string()).optional(),
    detail: z.unknown().optional(),
  })
  .strict();
export type ScheduleEvent = z.infer<typeof ScheduleEvent>;

/** S3 "Object Created" delivered by EventBridge (the bucket has EventBridge notifications on). */
const EventBridgeObjectCreated = z.object({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({ key: z.string().min(1) }),
  }),
});

/** S3 event notification sent straight to the function. Keys arrive URL-encoded ('+' for space). */
const S3Notification = z.object({
  Records: z
    .array(
      z.object({
        eventSource: z.literal('aws:s3'),
        eventName: z.string().startsWith('ObjectCreated:'),
        s3: z.object({ bucket: z.object({ name: z.string().min(1) }), object: z.object({ key: z.string().min(1) }) }),
      }),
    )
    .min(1),
});

export interface CreatedObject {
  bucket: string;
  key: string;
}

/** The objects an "Object Created" event (either delivery) announces; throws on anything else. */
export function parseObjectCreated(event: unknown): CreatedObject[] {
  const created = objectCreated(event);
  if ('objects' in created) return created.objects;
  throw new Error(`Not an S3 "Object Created" event (EventBridge or S3 notification): ${describe(event)}. ${created.issues}.`);
}

function objectCreated(event: unknown): { objects: CreatedObject[] } | { issues: string } {
  const bridged = EventBridgeObjectCreated.safeParse(event);
  if (bridged.success) return { objects: [{ bucket: bridged.data.detail.bucket.name, key: bridged.data.detail.object.key }] };
  const notified = S3Notification.safeParse(event);
  if (notified.success) {
    return { objects: notified.data.Records.map((r) => ({ bucket: r.s3.bucket.name, key: decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')) })) };
  }
  return { issues: `EventBridge: ${issues(bridged.error)}. S3 notification: ${issues(notified.error)}` };
}

/**
 * What starts the transform or the load: a manifest that landed ("Object Created", either
 * delivery), or a tick of the stage's own schedule (the same "Scheduled Event" the extract gets).
 * Either way the stage does all its pending work, so a tick resumes a stage that failed, and a
 * late, duplicated or redriven trigger finds nothing left to do.
 */
export type StageTrigger = { tick: ScheduleEvent } | { objects: CreatedObject[] };

/** The trigger of a transform or load; throws, naming what each form lacks, on anything else. */
export function parseStageTrigger(event: unknown): StageTrigger {
  const tick = ScheduleEvent.safeParse(event);
  if (tick.success) return { tick: tick.data };
  const created = objectCreated(event);
  if ('objects' in created) return created;
  throw new Error(
    `Neither a schedule tick nor an S3 "Object Created" event (EventBridge or S3 notification): ${describe(event)}. ` +
      `Schedule tick: ${issues(tick.error)}. ${created.issues}.`,
  );
}

/** The schedule event that starts an extract; throws on anything else. */
export function parseScheduleEvent(event: unknown): ScheduleEvent {
  const parsed = ScheduleEvent.safeParse(event);
  if (!parsed.success) throw new Error(`Not an EventBridge schedule event: ${describe(event)}. ${issues(parsed.error)}.`);
  return parsed.data;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
}

function describe(event: unknown): string {
  const text = JSON.stringify(event) ?? String(event);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * Splits the objects an "Object Created" event announces into the manifests a stage starts on (in
 * `bucket`, under `prefix`) and the rest, as `s3://` URIs for the stage to report as ignored.
 */
export function manifestObjects(objects: readonly CreatedObject[], bucket: string, prefix: string): { manifests: CreatedObject[]; ignored: string[] } {
  const isManifest = (o: CreatedObject) => o.bucket === bucket && o.key.startsWith(prefix);
  return {
    manifests: objects.filter(isManifest),
    ignored: objects.filter((o) => !isManifest(o)).map((o) => `s3://${o.bucket}/${o.key}`),
  };
}
