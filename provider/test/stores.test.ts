import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSyncGatewayAdapter } from '../src/sync-adapter';
import {
    createAuthWorkspaceStore,
    createBackgroundJobProvider,
    createNotificationEmitter,
    createRateLimitProvider,
    createWebhookStore,
} from '../src/stores';
import { newClient, newUser, statusOf, type TestUser } from './helpers';

const client = newClient();
const auth = createAuthWorkspaceStore(client);
let owner: TestUser;
beforeAll(async () => {
    owner = await newUser(client);
});

describe('AuthWorkspaceStore through syncd', () => {
    it('users, default workspace, roles, workspace CRUD', async () => {
        const sub = randomUUID();
        const a = await auth.getOrCreateUser({ provider: 'test', providerUserId: sub, email: 'x@example.com', displayName: 'X' });
        const b = await auth.getOrCreateUser({ provider: 'test', providerUserId: sub });
        expect(b.userId).toBe(a.userId);
        expect(await auth.getUser({ provider: 'test', providerUserId: sub })).toMatchObject({ userId: a.userId });
        expect(await auth.getUser({ provider: 'test', providerUserId: randomUUID() })).toBeNull();
        const d1 = await auth.getOrCreateDefaultWorkspace(a.userId);
        const d2 = await auth.getOrCreateDefaultWorkspace(a.userId);
        expect(d2.workspaceId).toBe(d1.workspaceId);
        expect(await auth.getWorkspaceRole({ userId: a.userId, workspaceId: d1.workspaceId })).toBe('owner');
        expect(await auth.getWorkspaceRole({ userId: owner.userId, workspaceId: d1.workspaceId })).toBeNull();

        const { workspaceId } = await auth.createWorkspace({ userId: a.userId, name: 'Second', description: 'd' });
        await auth.updateWorkspace({ userId: a.userId, workspaceId, name: 'Renamed' });
        await auth.setActiveWorkspace({ userId: a.userId, workspaceId });
        const list = await auth.listUserWorkspaces(a.userId);
        expect(list).toEqual(expect.arrayContaining([expect.objectContaining({ id: workspaceId, name: 'Renamed', role: 'owner', isActive: true })]));
        await auth.removeWorkspace({ userId: a.userId, workspaceId });
        expect((await auth.listUserWorkspaces(a.userId)).map((w: { id: string }) => w.id)).not.toContain(workspaceId);
        expect(await statusOf(auth.updateWorkspace({ userId: owner.userId, workspaceId: d1.workspaceId, name: 'nope' }))).toBe(403);
        expect(await statusOf(auth.getOrCreateUser({ provider: 'test' }))).toBe(400);
    });

    it('invites: create, list, validate, accept (provisions the user), revoke', async () => {
        const email = `${randomUUID()}@example.com`;
        const tokenHash = createHash('sha256').update(randomUUID()).digest('hex');
        const inv = await auth.createInvite({ workspaceId: owner.workspaceId, email, role: 'editor', invitedByUserId: owner.userId, expiresAt: Date.now() + 3600_000, tokenHash });
        expect(inv.inviteId).toBeTruthy();
        const pending = await auth.listInvites({ workspaceId: owner.workspaceId, status: 'pending' });
        expect(pending.map((i: { id: string }) => i.id)).toContain(inv.inviteId);
        expect(await auth.validateInvite({ workspaceId: owner.workspaceId, email, tokenHash })).toBeTruthy();
        const accepted = await auth.acceptInviteAndProvisionUser({ provider: 'test', providerUserId: randomUUID(), email, workspaceId: owner.workspaceId, tokenHash });
        expect(accepted).toMatchObject({ ok: true, createdUser: true });
        const uid = accepted.userId;
        expect(await auth.getWorkspaceRole({ userId: uid, workspaceId: owner.workspaceId })).toBe('editor');

        const inv2 = await auth.createInvite({ workspaceId: owner.workspaceId, email: `${randomUUID()}@example.com`, role: 'viewer', invitedByUserId: owner.userId, expiresAt: Date.now() + 3600_000 });
        await auth.revokeInvite({ workspaceId: owner.workspaceId, inviteId: inv2.inviteId, revokedByUserId: owner.userId });
        const revoked = await auth.listInvites({ workspaceId: owner.workspaceId, status: 'revoked' });
        expect(revoked.map((i: { id: string }) => i.id)).toContain(inv2.inviteId);
        expect(await statusOf(auth.revokeInvite({ workspaceId: owner.workspaceId, inviteId: randomUUID(), revokedByUserId: owner.userId }))).toBe(404);
    });
});

describe('BackgroundJobProvider through syncd', () => {
    const jobs = createBackgroundJobProvider(client);
    it('create, lease (claim, renew, fenced writes), complete', async () => {
        expect(jobs.name).toBe('syncd');
        expect((jobs.getAbortController as () => unknown)()).toBeUndefined();
        const jobId = await jobs.createJob({ userId: owner.userId, threadId: 't1', messageId: randomUUID(), model: 'm', execution: { kind: 'chat', contentBase: '' } });
        expect(typeof jobId).toBe('string');
        expect(await jobs.getJob(jobId, owner.userId)).toMatchObject({ id: jobId, status: 'streaming' });
        const now = Date.now();
        const claimed = await jobs.claimJob(jobId, 'worker-a', now, now + 30_000);
        expect(claimed).toMatchObject({ id: jobId });
        expect(await jobs.claimJob(jobId, 'worker-b', new Date(now + 1), new Date(now + 30_000))).toBeNull();
        expect(await jobs.renewJobLease(jobId, 'worker-a', now + 10, now + 60_000)).toBe(true);
        expect(await statusOf(jobs.renewJobLease(jobId, 'worker-b', now + 10, now + 60_000)).then((s) => s === 409 || s === 200)).toBe(true);
        expect(await jobs.updateJob(jobId, { contentChunk: 'hello ', chunksReceived: 1, leaseOwner: 'worker-a' })).toBe(true);
        expect(await jobs.checkJobAborted(jobId)).toBe(false);
        expect(await jobs.completeJob(jobId, 'hello world', 'worker-a')).toBe(true);
        const done = await jobs.getJob(jobId, owner.userId);
        expect(done).toMatchObject({ status: 'complete' });
        expect(await jobs.getJob(jobId, 'someone-else')).toBeNull();
        expect(typeof (await jobs.getActiveJobCount())).toBe('number');
        expect(typeof (await jobs.cleanupExpired())).toBe('number');
    });

    it('abort and fail', async () => {
        const a = await jobs.createJob({ userId: owner.userId, threadId: 't2', messageId: randomUUID(), model: 'm' });
        expect(await jobs.abortJob(a, owner.userId)).toBe(true);
        expect(await jobs.checkJobAborted(a)).toBe(true);
        const b = await jobs.createJob({ userId: owner.userId, threadId: 't3', messageId: randomUUID(), model: 'm' });
        expect(await jobs.failJob(b, 'model error')).toBe(true);
        expect(await jobs.getJob(b, owner.userId)).toMatchObject({ status: 'error' });
        expect(await statusOf(jobs.getJob())).toBe(400);
    });
});

describe('RateLimitProvider through syncd', () => {
    it('checkAndRecord is atomic per key and getStats reports it', async () => {
        const rl = createRateLimitProvider(client);
        const key = `test:${randomUUID()}`;
        const cfg = { windowMs: 60_000, maxRequests: 2 };
        const results = await Promise.all([1, 2, 3, 4].map(() => rl.checkAndRecord(key, cfg)));
        expect(results.filter((r) => r.allowed)).toHaveLength(2);
        const denied = results.find((r) => !r.allowed)!;
        expect(denied.remaining).toBe(0);
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        expect(await rl.getStats(key, cfg)).toMatchObject({ limit: 2, remaining: 0 });
        expect(await rl.getStats(`test:${randomUUID()}`, cfg)).toMatchObject({ limit: 2, remaining: 2 });
    });
});

describe('WebhookStore through syncd', () => {
    it('CRUD, listing by event, delivery claim lease, delete', async () => {
        const hooks = createWebhookStore(client);
        const created = await hooks.createWebhook({ scope: 'user', user_id: owner.userId, workspace_id: owner.workspaceId, url: 'https://hooks.example.com/in', label: 'L', events: ['thread.created'] });
        expect(created.id).toBeTruthy();
        expect(created.signing_secret).toMatch(/^whs_[0-9a-f]{64}$/);
        expect((await hooks.listWebhooks(owner.userId, owner.workspaceId)).map((w: { id: string }) => w.id)).toContain(created.id);
        const upd = await hooks.updateWebhook(created.id, { label: 'L2' });
        expect(upd).toMatchObject({ label: 'L2' });
        expect((await hooks.getWebhook(created.id)).signing_secret).toBeUndefined();
        const byEvent = await hooks.listWebhooksByEvent('thread.created', 'user', owner.workspaceId);
        expect(byEvent.map((w: { id: string }) => w.id)).toContain(created.id);
        expect(Array.isArray(await hooks.claimPendingDeliveries('worker-1', 10))).toBe(true);
        expect(Array.isArray(await hooks.getDeliveryLogs(created.id, 0))).toBe(true);
        await hooks.deleteWebhook(created.id);
        expect(await hooks.getWebhook(created.id)).toBeNull();
        expect(await statusOf(hooks.createWebhook({ scope: 'user', user_id: owner.userId, url: 'not a url' }))).toBe(400);
    });
});

describe('notification emitter through syncd', () => {
    it('writes a notifications row the user pulls', async () => {
        const n = createNotificationEmitter(client);
        const jobId = randomUUID();
        const id = await n.emitBackgroundJobComplete(owner.workspaceId, owner.userId, 'thread-1', jobId, 'msg-1');
        expect(typeof id).toBe('string');
        await n.emitBackgroundJobError(owner.workspaceId, owner.userId, 'thread-1', randomUUID(), 'boom');
        const sync = createSyncGatewayAdapter(client);
        const p = await sync.pull(owner.event, { scope: { workspaceId: owner.workspaceId }, cursor: 0, limit: 100, tables: ['notifications'] });
        expect(p.changes.map((c) => c.pk)).toContain(id);
    });
});
