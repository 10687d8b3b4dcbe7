/**
 * The client-side SyncProvider `syncd`: the host's gateway semantics (every
 * call goes through the host's /api/sync/* routes with the session cookie;
 * pull drains `hasMore` and awaits `onChanges` for backpressure; 401/403
 * stop the subscription and dispatch `or3:sync-session-invalid`;
 * Retry-After is honoured), but live updates are triggered by syncd's
 * watch stream, proxied through the provider's route, instead of polling
 * every 2 s. While the stream is down it polls at the gateway's interval
 * and reconnects with the gateway's backoff (1, 2, 5, 10, 30 s).
 */
import type {
    PullRequest,
    PullResponse,
    PushBatch,
    PushResult,
    SnapshotRequest,
    SnapshotResponse,
    SyncChange,
    SyncProvider,
    SyncScope,
    SyncSubscribeOptions,
} from '../../host-types';
import { readSse } from '../../sse';
import { WATCH_ROUTE } from '../../watch-proxy';

export interface SyncdSyncProviderConfig {
    id?: string;
    /** Origin of the host ('' = same origin). */
    baseUrl?: string;
    watchPath?: string;
    /** Poll interval while the watch stream is down (the gateway's 2 s). */
    pollIntervalMs?: number;
    pullLimit?: number;
    maxRetryAfterMs?: number;
    fetch?: typeof fetch;
}

export class SyncRequestError extends Error {
    constructor(readonly path: string, readonly status: number, message: string, readonly retryAfterMs?: number) {
        super(`[syncd-sync] ${path} failed (${status}): ${message}`);
        this.name = 'SyncRequestError';
    }
}

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

function retryAfter(v: string | null): number | undefined {
    if (!v) return undefined;
    const s = Number(v);
    if (Number.isFinite(s) && s > 0) return Math.ceil(s * 1000);
    const d = Date.parse(v) - Date.now();
    return Number.isFinite(d) && d > 0 ? d : undefined;
}

export function createSyncdSyncProvider(config: SyncdSyncProviderConfig = {}): SyncProvider {
    const baseUrl = config.baseUrl ?? '';
    const watchPath = config.watchPath ?? WATCH_ROUTE;
    const pollIntervalMs = config.pollIntervalMs ?? 2000;
    const pullLimit = config.pullLimit ?? 100;
    const maxRetryAfterMs = config.maxRetryAfterMs ?? 5 * 60_000;
    const doFetch = config.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
    const subscriptions = new Set<() => void>();

    async function post<T>(path: string, body: unknown, signal?: AbortSignal, allowEmpty = false): Promise<T> {
        const res = await doFetch(`${baseUrl}${path}`, {
            method: 'POST',
            credentials: 'include',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal,
        });
        const text = await res.text();
        if (!res.ok) {
            let msg = text.slice(0, 200);
            try {
                const j = JSON.parse(text);
                msg = String(j.statusMessage ?? j.message ?? j.error?.message ?? msg).slice(0, 200);
            } catch {
                /* keep text */
            }
            throw new SyncRequestError(path, res.status, msg, retryAfter(res.headers.get('retry-after')));
        }
        if (text.trim() === '') {
            if (allowEmpty) return undefined as T;
            throw new Error(`[syncd-sync] ${path} returned empty response`);
        }
        try {
            return JSON.parse(text) as T;
        } catch {
            throw new Error(`[syncd-sync] ${path} returned invalid JSON`);
        }
    }

    function checkPull(r: PullResponse): PullResponse {
        if (!r || !Array.isArray(r.changes) || typeof r.nextCursor !== 'number' || typeof r.hasMore !== 'boolean') {
            throw new Error('[syncd-sync] /api/sync/pull returned invalid response');
        }
        return r;
    }

    return {
        id: config.id ?? 'syncd',
        mode: 'gateway',
        capabilities: { snapshotBootstrap: 'snapshot-v1', historyRetention: 'snapshot-v1' },

        async subscribe(scope: SyncScope, tables: string[], onChanges: (c: SyncChange[]) => void | Promise<void>, options?: SyncSubscribeOptions) {
            let active = true;
            let cursor = options?.cursor ?? 0;
            const limit = options?.limit ?? pullLimit;
            const ac = new AbortController();
            let running = false;
            let again = false;
            let connected = false;
            let blockedUntil = 0;
            let pollTimer: ReturnType<typeof setTimeout> | null = null;

            const stop = (status: number, path: string) => {
                active = false;
                ac.abort();
                const t = globalThis as { dispatchEvent?: (e: unknown) => boolean };
                if (typeof t.dispatchEvent === 'function' && typeof CustomEvent === 'function') {
                    t.dispatchEvent(new CustomEvent('or3:sync-session-invalid', { detail: { status, path, workspaceId: scope.workspaceId } }));
                }
            };

            // Pull until caught up; hints that arrive meanwhile cause one more pass.
            const drain = async () => {
                if (!active) return;
                if (running) {
                    again = true;
                    return;
                }
                if (Date.now() < blockedUntil) return;
                running = true;
                try {
                    do {
                        again = false;
                        let hasMore = true;
                        while (active && hasMore) {
                            const prev = cursor;
                            const req: PullRequest = { scope, cursor, limit, tables };
                            const r = checkPull(await post<PullResponse>('/api/sync/pull', req, ac.signal));
                            if (r.changes.length) await Promise.resolve(onChanges(r.changes));
                            if (r.nextCursor > cursor) cursor = r.nextCursor;
                            hasMore = r.hasMore;
                            if (hasMore && cursor <= prev) break;
                        }
                    } while (again && active);
                } catch (e) {
                    if ((e as Error).name === 'AbortError') return;
                    if (e instanceof SyncRequestError && (e.status === 401 || e.status === 403)) stop(e.status, e.path);
                    else if (e instanceof SyncRequestError && e.retryAfterMs !== undefined) {
                        blockedUntil = Date.now() + Math.min(Math.max(e.retryAfterMs, pollIntervalMs), maxRetryAfterMs);
                    } else console.error('[syncd-sync] pull failed:', e);
                } finally {
                    running = false;
                }
            };

            // Fallback polling while the stream is down (gateway interval + jitter).
            const poll = () => {
                if (!active) return;
                if (!connected) void drain();
                pollTimer = setTimeout(poll, pollIntervalMs + Math.floor(Math.random() * 500));
            };
            pollTimer = setTimeout(poll, pollIntervalMs + Math.floor(Math.random() * 500));

            const watch = async () => {
                let attempt = 0;
                while (active) {
                    try {
                        const q = new URLSearchParams({ workspaceId: scope.workspaceId, cursor: String(cursor) });
                        const res = await doFetch(`${baseUrl}${watchPath}?${q}`, {
                            credentials: 'include',
                            headers: { accept: 'text/event-stream' },
                            signal: ac.signal,
                        });
                        if (res.status === 401 || res.status === 403) {
                            stop(res.status, watchPath);
                            return;
                        }
                        if (!res.ok || !res.body) throw new Error(`watch answered ${res.status}`);
                        connected = true;
                        const since = Date.now();
                        void drain(); // catch up on anything between subscribe and the stream
                        await readSse(res.body, () => void drain(), ac.signal);
                        // A stream that lived a while was healthy: reconnect at once-ish.
                        if (Date.now() - since > 10_000) attempt = 0;
                    } catch (e) {
                        if (!active || (e as Error).name === 'AbortError') return;
                    } finally {
                        connected = false;
                    }
                    if (!active) return;
                    void drain();
                    await new Promise((r) => setTimeout(r, BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]));
                }
            };
            void watch();

            const unsubscribe = () => {
                active = false;
                ac.abort();
                if (pollTimer) clearTimeout(pollTimer);
                pollTimer = null;
            };
            subscriptions.add(unsubscribe);
            return () => {
                unsubscribe();
                subscriptions.delete(unsubscribe);
            };
        },

        async pull(req: PullRequest) {
            return checkPull(await post<PullResponse>('/api/sync/pull', req));
        },
        async snapshot(req: SnapshotRequest) {
            return post<SnapshotResponse>('/api/sync/snapshot', req);
        },
        async push(batch: PushBatch) {
            const r = await post<PushResult>('/api/sync/push', batch);
            if (!r || !Array.isArray(r.results)) throw new Error('[syncd-sync] /api/sync/push returned invalid response');
            return r;
        },
        async updateCursor(scope: SyncScope, deviceId: string, version: number) {
            await post('/api/sync/update-cursor', { scope, deviceId, version }, undefined, true);
        },
        async gcTombstones(scope: SyncScope, retentionSeconds: number) {
            await post('/api/sync/gc-tombstones', { scope, retentionSeconds }, undefined, true);
        },
        async gcChangeLog(scope: SyncScope, retentionSeconds: number) {
            await post('/api/sync/gc-change-log', { scope, retentionSeconds }, undefined, true);
        },
        async dispose() {
            subscriptions.forEach((u) => u());
            subscriptions.clear();
        },
    };
}
