/**
 * The one honest way a test says it cannot run here. On a developer's machine a missing tool (moto,
 * Trino, a PostgreSQL server) skips the suite, with a line saying what is missing and how to get it.
 * In CI (`CI=true`, which `.ci/run` sets) nothing may skip for want of a tool `.ci/run` installs: the
 * suite fails instead, naming the tool, so CI cannot go green without the proof.
 */
export function describeRequiring(name: string, missing: string | undefined, fn: jest.EmptyFunction): void {
  if (!missing) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has what it needs to run', () => {
        throw new Error(inCi(name, missing));
      });
    });
    return;
  }
  console.warn(`SKIPPED "${name}": ${missing}`);
  describe.skip(name, fn);
}

/** {@link describeRequiring} for one test of a suite that otherwise runs. */
export function itRequiring(name: string, missing: string | undefined, fn: jest.ProvidesCallback, timeout?: number): void {
  if (!missing) {
    it(name, fn, timeout);
    return;
  }
  if (process.env.CI === 'true') {
    it(name, () => {
      throw new Error(inCi(name, missing));
    });
    return;
  }
  console.warn(`SKIPPED "${name}": ${missing}`);
  it.skip(name, fn, timeout);
}

const inCi = (name: string, missing: string) => `"${name}" cannot run in CI: ${missing}. .ci/run installs it; a skip would hide the missing proof.`;
