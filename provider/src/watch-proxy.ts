/**
 * The SSE pass-through behind the provider-added route
 * (`GET /api/sync/syncd-watch?workspaceId=W&cursor=N`): the browser talks
 * to Nuxt, Nuxt holds the service token, syncd's watch stream
 * (GET /v1/sync/watch, api.md Decision 6) is piped through unchanged for
 * the session's user. Last-Event-ID is passed on. The upstream call ends
 * when the browser goes away.
 */
import type { ServerResponse, IncomingMessage } from 'node:http';
import type { SyncdClient } from './client';
import { SyncdHostError } from './errors';

export const WATCH_ROUTE = '/api/sync/syncd-watch';

export async function proxyWatch(
    req: IncomingMessage,
    res: ServerResponse,
    client: SyncdClient,
    userId: string | undefined,
): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://host');
    const workspaceId = url.searchParams.get('workspaceId') ?? '';
    const cursor = url.searchParams.get('cursor') ?? undefined;
    const ac = new AbortController();
    const onClose = () => ac.abort();
    req.on('close', onClose);
    res.on('close', onClose);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    const last = req.headers['last-event-id'];
    if (typeof last === 'string' && last !== '') headers['last-event-id'] = last;
    try {
        if (!userId) throw new SyncdHostError(401, 'UNAUTHORIZED', 'no session');
        if (!workspaceId) throw new SyncdHostError(400, 'VALIDATION_ERROR', 'workspaceId is required');
        const up = await client.stream('/v1/sync/watch', { method: 'GET', user: userId, query: { workspaceId, cursor }, headers, signal: ac.signal });
        res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache, no-transform',
            connection: 'keep-alive',
            'x-accel-buffering': 'no',
        });
        res.flushHeaders?.();
        if (!up.body) return void res.end();
        const reader = up.body.getReader();
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                if (!res.write(value)) {
                    await new Promise<void>((r) => {
                        const done = () => {
                            res.off('drain', done);
                            res.off('close', done);
                            r();
                        };
                        res.on('drain', done);
                        res.on('close', done);
                    });
                }
                if (ac.signal.aborted) break;
            }
        } catch {
            // upstream ended or the browser left
        } finally {
            reader.cancel().catch(() => {});
        }
        res.end();
    } catch (e) {
        if (res.headersSent) return void res.end();
        const err = e instanceof SyncdHostError ? e : new SyncdHostError(502, 'BAD_GATEWAY', (e as Error).message);
        res.writeHead(err.statusCode, { 'content-type': 'application/json', ...(err.retryAfterMs ? { 'retry-after': String(Math.ceil(err.retryAfterMs / 1000)) } : {}) });
        res.end(JSON.stringify({ statusCode: err.statusCode, statusMessage: err.statusMessage, data: err.data }));
    } finally {
        req.off('close', onClose);
        res.off('close', onClose);
    }
}
