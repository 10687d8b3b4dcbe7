/**
 * Admin: the ProviderAdminAdapter (status and maintenance actions) for the
 * sync and storage kinds, the admin stores, and the deployment-admin
 * checker.
 *
 * Status comes from GET /v1/admin/status when syncd has it (issue 10),
 * else from what syncd already serves (version, maintenance, workspaces).
 * Actions run through POST /v1/admin/actions/{id} when present, else
 * through the sync/storage GC endpoints with the acting session user.
 */
import type { SyncdClient } from './client';
import { SyncdHostError } from './errors';
import type { AdminStoreCapabilities, DeploymentAdminChecker, H3EventLike, ProviderAdminAdapter } from './host-types';
import { sessionOf } from './session';
import { ADMIN_USER_METHODS, WORKSPACE_ACCESS_METHODS, WORKSPACE_SETTINGS_METHODS, rpcStore } from './stores';
import { SYNCD_PROVIDER_ID } from './sync-adapter';

const SYNC_ACTIONS = [
    { id: 'sync.gc-change-log', label: 'Collect change log', description: 'Purge change-log entries past retention (payload: {workspaceId, retentionSeconds})' },
    { id: 'sync.gc-tombstones', label: 'Collect tombstones', description: 'Purge tombstones past retention (payload: {workspaceId, retentionSeconds})' },
];
const STORAGE_ACTIONS = [{ id: 'storage.gc', label: 'Collect blobs', description: 'Delete unreferenced blobs (payload: {workspaceId, retentionSeconds})', danger: true }];

export function createProviderAdminAdapter(client: SyncdClient, kind: 'sync' | 'storage'): ProviderAdminAdapter {
    const actions = kind === 'sync' ? SYNC_ACTIONS : STORAGE_ACTIONS;
    return {
        id: SYNCD_PROVIDER_ID,
        kind,
        async getStatus(_event, ctx) {
            const warnings: Array<{ level: 'info' | 'warning' | 'error'; message: string }> = [];
            let details: Record<string, unknown> = { url: client.url, enabled: ctx.enabled };
            try {
                details = { ...details, ...(await client.request('/v1/admin/status', { method: 'GET' })) };
            } catch (e) {
                if (!(e instanceof SyncdHostError) || e.statusCode !== 404) {
                    warnings.push({ level: 'error', message: (e as Error).message });
                    return { details, warnings, actions };
                }
                // Older syncd without /v1/admin/status: assemble it.
                try {
                    const [version, maintenance, ws] = await Promise.all([
                        client.request('/v1/version', { method: 'GET' }),
                        client.request('/v1/sync/maintenance', { method: 'GET' }),
                        client.request<{ workspaceIds?: string[] }>('/v1/sync/workspaces', { method: 'GET' }),
                    ]);
                    details = { ...details, version, maintenance, workspaces: ws.workspaceIds?.length ?? 0 };
                } catch (e2) {
                    warnings.push({ level: 'error', message: (e2 as Error).message });
                }
            }
            const m = details.maintenance as { state?: string; lastError?: string } | undefined;
            if (m?.state === 'failed') warnings.push({ level: 'warning', message: `maintenance failed: ${m.lastError ?? 'unknown error'}` });
            return { details, warnings, actions };
        },
        async runAction(event: H3EventLike, actionId: string, payload: unknown) {
            if (!actions.some((a) => a.id === actionId)) throw new SyncdHostError(400, 'VALIDATION_ERROR', `unknown action ${actionId}`);
            const p = (payload ?? {}) as { workspaceId?: string; retentionSeconds?: number; limit?: number };
            const user = sessionOf(event).userId;
            try {
                return await client.request(`/v1/admin/actions/${encodeURIComponent(actionId)}`, { body: p, user });
            } catch (e) {
                // 404: a syncd without /v1/admin/actions (or an unknown target, which the fallback reports again).
                if (!(e instanceof SyncdHostError && e.statusCode === 404)) throw e;
            }
            // Fallback without /v1/admin/actions: the GC endpoints, as the session user.
            const ws = p.workspaceId ?? sessionOf(event).workspaceId;
            if (!ws) throw new SyncdHostError(400, 'VALIDATION_ERROR', 'payload.workspaceId is required');
            const retentionSeconds = p.retentionSeconds ?? 30 * 24 * 3600;
            if (actionId === 'storage.gc') {
                return client.request('/v1/storage/gc', { body: { workspace_id: ws, retention_seconds: retentionSeconds, limit: p.limit }, user });
            }
            return client.request(`/v1/${actionId.replace('.', '/')}`, { body: { scope: { workspaceId: ws }, retentionSeconds }, user });
        },
    };
}

/** Admin store capabilities: static (host-integration §3.2). */
export const ADMIN_CAPABILITIES: AdminStoreCapabilities = {
    supportsServerSideAdmin: true,
    supportsUserSearch: true,
    supportsWorkspaceList: true,
    supportsWorkspaceManagement: true,
    supportsDeploymentAdminGrants: true,
};

export function createAdminStores(client: SyncdClient) {
    return {
        workspaceAccess: rpcStore(client, 'workspaceAccess', WORKSPACE_ACCESS_METHODS),
        workspaceSettings: rpcStore(client, 'workspaceSettings', WORKSPACE_SETTINGS_METHODS),
        adminUsers: rpcStore(client, 'adminUsers', ADMIN_USER_METHODS),
    };
}

/** Deployment admin: the identity's user, then adminUsers.isAdmin. Fails closed. */
export function createDeploymentAdminChecker(client: SyncdClient): DeploymentAdminChecker {
    return {
        async checkDeploymentAdmin(providerUserId, provider) {
            try {
                const u = await client.rpc<{ userId?: string } | null>('auth', 'getUser', [{ provider, providerUserId }]);
                if (!u?.userId) return false;
                return (await client.rpc<boolean>('adminUsers', 'isAdmin', [{ userId: u.userId }])) === true;
            } catch {
                return false;
            }
        },
    };
}
