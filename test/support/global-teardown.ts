import { readFileSync, rmSync } from 'node:fs';
import { REDIS_PID_FILE } from './global-setup.js';

export default async function globalTeardown(): Promise<void> {
  try {
    process.kill(Number(readFileSync(REDIS_PID_FILE, 'utf8')), 'SIGTERM');
  } catch { /* not started by us */ }
  rmSync(REDIS_PID_FILE, { force: true });
}
