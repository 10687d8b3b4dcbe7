/**
 * Benchmark (npm run bench): against a real syncd built from this repo.
 *
 * 1. Adapter overhead: a one-op push through the SyncGatewayAdapter vs the
 *    same push as a direct fetch to /v1/sync/push (the same-run baseline),
 *    interleaved; target p50(adapter) - p50(direct) ≤ 1 ms.
 * 2. Watch-triggered sync: a change pushed by client A (through a host
 *    stand-in and the adapter) until client B's subscription hands it to
 *    onChanges; target p99 ≤ 100 ms. Baseline: the same clients with the
 *    watch route off, i.e. the host gateway's 2 s polling.
 *
 * BENCH_N (default 1000) pushes, BENCH_WATCH_N (default 200) watch samples,
 * BENCH_POLL_N (default 5) polling samples; BENCH_STRICT=1 fails on a
 * missed target.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createSyncdSyncProvider } from '../src/runtime/app/syncd-sync-provider';
import { createSyncGatewayAdapter } from '../src/sync-adapter';
import { browserFetch, startFakeHost } from '../test/fake-host';
import { newClient, newUser, putOp, thread, token, url } from '../test/helpers';

const N = Number(process.env.BENCH_N ?? 1000);
const WATCH_N = Number(process.env.BENCH_WATCH_N ?? 200);
const POLL_N = Number(process.env.BENCH_POLL_N ?? 5);
const STRICT = process.env.BENCH_STRICT === '1';

const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const f = (x: number) => `${x.toFixed(3)} ms`;
const report: string[] = [];
const log = (s: string) => {
    report.push(s);
    console.log(s);
};

describe('benchmark', () => {
    it('adapter overhead: push through the adapter vs a direct fetch', async () => {
        const client = newClient();
        const sync = createSyncGatewayAdapter(client);
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };
        const direct = async () => {
            const res = await fetch(`${url()}/v1/sync/push`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token()}`, 'x-syncd-user': u.userId, 'content-type': 'application/json' },
                body: JSON.stringify({ scope, ops: [putOp('threads', randomUUID(), thread('d'))] }),
            });
            if (!res.ok) throw new Error(`direct push ${res.status}`);
            await res.json();
        };
        const viaAdapter = async () => {
            await sync.push(u.event, { scope, ops: [putOp('threads', randomUUID(), thread('a'))] });
        };
        for (let i = 0; i < 50; i++) {
            await direct();
            await viaAdapter();
        }
        const d: number[] = [];
        const a: number[] = [];
        for (let i = 0; i < N; i++) {
            const order = i % 2 === 0 ? [direct, viaAdapter] : [viaAdapter, direct];
            for (const fn of order) {
                const t0 = performance.now();
                await fn();
                (fn === direct ? d : a).push(performance.now() - t0);
            }
        }
        const diff = q(a, 0.5) - q(d, 0.5);
        log(`\n## adapter overhead (${N} one-op pushes each, interleaved; ${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)})`);
        log(`direct fetch (baseline): p50 ${f(q(d, 0.5))}  p90 ${f(q(d, 0.9))}  p99 ${f(q(d, 0.99))}`);
        log(`through the adapter:     p50 ${f(q(a, 0.5))}  p90 ${f(q(a, 0.9))}  p99 ${f(q(a, 0.99))}`);
        log(`p50 overhead: ${f(diff)} (ratio ${(q(a, 0.5) / q(d, 0.5)).toFixed(2)}x; target ≤ 1 ms) ${diff <= 1 ? 'PASS' : 'MISS'}`);
        if (STRICT) expect(diff).toBeLessThanOrEqual(1);
    });

    it('watch-triggered sync latency vs 2 s polling', async () => {
        const client = newClient();
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };

        async function measure(hostUrl: string, pollIntervalMs: number, n: number): Promise<number[]> {
            const writer = createSyncdSyncProvider({ baseUrl: hostUrl, fetch: browserFetch(u.userId) });
            const reader = createSyncdSyncProvider({ baseUrl: hostUrl, fetch: browserFetch(u.userId), pollIntervalMs });
            const start = await reader.pull({ scope, cursor: 0, limit: 1 });
            let cursor = start.nextCursor;
            while ((await reader.pull({ scope, cursor, limit: 1000 })).hasMore) cursor = (await reader.pull({ scope, cursor, limit: 1000 })).nextCursor;
            const seen = new Map<string, number>();
            const waiters = new Map<string, () => void>();
            const unsub = await reader.subscribe(scope, ['threads'], (cs) => {
                const now = performance.now();
                for (const c of cs) {
                    seen.set(c.pk, now);
                    waiters.get(c.pk)?.();
                }
            }, { cursor: (await reader.pull({ scope, cursor: 0, limit: 1000 })).nextCursor });
            await new Promise((r) => setTimeout(r, 300));
            const lat: number[] = [];
            try {
                for (let i = 0; i < n; i++) {
                    const pk = randomUUID();
                    const got = new Promise<void>((r) => waiters.set(pk, r));
                    const t0 = performance.now();
                    await writer.push({ scope, ops: [putOp('threads', pk, thread(`w${i}`))] });
                    await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('change not delivered in 10 s')), 10_000))]);
                    lat.push(seen.get(pk)! - t0);
                    waiters.delete(pk);
                }
            } finally {
                unsub();
                await reader.dispose();
            }
            return lat;
        }

        const watchHost = await startFakeHost(client);
        const pollHost = await startFakeHost(client, { watch: false });
        try {
            const w = await measure(watchHost.url, 60_000, WATCH_N);
            const p = await measure(pollHost.url, 2000, POLL_N);
            log(`\n## watch-triggered sync (push by client A → onChanges at client B, through the host stand-in)`);
            log(`watch stream:            p50 ${f(q(w, 0.5))}  p90 ${f(q(w, 0.9))}  p99 ${f(q(w, 0.99))}  max ${f(Math.max(...w))}  (n=${w.length}; target p99 ≤ 100 ms) ${q(w, 0.99) <= 100 ? 'PASS' : 'MISS'}`);
            log(`2 s polling (baseline):  p50 ${f(q(p, 0.5))}  max ${f(Math.max(...p))}  (n=${p.length})`);
            log(`ratio (polling p50 / watch p50): ${(q(p, 0.5) / q(w, 0.5)).toFixed(0)}x`);
            if (STRICT) expect(q(w, 0.99)).toBeLessThanOrEqual(100);
        } finally {
            await watchHost.close();
            await pollHost.close();
        }
    });
});
