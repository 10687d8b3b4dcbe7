/**
 * Builds syncd from this repository (`go build ./cmd/syncd` in ..), starts
 * it on a free port with a temp data dir, a token and the test hooks, waits
 * for /readyz, and stops it afterwards. Tests read the URL and token with
 * inject('syncdUrl') / inject('syncdToken').
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
    export interface ProvidedContext {
        syncdUrl: string;
        syncdToken: string;
    }
}

export function freePort(): Promise<number> {
    return new Promise((ok, fail) => {
        const s = createServer();
        s.once('error', fail);
        s.listen(0, '127.0.0.1', () => {
            const port = (s.address() as { port: number }).port;
            s.close(() => ok(port));
        });
    });
}

export interface RunningSyncd {
    url: string;
    token: string;
    proc: ChildProcess;
    stop(): Promise<void>;
}

/** Builds (once per dir) and starts a syncd; used by the global setup and the benchmark. */
export async function startSyncd(opts: { log?: boolean } = {}): Promise<RunningSyncd> {
    const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
    const dir = mkdtempSync(join(tmpdir(), 'or3-provider-syncd-'));
    const bin = join(dir, 'syncd');
    execFileSync('go', ['build', '-o', bin, './cmd/syncd'], { cwd: repo, stdio: 'inherit', timeout: 170_000 });
    const help = (() => {
        try {
            return execFileSync(bin, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e) {
            const err = e as { stdout?: string; stderr?: string };
            return `${err.stdout ?? ''}${err.stderr ?? ''}`;
        }
    })();
    const port = await freePort();
    const token = randomBytes(24).toString('hex');
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), '--token', token, '--test-hooks', '--log-level', 'warn'];
    if (help.includes('--webhook-allow-private')) args.push('--webhook-allow-private');
    const proc = spawn(bin, args, { stdio: ['ignore', opts.log ? 'inherit' : 'ignore', 'inherit'] });
    const url = `http://127.0.0.1:${port}`;
    let exited = false;
    proc.once('exit', () => (exited = true));
    const deadline = Date.now() + 60_000;
    for (;;) {
        if (exited) throw new Error(`syncd exited during start-up (${proc.exitCode})`);
        try {
            const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
            if (r.ok) break;
        } catch {
            /* not yet */
        }
        if (Date.now() > deadline) {
            proc.kill('SIGKILL');
            throw new Error('syncd did not become ready within 60 s');
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        url,
        token,
        proc,
        async stop() {
            if (!exited) {
                const gone = new Promise((r) => proc.once('exit', r));
                proc.kill('SIGTERM');
                const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
                await gone;
                clearTimeout(t);
            }
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

export default async function setup(project: TestProject) {
    const s = await startSyncd();
    project.provide('syncdUrl', s.url);
    project.provide('syncdToken', s.token);
    return () => s.stop();
}
