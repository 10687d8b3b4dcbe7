/**
 * The minimal OR3 Chat host types this package needs, declared locally:
 * the host package is not on npm. Shapes follow
 * shared/spec/host-integration.md §1.2 (wire types are kept loose: the host
 * validates them with zod before and after an adapter call).
 *
 * This is the only file with host declarations. tsconfig.json maps the
 * host's path aliases (`~~/*`, `~/*`, `#imports`) here so that the Nitro
 * and client plugins type-check without an or3-chat checkout; at run time
 * inside the host, Nuxt resolves those aliases to the real modules.
 */

/* ---------- Nitro / Nuxt / h3 (structural) ---------- */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The parts of an h3 `H3Event` the adapters read. */
export interface H3EventLike {
    context: Record<string, unknown>;
    node?: { req: IncomingMessage; res: ServerResponse };
    path?: string;
}

/** The parts of a Nuxt instance the module touches. */
export interface NuxtLike {
    options: {
        plugins: Array<string | { src: string; mode?: 'client' | 'server' | 'all' }>;
        serverHandlers?: Array<{ route: string; handler: string; method?: string }>;
        runtimeConfig: Record<string, any> & { public?: Record<string, any> };
        build?: { transpile?: Array<string | RegExp> };
    };
    hook(name: 'nitro:config', fn: (config: { plugins?: string[] }) => void): void;
}

/* ---------- Sync wire types (shared/sync/types.ts) ---------- */

export interface SyncScope {
    workspaceId: string;
    projectId?: string;
}
export interface PendingOp {
    id?: string;
    tableName: string;
    operation: 'put' | 'delete';
    pk: string;
    payload?: unknown;
    stamp: { deviceId: string; opId: string; hlc: string; clock: number };
    createdAt?: number;
    attempts?: number;
    status?: string;
    [k: string]: unknown;
}
export interface PushBatch {
    scope: SyncScope;
    ops: PendingOp[];
    fileKindCapability?: unknown;
}
export interface PushResult {
    results: Array<{ opId: string; success: boolean; serverVersion?: number; [k: string]: unknown }>;
    serverVersion: number;
}
export interface SyncChange {
    serverVersion: number;
    tableName: string;
    pk: string;
    op: 'put' | 'delete';
    payload?: unknown;
    stamp: PendingOp['stamp'];
}
export interface PullRequest {
    scope: SyncScope;
    cursor: number;
    limit: number;
    tables?: string[];
    fileKindCapability?: unknown;
}
export interface PullResponse {
    changes: SyncChange[];
    nextCursor: number;
    hasMore: boolean;
    oldestRetainedVersion?: number;
    requiresSnapshot?: boolean;
}
export interface SnapshotRequest {
    scope: SyncScope;
    pageSize: number;
    pageToken?: string | null;
    tables?: string[];
    fileKindCapability?: unknown;
}
export interface SnapshotResponse {
    workspaceId: string;
    snapshotId: string;
    highWatermark: number;
    items: Array<Record<string, unknown>>;
    nextPageToken: string | null;
}
export interface CanonicalStorageQuery {
    scope: SyncScope;
    kind: 'live_metadata' | 'reference_edges' | 'active_reservations';
    cursor?: string;
    limit?: number;
    hash?: string;
    now?: number;
}
export interface ReserveUploadIntentInput {
    intentId: string;
    workspaceId: string;
    hash: string;
    mimeType: string;
    sizeBytes: number;
    expiresAt: number;
    workspaceQuotaBytes?: number;
}
export interface ConsumeUploadIntentInput {
    intentId: string;
    workspaceId: string;
    hash: string;
    mimeType: string;
    sizeBytes: number;
    storageId: string;
}
export interface MaintenanceState {
    enabled: boolean;
    lastRun?: number;
    backlog?: number;
    lastError?: string;
    state: 'idle' | 'running' | 'failed';
}

/** server/sync/gateway/types.ts */
export interface SyncGatewayAdapter {
    id: string;
    capabilities?: { snapshotBootstrap?: 'snapshot-v1'; historyRetention?: 'snapshot-v1' };
    pull(event: H3EventLike, req: PullRequest): Promise<PullResponse>;
    push(event: H3EventLike, batch: PushBatch): Promise<PushResult>;
    updateCursor(event: H3EventLike, input: { scope: SyncScope; deviceId: string; version: number }): Promise<void>;
    snapshot?(event: H3EventLike, req: SnapshotRequest): Promise<SnapshotResponse>;
    queryCanonicalStorage?(event: H3EventLike, q: CanonicalStorageQuery): Promise<{ items: unknown[]; nextCursor?: string; hasMore: boolean }>;
    reserveUploadIntent?(event: H3EventLike, input: ReserveUploadIntentInput): Promise<unknown>;
    consumeUploadIntent?(event: H3EventLike, input: ConsumeUploadIntentInput): Promise<unknown>;
    cancelUploadIntent?(event: H3EventLike, input: { workspaceId: string; intentId: string }): Promise<unknown>;
    gcTombstones?(event: H3EventLike, input: { scope: SyncScope; retentionSeconds: number }): Promise<unknown>;
    gcChangeLog?(event: H3EventLike, input: { scope: SyncScope; retentionSeconds: number }): Promise<unknown>;
    listWorkspaceIds?(): string[];
    getMaintenanceState?(): MaintenanceState;
    beginMaintenanceRun?(): void;
    completeMaintenanceRun?(input: { lastRun: number }): void;
    failMaintenanceRun?(error: unknown): void;
}

/** server/storage/gateway/types.ts */
export interface PresignResult {
    url: string;
    expiresAt?: number;
    headers?: Record<string, string>;
    method?: string;
    storageId?: string;
    intentId?: string;
    disposition?: string;
}
export interface StorageGatewayAdapter {
    id: string;
    presignUpload(
        event: H3EventLike,
        input: { workspaceId: string; hash: string; mimeType: string; sizeBytes: number; expiresInMs?: number; disposition?: string; workspaceQuotaBytes?: number },
    ): Promise<PresignResult>;
    presignDownload(event: H3EventLike, input: { workspaceId: string; hash: string; storageId?: string }): Promise<PresignResult>;
    commit?(event: H3EventLike, input: unknown): Promise<unknown>;
    deleteObject?(event: H3EventLike, input: { workspaceId: string; hash?: string; storageId: string }): Promise<unknown>;
    gc?(event: H3EventLike, input: { workspace_id: string; retention_seconds: number; limit?: number }): Promise<unknown>;
}

/** A store whose every method forwards to a syncd RPC store. */
export type RpcStore = Record<string, (...args: any[]) => Promise<any>>;

/** server/admin/stores/types.ts */
export interface AdminStoreCapabilities {
    supportsServerSideAdmin: boolean;
    supportsUserSearch: boolean;
    supportsWorkspaceList: boolean;
    supportsWorkspaceManagement: boolean;
    supportsDeploymentAdminGrants: boolean;
}

/** server/admin/providers/types.ts */
export interface ProviderAdminAdapter {
    id: string;
    kind: 'auth' | 'sync' | 'storage';
    getStatus(event: H3EventLike, ctx: { enabled: boolean; provider: string }): Promise<{
        details?: Record<string, unknown>;
        warnings: Array<{ level: 'info' | 'warning' | 'error'; message: string }>;
        actions: Array<{ id: string; label: string; description?: string; danger?: boolean }>;
    }>;
    runAction?(event: H3EventLike, actionId: string, payload: unknown, ctx: { provider: string; enabled: boolean; session?: unknown }): Promise<unknown>;
}

/** server/utils/background-jobs/types.ts (plus the lease API). */
export interface BackgroundJobProvider extends RpcStore {}
/** server/utils/rate-limit/types.ts */
export interface RateLimitProvider {
    name: string;
    checkAndRecord(key: string, config: { windowMs: number; maxRequests: number }): Promise<{ allowed: boolean; remaining: number; retryAfterMs?: number }>;
    getStats(key: string, config: { windowMs: number; maxRequests: number }): Promise<{ limit: number; remaining: number; resetMs: number } | null>;
}
/** server/auth/deployment-admin.ts */
export interface DeploymentAdminChecker {
    checkDeploymentAdmin(providerUserId: string, provider: string): Promise<boolean>;
}

/* ---------- Host registries (the `~~/server/...` modules) ---------- */

export interface RegistryEntry<T> {
    id: string;
    order?: number;
    create: () => T;
}
export declare function registerAuthWorkspaceStore(entry: RegistryEntry<RpcStore>): void;
export declare function registerSyncGatewayAdapter(entry: RegistryEntry<SyncGatewayAdapter>): void;
export declare function registerStorageGatewayAdapter(entry: RegistryEntry<StorageGatewayAdapter>): void;
export declare function registerWebhookStore(entry: RegistryEntry<RpcStore>): void;
export declare function registerAdminStoreProvider(entry: {
    id: string;
    createWorkspaceAccessStore: () => RpcStore;
    createWorkspaceSettingsStore: () => RpcStore;
    createAdminUserStore: () => RpcStore;
    getCapabilities: () => AdminStoreCapabilities;
}): void;
export declare function registerProviderAdminAdapter(adapter: ProviderAdminAdapter): void;
export declare function registerRateLimitProvider(id: string, provider: RateLimitProvider): void;
export declare function registerBackgroundJobProvider(id: string, provider: BackgroundJobProvider): void;
export declare function registerNotificationEmitter(
    id: string,
    emitter: { emitBackgroundJobComplete: (...a: any[]) => Promise<unknown>; emitBackgroundJobError: (...a: any[]) => Promise<unknown> },
): void;
export declare function registerDeploymentAdminChecker(id: string, factory: () => DeploymentAdminChecker): void;

/* ---------- Nitro and Nuxt auto-imports (`#imports`) ---------- */

export declare function useRuntimeConfig(event?: unknown): Record<string, any>;
export declare function defineNitroPlugin(fn: (nitroApp: unknown) => void): (nitroApp: unknown) => void;
export declare function defineEventHandler(fn: (event: H3EventLike) => unknown): unknown;
export declare function defineNuxtPlugin(fn: (nuxtApp: unknown) => void): unknown;
/** server/auth/session.ts: resolves (and caches on event.context) the session. */
export declare function resolveSessionContext(event: H3EventLike): Promise<{
    authenticated?: boolean;
    user?: { id: string } | null;
    workspace?: { id: string } | null;
    role?: string | null;
} | null>;

/* ---------- Client sync (app/core/sync) ---------- */

export interface SyncSubscribeOptions {
    cursor?: number;
    limit?: number;
}
export interface SyncProvider {
    id: string;
    mode: 'direct' | 'gateway';
    capabilities?: SyncGatewayAdapter['capabilities'];
    subscribe(
        scope: SyncScope,
        tables: string[],
        onChanges: (changes: SyncChange[]) => void | Promise<void>,
        options?: SyncSubscribeOptions,
    ): Promise<() => void>;
    pull(req: PullRequest): Promise<PullResponse>;
    snapshot?(req: SnapshotRequest): Promise<SnapshotResponse>;
    push(batch: PushBatch): Promise<PushResult>;
    updateCursor(scope: SyncScope, deviceId: string, version: number): Promise<void>;
    gcTombstones?(scope: SyncScope, retentionSeconds: number): Promise<void>;
    gcChangeLog?(scope: SyncScope, retentionSeconds: number): Promise<void>;
    dispose(): Promise<void>;
}
export declare function registerSyncProvider(provider: SyncProvider): void;
export declare function setActiveSyncProvider(id: string): void;
