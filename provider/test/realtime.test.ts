import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncChange } from '../src/host-types';
import { createSyncdSyncProvider } from '../src/runtime/app/syncd-sync-provider';
import { readSse } from '../src/sse';
import { WATCH_ROUTE } from '../src/watch-proxy';
import { browserFetch, startFakeHost } from './fake-host';
import { newClient, newUser, putOp, thread, type TestUser } from './helpers';

const client = newClient();
let host: Awaited<ReturnType<typeof startFakeHost>>;
let u: TestUser;

beforeAll(async () => {
    host = await startFakeHost(client);
    u = await newUser(client);
});
afterAll(() => host.close());

function waitFor(pred: () => boolean, ms: number): Promise<void> {
    return new Promise((ok, fail) => {
        const t0 = Date.now();
        const tick = () => (pred() ? ok() : Date.now() - t0 > ms ? fail(new Error(`not within ${ms} ms`)) : setTimeout(tick, 2));
        tick();
    });
}

describe('watch proxy route (SSE pass-through)', () => {
    it('streams syncd change events for the session user, resuming from Last-Event-ID', async () => {
        const scope = { workspaceId: u.workspaceId };
        const p = createSyncdSyncProvider({ baseUrl: host.url, fetch: browserFetch(u.userId) });
        const first = await p.push({ scope, ops: [putOp('threads', randomUUID(), thread('a')), putOp('threads', randomUUID(), thread('b'))] });
        const ac = new AbortController();
        const res = await fetch(`${host.url}${WATCH_ROUTE}?workspaceId=${u.workspaceId}&cursor=0`, {
            headers: { cookie: `uid=${u.userId}`, 'last-event-id': String(first.serverVersion - 1) },
            signal: ac.signal,
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
        const events: Array<{ id?: string; data: string }> = [];
        const reading = readSse(res.body!, (e) => events.push(e), ac.signal).catch(() => {});
        await waitFor(() => events.length >= 1, 3000);
        expect(events[0].id).toBe(String(first.serverVersion)); // Last-Event-ID wins over cursor
        const change = JSON.parse(events[0].data) as SyncChange;
        expect(change).toMatchObject({ serverVersion: first.serverVersion, tableName: 'threads' });
        ac.abort();
        await reading;
    });

    it('refuses without a session (401) and for a non-member (403)', async () => {
        const r1 = await fetch(`${host.url}${WATCH_ROUTE}?workspaceId=${u.workspaceId}`);
        expect(r1.status).toBe(401);
        const other = await newUser(client);
        const r2 = await fetch(`${host.url}${WATCH_ROUTE}?workspaceId=${u.workspaceId}`, { headers: { cookie: `uid=${other.userId}` } });
        expect(r2.status).toBe(403);
    });
});

describe('client sync provider: watch-triggered pulls', () => {
    it('a change pushed by one client reaches another client quickly, without polling', async () => {
        const scope = { workspaceId: u.workspaceId };
        const writer = createSyncdSyncProvider({ baseUrl: host.url, fetch: browserFetch(u.userId) });
        // Polling every 60 s: anything fast must come from the watch stream.
        const reader = createSyncdSyncProvider({ baseUrl: host.url, fetch: browserFetch(u.userId), pollIntervalMs: 60_000 });
        expect(reader.mode).toBe('gateway');
        const start = await reader.pull({ scope, cursor: 0, limit: 1000 });
        const seen = new Map<string, number>();
        const unsub = await reader.subscribe(scope, ['threads'], (changes) => {
            for (const c of changes) seen.set(c.pk, performance.now());
        }, { cursor: start.nextCursor });
        try {
            await new Promise((r) => setTimeout(r, 200)); // stream connected
            const lat: number[] = [];
            for (let i = 0; i < 10; i++) {
                const pk = randomUUID();
                const t0 = performance.now();
                await writer.push({ scope, ops: [putOp('threads', pk, thread(`rt${i}`))] });
                await waitFor(() => seen.has(pk), 2000);
                lat.push(seen.get(pk)! - t0);
            }
            lat.sort((a, b) => a - b);
            expect(lat[lat.length - 1]).toBeLessThan(1000);
        } finally {
            unsub();
            await reader.dispose();
        }
    });

    it('falls back to the gateway polling when the watch route is missing', async () => {
        const noWatch = await startFakeHost(client, { watch: false });
        try {
            const scope = { workspaceId: u.workspaceId };
            const writer = createSyncdSyncProvider({ baseUrl: noWatch.url, fetch: browserFetch(u.userId) });
            const reader = createSyncdSyncProvider({ baseUrl: noWatch.url, fetch: browserFetch(u.userId), pollIntervalMs: 100 });
            const start = await reader.pull({ scope, cursor: 0, limit: 1000 });
            const seen = new Set<string>();
            const unsub = await reader.subscribe(scope, ['threads'], (cs) => cs.forEach((c) => seen.add(c.pk)), { cursor: start.nextCursor });
            const pk = randomUUID();
            await writer.push({ scope, ops: [putOp('threads', pk, thread('poll'))] });
            await waitFor(() => seen.has(pk), 3000);
            unsub();
        } finally {
            await noWatch.close();
        }
    });
});
