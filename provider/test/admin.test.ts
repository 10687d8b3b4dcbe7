import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ADMIN_CAPABILITIES, createAdminStores, createDeploymentAdminChecker, createProviderAdminAdapter } from '../src/admin';
import { eventFor } from '../src/session';
import { createAuthWorkspaceStore } from '../src/stores';
import { newClient, newUser, statusOf } from './helpers';

const client = newClient();
const { workspaceAccess, workspaceSettings, adminUsers } = createAdminStores(client);

describe('admin stores through syncd', () => {
    it('capabilities are booleans, matching syncd', async () => {
        for (const v of Object.values(ADMIN_CAPABILITIES)) expect(typeof v).toBe('boolean');
        const remote = await adminUsers.getCapabilities();
        expect(Object.keys(remote).sort()).toEqual(Object.keys(ADMIN_CAPABILITIES).sort());
    });

    it('workspace access: members, roles, list, soft delete and restore', async () => {
        const owner = await newUser(client);
        const auth = createAuthWorkspaceStore(client);
        const sub = randomUUID();
        const { userId: other } = await auth.getOrCreateUser({ provider: 'test', providerUserId: sub, email: `${sub}@example.com` });
        await workspaceAccess.upsertMember({ workspaceId: owner.workspaceId, emailOrProviderId: sub, provider: 'test', role: 'viewer' });
        expect(await auth.getWorkspaceRole({ userId: other, workspaceId: owner.workspaceId })).toBe('viewer');
        await workspaceAccess.setMemberRole({ workspaceId: owner.workspaceId, userId: other, role: 'editor' });
        const members = await workspaceAccess.listMembers({ workspaceId: owner.workspaceId });
        expect(members).toEqual(expect.arrayContaining([expect.objectContaining({ userId: other, role: 'editor' })]));
        await workspaceAccess.removeMember({ workspaceId: owner.workspaceId, userId: other });
        expect(await auth.getWorkspaceRole({ userId: other, workspaceId: owner.workspaceId })).toBeNull();

        const { workspaceId } = await workspaceAccess.createWorkspace({ name: `ws-${sub}`, ownerUserId: owner.userId });
        const page = await workspaceAccess.listWorkspaces({ search: `ws-${sub}`, page: 1, perPage: 10 });
        expect(page.total).toBe(1);
        await workspaceAccess.softDeleteWorkspace({ workspaceId, deletedAt: Date.now() });
        expect((await workspaceAccess.getWorkspace({ workspaceId })).deleted).toBe(true);
        await workspaceAccess.restoreWorkspace({ workspaceId });
        expect((await workspaceAccess.getWorkspace({ workspaceId })).deleted).toBe(false);
        expect(await workspaceAccess.getWorkspace({ workspaceId: randomUUID() })).toBeNull();
    });

    it('workspace settings and admin grants; deployment admin checker', async () => {
        const u = await newUser(client);
        await workspaceSettings.set(u.workspaceId, 'theme', 'dark');
        expect(await workspaceSettings.get(u.workspaceId, 'theme')).toBe('dark');
        const sub = randomUUID();
        const auth = createAuthWorkspaceStore(client);
        const { userId } = await auth.getOrCreateUser({ provider: 'test', providerUserId: sub });
        const checker = createDeploymentAdminChecker(client);
        expect(await checker.checkDeploymentAdmin(sub, 'test')).toBe(false);
        await adminUsers.grantAdmin({ userId });
        await adminUsers.grantAdmin({ userId }); // twice is safe
        expect(await adminUsers.isAdmin({ userId })).toBe(true);
        expect(await checker.checkDeploymentAdmin(sub, 'test')).toBe(true);
        expect((await adminUsers.listAdmins()).map((a: { userId: string }) => a.userId)).toContain(userId);
        await adminUsers.revokeAdmin({ userId });
        expect(await adminUsers.isAdmin({ userId })).toBe(false);
        // unreachable syncd fails closed
        const dead = createDeploymentAdminChecker(new (client.constructor as typeof import('../src/client').SyncdClient)({ url: 'http://127.0.0.1:9', token: 't', timeoutMs: 500 }));
        expect(await dead.checkDeploymentAdmin(sub, 'test')).toBe(false);
    });
});

describe('ProviderAdminAdapter through syncd', () => {
    it('status and maintenance actions', async () => {
        const u = await newUser(client);
        const sync = createProviderAdminAdapter(client, 'sync');
        const storage = createProviderAdminAdapter(client, 'storage');
        const st = await storage.getStatus(eventFor(u.userId), { enabled: true, provider: 'syncd' });
        expect(st.warnings).toEqual([]);
        expect(st.details).toHaveProperty('storage');
        const r = await sync.runAction!(eventFor(u.userId), 'sync.gc-change-log', { workspaceId: u.workspaceId, retentionSeconds: 3600, ignored: 1 }, { provider: 'syncd', enabled: true });
        expect(r).toMatchObject({ purged: 0 });
        const g = await storage.runAction!(eventFor(u.userId), 'storage.gc', { workspaceId: u.workspaceId, retentionSeconds: 3600 }, { provider: 'syncd', enabled: true });
        expect(g).toBeTruthy();
        expect(await statusOf(sync.runAction!(eventFor(u.userId), 'storage.gc', {}, { provider: 'syncd', enabled: true }))).toBe(400);
        expect(await statusOf(sync.runAction!(eventFor(u.userId), 'sync.gc-tombstones', { retentionSeconds: -1 }, { provider: 'syncd', enabled: true }))).toBe(400);
    });
});
