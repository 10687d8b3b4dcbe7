import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncdClient } from '../src/client';
import { SyncdHostError } from '../src/errors';
import { eventFor } from '../src/session';
import { createAuthWorkspaceStore } from '../src/stores';
import { createSyncGatewayAdapter } from '../src/sync-adapter';
import { checkStartup, registerSyncd, type HostRegistries } from '../src/register';

const noop = () => {};
const registries = (): HostRegistries => ({
    registerAuthWorkspaceStore: noop, registerSyncGatewayAdapter: noop, registerStorageGatewayAdapter: noop,
    registerWebhookStore: noop, registerAdminStoreProvider: noop, registerProviderAdminAdapter: noop,
    registerRateLimitProvider: noop, registerBackgroundJobProvider: noop, registerNotificationEmitter: noop,
    registerDeploymentAdminChecker: noop,
});
import { freePort } from './global-setup';
import { newClient, newUser, statusOf, token, url } from './helpers';

type Handler = (path: string) => { status: number; body: string; headers?: Record<string, string> } | 'hang';

async function fakeSyncd(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
    const server: Server = createServer((req, res) => {
        const out = handler(req.url ?? '/');
        if (out === 'hang') return; // never answers
        res.writeHead(out.status, { 'content-type': 'application/json', ...out.headers });
        res.end(out.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
}

const ev = eventFor('u1', 'w1');
const pullReq = { scope: { workspaceId: 'w1' }, cursor: 0, limit: 10 };

async function errorOf(p: Promise<unknown>): Promise<SyncdHostError> {
    try {
        await p;
    } catch (e) {
        expect(e).toBeInstanceOf(SyncdHostError);
        return e as SyncdHostError;
    }
    throw new Error('expected a rejection');
}

describe('syncd unreachable → 503, quickly', () => {
    it('connection refused', async () => {
        const port = await freePort();
        const c = new SyncdClient({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 2000 });
        const t0 = performance.now();
        const e = await errorOf(createSyncGatewayAdapter(c).pull(ev, pullReq));
        expect(e.statusCode).toBe(503);
        expect(e.message).toMatch(/unreachable/);
        expect(performance.now() - t0).toBeLessThan(1500);
    });

    it('a syncd that never answers times out (no hang)', async () => {
        const f = await fakeSyncd(() => 'hang');
        try {
            const c = new SyncdClient({ url: f.url, token: 't', timeoutMs: 300 });
            const t0 = performance.now();
            const e = await errorOf(createAuthWorkspaceStore(c).getOrCreateDefaultWorkspace('u'));
            expect(e.statusCode).toBe(503);
            expect(e.message).toMatch(/did not answer .* within 300 ms/);
            expect(performance.now() - t0).toBeLessThan(1500);
        } finally {
            await f.close();
        }
    });
});

describe('syncd error bodies → the same host status', () => {
    const client = newClient();
    it('400, 401, 403, 404 and the RPC envelope', async () => {
        const u = await newUser(client);
        const sync = createSyncGatewayAdapter(client);
        const bad = await errorOf(sync.pull(u.event, { scope: { workspaceId: u.workspaceId }, cursor: 0, limit: 5000 }));
        expect(bad).toMatchObject({ statusCode: 400, code: 'VALIDATION_ERROR' });
        const wrongToken = new SyncdClient({ url: url(), token: `${token()}x` });
        expect(await statusOf(createSyncGatewayAdapter(wrongToken).pull(u.event, { scope: { workspaceId: u.workspaceId }, cursor: 0, limit: 1 }))).toBe(401);
        const other = await newUser(client);
        expect(await statusOf(sync.pull(other.event, { scope: { workspaceId: u.workspaceId }, cursor: 0, limit: 1 }))).toBe(403);
        const nf = await errorOf(client.rpc('auth', 'noSuchMethod', []));
        expect(nf).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
        expect(await statusOf(client.rpc('noSuchStore', 'x', []))).toBe(404);
    });

    it('429 keeps Retry-After, 500 stays 500', async () => {
        const f = await fakeSyncd((p): ReturnType<Handler> => {
            if (p === '/v1/version') return { status: 200, body: '{"protocol":1,"version":"fake"}' };
            if (p.startsWith('/v1/sync/pull')) return { status: 429, body: '{"error":{"code":"RATE_LIMITED","message":"slow down"}}', headers: { 'retry-after': '3' } };
            return { status: 500, body: '<html>oops</html>', headers: { 'content-type': 'text/html' } };
        });
        try {
            const c = new SyncdClient({ url: f.url, token: 't' });
            const e = await errorOf(createSyncGatewayAdapter(c).pull(ev, pullReq));
            expect(e).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 3000 });
            const e2 = await errorOf(createSyncGatewayAdapter(c).push(ev, { scope: { workspaceId: 'w1' }, ops: [] }));
            expect(e2).toMatchObject({ statusCode: 500, code: 'SERVER_ERROR' });
        } finally {
            await f.close();
        }
    });
});

describe('malformed syncd answers → 502', () => {
    let f: Awaited<ReturnType<typeof fakeSyncd>>;
    beforeAll(async () => {
        f = await fakeSyncd((p): ReturnType<Handler> => {
            if (p === '/v1/version') return { status: 200, body: '{"protocol":1}' };
            if (p === '/v1/sync/pull') return { status: 200, body: 'this is not json' };
            if (p === '/v1/sync/push') return { status: 200, body: '{"results":"nope","serverVersion":1}' };
            if (p === '/v1/sync/snapshot') return { status: 200, body: '[1,2,3]' };
            if (p.startsWith('/v1/rpc/')) return { status: 200, body: '{"result":42}' };
            if (p === '/v1/storage/presign-upload') return { status: 200, body: '{"method":"PUT"}' };
            return { status: 200, body: '{}' };
        });
    });
    afterAll(() => f.close());

    it('each adapter answers 502 on a malformed reply', async () => {
        const c = new SyncdClient({ url: f.url, token: 't' });
        const sync = createSyncGatewayAdapter(c);
        expect(await statusOf(sync.pull(ev, pullReq))).toBe(502);
        expect(await statusOf(sync.push(ev, { scope: { workspaceId: 'w1' }, ops: [] }))).toBe(502);
        expect(await statusOf(sync.snapshot!(ev, { scope: { workspaceId: 'w1' }, pageSize: 10 }))).toBe(502);
        expect(await statusOf(sync.queryCanonicalStorage!(ev, { scope: { workspaceId: 'w1' }, kind: 'live_metadata' }))).toBe(502);
        expect(await statusOf(createAuthWorkspaceStore(c).getOrCreateDefaultWorkspace('u'))).toBe(502);
        const { createStorageGatewayAdapter } = await import('../src/storage-adapter');
        expect(await statusOf(createStorageGatewayAdapter(c).presignUpload(ev, { workspaceId: 'w1', hash: 'h', mimeType: 'image/png', sizeBytes: 1 }))).toBe(502);
    });
});

describe('protocol check', () => {
    it('refuses a syncd that speaks another protocol: every call 503', async () => {
        const f = await fakeSyncd((p) => (p === '/v1/version' ? { status: 200, body: '{"protocol":2,"version":"future"}' } : { status: 200, body: '{"changes":[],"nextCursor":0,"hasMore":false}' }));
        try {
            const c = new SyncdClient({ url: f.url, token: 't' });
            const e = await errorOf(c.ensureVersion());
            expect(e.statusCode).toBe(503);
            expect(e.message).toMatch(/protocol 2.*needs protocol 1/);
            expect(await statusOf(createSyncGatewayAdapter(c).pull(ev, pullReq))).toBe(503);

            // The Nitro plugin's start-up check stops the server on a mismatch...
            const quiet = { info: () => {}, error: () => {} };
            const exits: number[] = [];
            const reg = registerSyncd(registries(), { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: { OR3_SYNCD_URL: f.url, OR3_SYNCD_TOKEN: 't' }, startMaintenanceRefresh: false });
            expect(await checkStartup(reg, (c) => exits.push(c), quiet)).toBe('mismatch');
            expect(exits).toEqual([1]);
            // ...but not when syncd is merely unreachable (it may come up later).
            const port = await freePort();
            const reg2 = registerSyncd(registries(), { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: { OR3_SYNCD_URL: `http://127.0.0.1:${port}`, OR3_SYNCD_TOKEN: 't' }, startMaintenanceRefresh: false });
            expect(await checkStartup(reg2, (c) => exits.push(c), quiet)).toBe('unreachable');
            expect(exits).toEqual([1]);
            const reg3 = registerSyncd(registries(), { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: { OR3_SYNCD_URL: url(), OR3_SYNCD_TOKEN: token() }, startMaintenanceRefresh: false });
            expect(await checkStartup(reg3, (c) => exits.push(c), quiet)).toBe('ok');
        } finally {
            await f.close();
        }
    });

    it('accepts the real syncd', async () => {
        await expect(newClient().checkVersion()).resolves.toMatchObject({ protocol: 1 });
    });

    it('errors look like h3 errors to the host', () => {
        const e = new SyncdHostError(409, 'CONFLICT', 'x');
        expect((e.constructor as unknown as { __h3_error__: boolean }).__h3_error__).toBe(true);
        expect(e.toJSON()).toMatchObject({ statusCode: 409, data: { code: 'CONFLICT', provider: 'syncd' } });
    });
});
