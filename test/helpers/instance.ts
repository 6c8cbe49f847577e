import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Another gateway process, started from a helper script (feed-instance.ts,
 * proxy-instance.ts) with the given environment over this one's — on the
 * same PostgreSQL database and Redis as an in-process gateway, behind the
 * same imaginary load balancer: what it printed once listening; `stop` ends
 * it (SIGTERM) and waits.
 */
export interface Instance {
  url: string;
  pid: number;
  token?: string;
  /** proxy-instance.ts with MEMORY_PROBE=1: where it says how much memory it holds live. */
  probe?: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function spawnInstance(script: string, env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const printed = await new Promise<{ url: string; pid: number; token?: string; probe?: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway process exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        resolve(JSON.parse(line) as { url: string; pid: number; token?: string; probe?: string });
      } catch {
        /* other output */
      }
    });
  });
  return {
    ...printed,
    pid: printed.pid ?? child.pid!,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
