/**
 * A small deterministic random source for the totesys generators: the same seed and stream name
 * give the same numbers on every machine and Node version (Math.random cannot be seeded).
 *
 * Each table draws from its own named stream, so adding rows to one table never shifts the values
 * of another: `seedTotesys` at scale 2 shares its reference data with scale 1.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number, stream: string) {
    // FNV-1a over the stream name, mixed with the seed; then mulberry32 (fast, 32-bit state).
    let h = 0x811c9dc5 ^ (seed >>> 0) ^ Math.floor(seed / 0x100000000);
    for (let i = 0; i < stream.length; i++) {
      h ^= stream.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    this.state = h >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** A Poisson-like count with mean `mean`: its floor, plus one more with the fractional part's chance. */
  count(mean: number): number {
    const whole = Math.floor(mean);
    return whole + (this.chance(mean - whole) ? 1 : 0);
  }
}
