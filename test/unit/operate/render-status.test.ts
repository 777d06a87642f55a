import { renderStatus } from '../../../functions/cli/commands/status';
import type { PipelineStatus } from '../../../functions/core/operate/pipeline-status';
import type { RunRecord, TransformStageRecord } from '../../../functions/core/operate/run-record';

/** `totes status` as text: the runs table shows each run's engine round trips (transform/query-tally.ts). */

function run(key: string, batches: TransformStageRecord['batches']): RunRecord {
  return {
    kind: 'run',
    version: 1,
    key,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    outcome: 'success',
    batchId: null,
    stages: { transform: { elapsedMs: 500, batches } },
  };
}

function status(runs: RunRecord[]): PipelineStatus {
  return {
    generatedAt: '2025-01-01T00:00:02.000Z',
    sla: { seconds: 1800, breached: false, reason: 'fine' },
    freshness: null,
    batches: { extracted: null, transformed: null, loaded: null },
    backlog: null,
    sourceTables: [],
    starTables: [],
    runs,
    problems: [],
  };
}

const batch = (seq: number, engineQueries?: { queries: number; criticalPath: number; bytesScanned: number | null }) => ({
  batchId: `000000000${seq}-20250101T000000Z-abcd`,
  seq,
  tables: {},
  ...(engineQueries ? { engineQueries } : {}),
});

describe('renderStatus', () => {
  it("shows the queries a run's transform sent, its critical path and the bytes scanned", () => {
    const text = renderStatus(
      status([
        run('runs/a.json', [batch(1, { queries: 16, criticalPath: 16, bytesScanned: null })]),
        // Two batches in one run: one after the other, so the paths add up.
        run('runs/b.json', [batch(2, { queries: 12, criticalPath: 5, bytesScanned: 2048 }), batch(3, { queries: 7, criticalPath: 3, bytesScanned: 1024 })]),
        // A run from before the count, and one that transformed nothing.
        run('runs/c.json', [batch(4)]),
        run('runs/d.json', []),
      ]),
      '/lake',
    );
    const lines = text.split('\n');
    const header = lines.find((l) => l.includes('started') && l.includes('queries'))!;
    expect(header).toMatch(/queries\s+\|?\s*scanned/);
    const rows = lines.slice(lines.indexOf(header) + 1).filter((l) => l.includes('2025-01-01T00:00:00.000Z'));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatch(/16 \(critical path 16\)\s+\|?\s*∅/);
    expect(rows[1]).toMatch(/19 \(critical path 8\)\s+\|?\s*3\.0 KiB/);
    expect(rows[2]).not.toMatch(/critical path/);
    expect(rows[3]).not.toMatch(/critical path/);
  });
});
