/**
 * A stand-in for OR3 Chat's Nitro server: /api/sync/{pull,push,snapshot,
 * update-cursor} dispatch to the syncd SyncGatewayAdapter with the session
 * resolved from a cookie (as the host's resolveSessionContext does), and
 * the provider's watch route streams through proxyWatch. Used by the
 * real-time tests and the benchmark.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { SyncdClient } from '../src/client';
import { SyncdHostError } from '../src/errors';
import { eventFor } from '../src/session';
import { createSyncGatewayAdapter } from '../src/sync-adapter';
import { WATCH_ROUTE, proxyWatch } from '../src/watch-proxy';

function session(req: IncomingMessage) {
    const m = /(?:^|;\s*)uid=([^;]+)/.exec(req.headers.cookie ?? '');
    return m ? decodeURIComponent(m[1]) : undefined;
}

async function body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

export async function startFakeHost(client: SyncdClient, opts: { watch?: boolean } = {}): Promise<{ url: string; close: () => Promise<void> }> {
    const sync = createSyncGatewayAdapter(client);
    const server: Server = createServer(async (req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        const uid = session(req);
        try {
            if (path === WATCH_ROUTE && req.method === 'GET') {
                if (opts.watch === false) throw new SyncdHostError(404, 'NOT_FOUND', 'no route');
                if (!uid) throw new SyncdHostError(401, 'UNAUTHORIZED', 'no session');
                return await proxyWatch(req, res, client, uid);
            }
            if (!uid) throw new SyncdHostError(401, 'UNAUTHORIZED', 'no session');
            const ev = eventFor(uid);
            const b = (await body(req)) as never;
            let out: unknown;
            if (path === '/api/sync/pull') out = await sync.pull(ev, b);
            else if (path === '/api/sync/push') out = await sync.push(ev, b);
            else if (path === '/api/sync/snapshot') out = await sync.snapshot!(ev, b);
            else if (path === '/api/sync/update-cursor') out = await sync.updateCursor(ev, b);
            else throw new SyncdHostError(404, 'NOT_FOUND', 'no route');
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(out === undefined ? '' : JSON.stringify(out));
        } catch (e) {
            const err = e instanceof SyncdHostError ? e : new SyncdHostError(500, 'SERVER_ERROR', String(e));
            if (res.headersSent) return void res.end();
            res.writeHead(err.statusCode, { 'content-type': 'application/json' });
            res.end(JSON.stringify(err.toJSON()));
        }
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
        url: `http://127.0.0.1:${port}`,
        close: () =>
            new Promise<void>((r) => {
                server.closeAllConnections();
                server.close(() => r());
            }),
    };
}

/** fetch as a browser with the session cookie of userId. */
export const browserFetch =
    (userId: string): typeof fetch =>
    (input, init = {}) =>
        fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: `uid=${encodeURIComponent(userId)}` } });
