/**
 * SyncGatewayAdapter: a pass-through to syncd's /v1/sync/* (api.md
 * "Sync"). Bodies are the host wire types unchanged; the acting user is
 * the session's. Answers are shape-checked (a malformed answer is a 502,
 * as the host's contract checks expect); the host's zod checks run too.
 */
import type { SyncdClient } from './client';
import { badGateway } from './errors';
import type {
    H3EventLike,
    MaintenanceState,
    PullResponse,
    PushResult,
    SnapshotResponse,
    SyncGatewayAdapter,
} from './host-types';
import { IntentLedger } from './intents';
import { sessionOf } from './session';

export const SYNCD_PROVIDER_ID = 'syncd';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function checkPush(v: PushResult, path = '/v1/sync/push'): PushResult {
    if (!Array.isArray(v.results) || !isNum(v.serverVersion)) throw badGateway(`syncd ${path}: not a PushResult`);
    return v;
}
export function checkPull(v: PullResponse, path = '/v1/sync/pull'): PullResponse {
    if (!Array.isArray(v.changes) || !isNum(v.nextCursor) || typeof v.hasMore !== 'boolean') {
        throw badGateway(`syncd ${path}: not a PullResponse`);
    }
    return v;
}
function checkSnapshot(v: SnapshotResponse): SnapshotResponse {
    if (!Array.isArray(v.items) || typeof v.snapshotId !== 'string' || !isNum(v.highWatermark)) {
        throw badGateway('syncd /v1/sync/snapshot: not a SnapshotResponse');
    }
    return v;
}

/**
 * The maintenance hooks are synchronous in the host, so their state is a
 * local cache, refreshed from GET /v1/sync/maintenance (and the workspace
 * list from GET /v1/sync/workspaces) on an interval and after every run.
 */
export class MaintenanceCache {
    private remote: MaintenanceState = { enabled: true, state: 'idle' };
    private local: Partial<MaintenanceState> = {};
    private workspaceIds: string[] = [];
    private timer: ReturnType<typeof setInterval> | null = null;
    lastRefreshError: string | undefined;

    constructor(private readonly client: SyncdClient) {}

    async refresh(): Promise<void> {
        try {
            const [m, w] = await Promise.all([
                this.client.request<MaintenanceState>('/v1/sync/maintenance', { method: 'GET' }),
                this.client.request<{ workspaceIds?: unknown }>('/v1/sync/workspaces', { method: 'GET' }),
            ]);
            if (typeof m.enabled !== 'boolean' || typeof m.state !== 'string') throw badGateway('syncd /v1/sync/maintenance: malformed');
            this.remote = m;
            if (Array.isArray(w.workspaceIds)) this.workspaceIds = w.workspaceIds.filter((x): x is string => typeof x === 'string');
            this.lastRefreshError = undefined;
        } catch (e) {
            this.lastRefreshError = (e as Error).message;
        }
    }

    start(intervalMs: number) {
        if (this.timer) return;
        void this.refresh();
        this.timer = setInterval(() => void this.refresh(), intervalMs);
        (this.timer as { unref?: () => void }).unref?.();
    }

    stop() {
        if (this.timer) clearInterval(this.timer);
        this.timer = null;
    }

    get(): MaintenanceState {
        const s: MaintenanceState = { ...this.remote, ...this.local };
        if (this.lastRefreshError && s.state !== 'running') return { ...s, lastError: s.lastError ?? this.lastRefreshError };
        return s;
    }
    ids(): string[] {
        return [...this.workspaceIds];
    }
    begin() {
        this.local = { ...this.local, state: 'running', lastError: undefined };
    }
    complete(lastRun: number) {
        this.local = { state: 'idle', lastRun };
        void this.refresh();
    }
    fail(error: unknown) {
        this.local = { ...this.local, state: 'failed', lastError: error instanceof Error ? error.message : String(error) };
    }
}

export interface SyncAdapterOptions {
    ledger?: IntentLedger;
    maintenance?: MaintenanceCache;
}

export function createSyncGatewayAdapter(client: SyncdClient, opts: SyncAdapterOptions = {}): SyncGatewayAdapter & { maintenance: MaintenanceCache } {
    const ledger = opts.ledger ?? new IntentLedger();
    const maintenance = opts.maintenance ?? new MaintenanceCache(client);
    const post = <T>(event: H3EventLike, path: string, body: unknown) =>
        client.request<T>(path, { body, user: sessionOf(event).userId });

    // GC with a session user is the owner's call (syncd checks the role). The
    // host's maintenance runner has no session: it runs as the trusted host
    // through syncd's admin action for that one workspace.
    const gc = async (event: H3EventLike, kind: 'gc-tombstones' | 'gc-change-log', input: { scope: { workspaceId: string }; retentionSeconds: number }) => {
        const user = sessionOf(event).userId;
        if (user) return client.request(`/v1/sync/${kind}`, { body: input, user });
        const r = await client.request<{ ok?: boolean; result?: { purged?: number } }>(`/v1/admin/actions/sync.${kind}`, {
            body: { workspaceId: input?.scope?.workspaceId, retentionSeconds: input?.retentionSeconds },
            headers: { 'x-syncd-admin': 'or3-maintenance' },
        });
        return { purged: r.result?.purged ?? 0, hasMore: false };
    };

    return {
        id: SYNCD_PROVIDER_ID,
        capabilities: { snapshotBootstrap: 'snapshot-v1', historyRetention: 'snapshot-v1' },
        maintenance,

        async pull(event, req) {
            return checkPull(await post<PullResponse>(event, '/v1/sync/pull', req));
        },
        async push(event, batch) {
            return checkPush(await post<PushResult>(event, '/v1/sync/push', batch));
        },
        async updateCursor(event, input) {
            await post(event, '/v1/sync/update-cursor', input);
        },
        async snapshot(event, req) {
            return checkSnapshot(await post<SnapshotResponse>(event, '/v1/sync/snapshot', req));
        },
        async queryCanonicalStorage(event, q) {
            const r = await post<{ items?: unknown; hasMore?: unknown; nextCursor?: string }>(event, '/v1/sync/canonical-storage', q);
            if (!Array.isArray(r.items) || typeof r.hasMore !== 'boolean') throw badGateway('syncd /v1/sync/canonical-storage: malformed');
            return r as { items: unknown[]; hasMore: boolean; nextCursor?: string };
        },
        async reserveUploadIntent(event, input) {
            const user = sessionOf(event).userId;
            const r = await client.request<{ intentId?: string; expiresAt?: number }>('/v1/sync/upload-intents/reserve', { body: input, user });
            ledger.reserve(user, input.workspaceId, input.hash, {
                intentId: r.intentId ?? input.intentId,
                sizeBytes: input.sizeBytes,
                mimeType: input.mimeType,
                expiresAtMs: (r.expiresAt ?? input.expiresAt) * 1000,
            });
            return r;
        },
        async consumeUploadIntent(event, input) {
            // Already consumed by the storage adapter's commit: not twice.
            const done = ledger.committedAs(input.intentId, input.storageId);
            if (done !== undefined) return done;
            return post(event, '/v1/sync/upload-intents/consume', input);
        },
        async cancelUploadIntent(event, input) {
            ledger.forget(input.intentId);
            return post(event, '/v1/sync/upload-intents/cancel', input);
        },
        async gcTombstones(event, input) {
            return gc(event, 'gc-tombstones', input);
        },
        async gcChangeLog(event, input) {
            return gc(event, 'gc-change-log', input);
        },

        listWorkspaceIds: () => maintenance.ids(),
        getMaintenanceState: () => maintenance.get(),
        beginMaintenanceRun: () => maintenance.begin(),
        completeMaintenanceRun: (input) => maintenance.complete(input?.lastRun ?? Date.now()),
        failMaintenanceRun: (error) => maintenance.fail(error),
    };
}
