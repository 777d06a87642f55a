import { tallyReason, type KeyTally, type TableStatistics } from '../../../functions/core/extract/deletions';

const signature: { deletes: number; filenode: number; statsReset: string | null } = { deletes: 4, filenode: 16384, statsReset: null };
const previous: KeyTally = { count: 10, sum: 55, max: 10, tallyAt: '2026-11-25 10:00:00.000', signature };
const stats = (over: Partial<TableStatistics> = {}, sig: Partial<typeof signature> = {}): TableStatistics => ({
  signature: { ...signature, ...sig },
  moving: true,
  trackCounts: true,
  ...over,
});
const HOUR = 3600;

describe('tallyReason: when the extract must count every key again', () => {
  it('skips the tally while the deletion signature holds and the last tally is young', () => {
    expect(tallyReason(previous, stats(), '2026-11-25 10:59:59.999', HOUR)).toBeUndefined();
  });

  it('tallies when a delete, a TRUNCATE (new filenode) or a statistics reset changed the signature', () => {
    expect(tallyReason(previous, stats({}, { deletes: 5 }), '2026-11-25 10:05:00.000', HOUR)).toBe('deletion signature changed');
    expect(tallyReason(previous, stats({}, { filenode: 99999 }), '2026-11-25 10:05:00.000', HOUR)).toBe('deletion signature changed');
    expect(tallyReason(previous, stats({}, { statsReset: '2026-11-25 10:01:00+00' }), '2026-11-25 10:05:00.000', HOUR)).toBe('deletion signature changed');
  });

  it('tallies once the last full tally reaches the maximum age, whatever the statistics say', () => {
    expect(tallyReason(previous, stats(), '2026-11-25 11:00:00.000', HOUR)).toMatch(/older than 3600 s/);
    expect(tallyReason(previous, stats(), '2026-11-25 10:00:00.000', 0)).toMatch(/older than 0 s/);
  });

  it('tallies when the statistics cannot be trusted or there is nothing to compare with', () => {
    expect(tallyReason(undefined, stats(), '2026-11-25 10:05:00.000', HOUR)).toBe('no previous tally with a signature');
    expect(tallyReason({ count: 10, sum: 55, max: 10 }, stats(), '2026-11-25 10:05:00.000', HOUR)).toBe('no previous tally with a signature');
    expect(tallyReason(previous, { moving: true, trackCounts: true }, '2026-11-25 10:05:00.000', HOUR)).toBe('no statistics for the table');
    expect(tallyReason(previous, stats({ trackCounts: false }), '2026-11-25 10:05:00.000', HOUR)).toBe('track_counts is off');
    expect(tallyReason(previous, stats({ moving: false }), '2026-11-25 10:05:00.000', HOUR)).toMatch(/not moved/);
    expect(tallyReason(previous, stats(), 'not a time', HOUR)).toMatch(/older than/);
  });
});
