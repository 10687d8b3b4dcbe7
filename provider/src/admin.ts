/**
 * Admin: the ProviderAdminAdapter (status and maintenance actions) for the
 * sync and storage kinds, the admin stores, and the deployment-admin
 * checker.
 *
 * Status is GET /v1/admin/status; actions are POST /v1/admin/actions/{id}
 * (api.md "Jobs, admin, operations"), run by the service token with the
 * host's admin named in X-Syncd-Admin for syncd's audit log.
 */
import type { SyncdClient } from './client';
import { SyncdHostError } from './errors';
import type { AdminStoreCapabilities, DeploymentAdminChecker, H3EventLike, ProviderAdminAdapter } from './host-types';
import { sessionOf } from './session';
import { ADMIN_USER_METHODS, WORKSPACE_ACCESS_METHODS, WORKSPACE_SETTINGS_METHODS, rpcStore } from './stores';
import { SYNCD_PROVIDER_ID } from './sync-adapter';

const SYNC_ACTIONS = [
    { id: 'sync.gc-change-log', label: 'Collect change log', description: 'Purge change-log entries past retention (payload: {workspaceId?, retentionSeconds?})' },
    { id: 'sync.gc-tombstones', label: 'Collect tombstones', description: 'Purge tombstones past retention (payload: {workspaceId?, retentionSeconds?})' },
    { id: 'log.compact', label: 'Compact the log', description: 'Compact syncd\'s Pebble log' },
    { id: 'state.verify', label: 'Verify state', description: 'Rebuild state from the log in memory and compare' },
];
const STORAGE_ACTIONS = [
    { id: 'storage.gc', label: 'Collect blobs', description: 'Delete unreferenced blobs past retention (payload: {workspaceId?, retentionSeconds?, limit?})', danger: true },
];

type Warning = { level: 'info' | 'warning' | 'error'; message: string };

export function createProviderAdminAdapter(client: SyncdClient, kind: 'sync' | 'storage'): ProviderAdminAdapter {
    const actions = kind === 'sync' ? SYNC_ACTIONS : STORAGE_ACTIONS;
    return {
        id: SYNCD_PROVIDER_ID,
        kind,
        async getStatus(_event, ctx) {
            const warnings: Warning[] = [];
            let details: Record<string, unknown> = { url: client.url, enabled: ctx.enabled };
            try {
                details = { ...details, ...(await client.request('/v1/admin/status', { method: 'GET' })) };
            } catch (e) {
                warnings.push({ level: 'error', message: (e as Error).message });
                return { details, warnings, actions };
            }
            const gc = details.gc as { state?: string; lastError?: string } | undefined;
            if (gc?.state === 'failed') warnings.push({ level: 'warning', message: `maintenance failed: ${gc.lastError ?? 'unknown error'}` });
            if (details.healthy === false) warnings.push({ level: 'error', message: `syncd is unhealthy: ${String(details.error ?? 'unknown')}` });
            return { details, warnings, actions };
        },
        async runAction(event: H3EventLike, actionId: string, payload: unknown) {
            if (!actions.some((a) => a.id === actionId)) throw new SyncdHostError(400, 'VALIDATION_ERROR', `unknown action ${actionId}`);
            const p = (payload ?? {}) as Record<string, unknown>;
            // syncd refuses unknown parameters: pass only the ones it knows.
            const body: Record<string, unknown> = {};
            for (const k of ['workspaceId', 'retentionSeconds', 'limit']) if (p[k] !== undefined) body[k] = p[k];
            // The host has authorized its admin; the service token acts, the audit log names who.
            const who = sessionOf(event).userId;
            const r = await client.request<{ ok?: boolean; result?: unknown }>(`/v1/admin/actions/${encodeURIComponent(actionId)}`, {
                body,
                headers: { 'x-syncd-admin': who ? `or3:${who}` : 'or3-host' },
            });
            return r.ok === true && 'result' in r ? r.result : r;
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

/** Deployment admin: adminUsers.checkDeploymentAdmin(providerUserId, provider). Fails closed. */
export function createDeploymentAdminChecker(client: SyncdClient): DeploymentAdminChecker {
    return {
        async checkDeploymentAdmin(providerUserId, provider) {
            try {
                return (await client.rpc<boolean>('adminUsers', 'checkDeploymentAdmin', [providerUserId, provider])) === true;
            } catch {
                return false;
            }
        },
    };
}
