import { afterAll, beforeAll } from 'vitest';
import { seedOrg, type SeededOrg } from '../../src/seed/demo.js';
import { startGateway, type TestGateway } from './gateway.js';

/** One organization to seed: what `seedOrg` takes (name, slug, customers' external ids). */
export type OrgSpec = NonNullable<Parameters<typeof seedOrg>[1]>;

export interface WorldSpec<K extends string> {
  /**
   * The gateway's environment, over startGateway's defaults. A function when
   * it names something an earlier `beforeAll` starts (a receiver's address).
   */
  env?: Record<string, string> | (() => Record<string, string>);
  /** The organizations, seeded one after the other in this order, by the names the world gives them. */
  orgs?: { [Name in K]: Name extends 'gw' ? never : OrgSpec };
  /** The setup's time limit, where a file wants a tighter one than the suite's hook timeout. */
  timeout?: number;
}

/** The started gateway and each seeded organization under its name. */
export type World<K extends string> = { gw: TestGateway } & { [Name in K]: SeededOrg };

/**
 * The setup most test files share: a gateway (startGateway) with seeded
 * organizations for the file (or the `describe` it is called in), closed
 * when it ends. Call it once where the hooks belong; `ready` receives the
 * world once it exists, to assign the file's variables, so test bodies keep
 * using them, and to seed whatever else the file needs:
 *
 *   let gw: TestGateway; let org: SeededOrg; let other: SeededOrg;
 *   useWorld({ orgs: { org: { customers: ['a', 'b'] }, other: { customers: ['a'] } } }, (w) => ({ gw, org, other } = w));
 *
 * Hooks run in vitest's order: `beforeAll`s in the order registered,
 * `afterAll`s in reverse. So what the gateway needs (a Redis, a receiver
 * named in `env`) is started in a `beforeAll` registered before this call and
 * stopped after the gateway has closed; an `afterAll` registered after this
 * call runs before the gateway closes.
 */
export function useWorld<K extends string = never>(spec: WorldSpec<K>, ready: (world: World<K>) => unknown = () => {}): void {
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    gw = await startGateway(typeof spec.env === 'function' ? spec.env() : spec.env);
    const orgs = {} as { [Name in K]: SeededOrg };
    // One after the other, in the order given: the order they are created in stays the same from run to run.
    for (const [name, opts] of Object.entries(spec.orgs ?? {}) as [K, OrgSpec][]) orgs[name] = await seedOrg(gw.app, opts);
    await ready({ ...orgs, gw });
  }, spec.timeout);
  afterAll(async () => {
    await gw?.close();
  });
}
