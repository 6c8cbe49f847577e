import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { JobRunner } from '../src/jobs/runner.js';
import { http } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The background job runner (src/jobs/runner.ts) against the real database:
 * a single-instance job runs on one instance at a time and moves to another
 * when its holder stops; every run is counted per job and outcome; a failure
 * is one log line naming the job; a wake-up during a run gets one more run;
 * stopping aborts and awaits what runs. The gateway's own jobs show in
 * /metrics.
 */
let gw: TestGateway;
useWorld({ env: { LOG_LEVEL: 'error' } }, (w) => ({ gw } = w));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runner(): JobRunner {
  return new JobRunner({ prisma: gw.db.prisma, log: gw.app.log, registry: new Registry() });
}

async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('background jobs', () => {
  it('a singleton job runs on one instance at a time, and moves on when its holder stops', async () => {
    const runs: string[] = [];
    const [a, b] = [runner(), runner()];
    // The lease is held for two intervals: long enough that a loaded machine's delays do not let it lapse between runs.
    const job = (who: string) => ({ name: 'test.singleton', every: 250, firstAfter: 0, singleton: true, run: async () => void runs.push(who) });
    a.add(job('a'));
    b.add(job('b'));
    a.start();
    await until(() => runs.length >= 1);
    b.start();
    await until(() => runs.length >= 5);
    expect(new Set(runs)).toEqual(new Set(['a']));
    const skipped = await b.runs.get();
    expect(skipped.values.find((v) => v.labels.job === 'test.singleton' && v.labels.outcome === 'skipped')?.value ?? 0).toBeGreaterThan(0);
    // The holder stops: its lease is given up, and the other instance takes the job at its next run.
    await a.stop();
    const before = runs.length;
    await until(() => runs.slice(before).includes('b'));
    await b.stop();
    expect(await gw.db.prisma.jobLease.count({ where: { name: 'test.singleton' } })).toBe(0);
  });

  it('counts runs by outcome and writes one log line per failure, naming the job', async () => {
    const r = runner();
    let n = 0;
    r.add({
      name: 'test.flaky',
      every: 20,
      firstAfter: 0,
      run: async () => {
        if (++n % 2 === 0) throw new TypeError('boom');
      },
    });
    r.start();
    await until(() => n >= 6);
    await r.stop();
    const runs = (await r.runs.get()).values.filter((v) => v.labels.job === 'test.flaky');
    const count = (outcome: string) => runs.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect(count('ok')).toBeGreaterThanOrEqual(3);
    expect(count('failed')).toBeGreaterThanOrEqual(3);
    const failures = gw.logs.map((l) => JSON.parse(l) as { msg: string; job?: string }).filter((l) => l.msg === 'background job failed');
    expect(failures.length).toBe(count('failed'));
    expect(failures.every((l) => l.job === 'test.flaky')).toBe(true);
  });

  it('a wake-up during a run gets exactly one more run; stopping aborts the run and waits for it', async () => {
    const r = runner();
    let runs = 0;
    let release!: () => void;
    let aborted = false;
    r.add({
      name: 'test.long',
      every: 3_600_000,
      run: async (signal) => {
        runs++;
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
        if (runs === 3) await new Promise<void>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve())));
      },
    });
    r.start();
    r.wake('test.long');
    await until(() => runs === 1);
    r.wake('test.long');
    r.wake('test.long');
    release();
    await until(() => runs === 2);
    await sleep(100);
    expect(runs).toBe(2);
    r.wake('test.long');
    await until(() => runs === 3);
    await r.stop();
    expect(aborted).toBe(true);
    r.wake('test.long');
    await sleep(50);
    expect(runs).toBe(3);
  });

  it("the gateway's own jobs run and show in /metrics", async () => {
    const deadline = Date.now() + 15_000;
    let text = '';
    const seen = () => ['feed.sweep', 'feed.credential-recheck'].every((job) => text.includes(`gateway_job_runs_total{job="${job}",outcome="ok"}`));
    while (!seen() && Date.now() < deadline) {
      text = (await http(`${gw.url}/metrics`)).body;
      await sleep(200);
    }
    expect(seen()).toBe(true);
  });
});
