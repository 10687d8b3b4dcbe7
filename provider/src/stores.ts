/**
 * The RPC-backed stores (api.md "RPC stores"): every method forwards its
 * arguments, as the TypeScript interface takes them, to
 * POST /v1/rpc/{store}.{method} and returns the result. Dates become epoch
 * milliseconds (api.md "Time units").
 */
import type { SyncdClient } from './client';
import type { BackgroundJobProvider, RateLimitProvider, RpcStore } from './host-types';

export const AUTH_METHODS = [
    'getOrCreateUser', 'getUser', 'getOrCreateDefaultWorkspace', 'getWorkspaceRole', 'listUserWorkspaces',
    'createWorkspace', 'updateWorkspace', 'removeWorkspace', 'setActiveWorkspace', 'createInvite', 'listInvites',
    'revokeInvite', 'validateInvite', 'acceptInviteAndProvisionUser', 'consumeInvite',
] as const;

export const JOB_METHODS = [
    'createJob', 'getJob', 'getJobInternal', 'updateJob', 'completeJob', 'failJob', 'abortJob', 'checkJobAborted',
    'cleanupExpired', 'getActiveJobCount', 'claimJob', 'claimNextJob', 'renewJobLease', 'updateJobExecution',
] as const;

export const WEBHOOK_METHODS = [
    'createWebhook', 'updateWebhook', 'deleteWebhook', 'getWebhook', 'listWebhooks', 'listAdminWebhooks',
    'listWebhooksByEvent', 'listWebhooksByCustomHook', 'listActiveCustomHookNames', 'updateWebhookHealth',
    'disableAllWebhooks', 'createDeliveryLog', 'updateDeliveryLog', 'getDeliveryLogs', 'getRecentTerminalDeliveries',
    'claimPendingDeliveries', 'resetStaleInFlightDeliveries', 'cancelDeliveriesByWebhook',
    'deleteDeliveryLogsByWebhook', 'purgeExpiredLogs', 'emitEvent', 'testWebhook',
] as const;

export const NOTIFICATION_METHODS = ['emitBackgroundJobComplete', 'emitBackgroundJobError', 'create'] as const;

export const WORKSPACE_ACCESS_METHODS = [
    'listMembers', 'upsertMember', 'setMemberRole', 'removeMember', 'listWorkspaces', 'getWorkspace',
    'createWorkspace', 'softDeleteWorkspace', 'restoreWorkspace', 'searchUsers',
] as const;
export const WORKSPACE_SETTINGS_METHODS = ['get', 'set'] as const;
export const ADMIN_USER_METHODS = ['listAdmins', 'grantAdmin', 'revokeAdmin', 'isAdmin', 'searchUsers', 'getCapabilities', 'checkDeploymentAdmin', 'listAudit'] as const;

/** Dates (top level or one object deep) as epoch ms; undefined trailing args dropped. */
export function toWireArgs(args: unknown[]): unknown[] {
    const conv = (v: unknown): unknown => {
        if (v instanceof Date) return v.getTime();
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype) {
            let out: Record<string, unknown> | null = null;
            for (const [k, x] of Object.entries(v)) {
                if (x instanceof Date) (out ??= { ...(v as Record<string, unknown>) })[k] = x.getTime();
            }
            return out ?? v;
        }
        return v;
    };
    const a = args.map(conv);
    while (a.length > 0 && a[a.length - 1] === undefined) a.pop();
    return a;
}

/** An object with one async method per name, each forwarding to `store.method`. */
export function rpcStore<M extends string>(client: SyncdClient, store: string, methods: readonly M[]): Record<M, (...args: any[]) => Promise<any>> {
    const out = {} as Record<M, (...args: any[]) => Promise<any>>;
    for (const m of methods) out[m] = (...args: unknown[]) => client.rpc(store, m, toWireArgs(args));
    return out;
}

export const createAuthWorkspaceStore = (client: SyncdClient): RpcStore => rpcStore(client, 'auth', AUTH_METHODS);

export function createBackgroundJobProvider(client: SyncdClient): BackgroundJobProvider {
    return Object.assign(rpcStore(client, 'jobs', JOB_METHODS), {
        name: 'syncd',
        // External providers have no in-process abort controller: abort is polled (checkJobAborted).
        getAbortController: () => undefined,
    }) as unknown as BackgroundJobProvider;
}

export function createRateLimitProvider(client: SyncdClient): RateLimitProvider {
    return { name: 'syncd', ...rpcStore(client, 'rateLimit', ['checkAndRecord', 'getStats'] as const) } as RateLimitProvider;
}

export const createWebhookStore = (client: SyncdClient): RpcStore => rpcStore(client, 'webhooks', WEBHOOK_METHODS);

export function createNotificationEmitter(client: SyncdClient) {
    return rpcStore(client, 'notifications', NOTIFICATION_METHODS);
}
