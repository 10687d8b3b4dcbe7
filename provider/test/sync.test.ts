import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSyncGatewayAdapter, MaintenanceCache } from '../src/sync-adapter';
import { eventFor } from '../src/session';
import { createAuthWorkspaceStore } from '../src/stores';
import { deleteOp, newClient, newUser, putOp, statusOf, thread, type TestUser } from './helpers';

const client = newClient();
const sync = createSyncGatewayAdapter(client);
let a: TestUser;

beforeAll(async () => {
    a = await newUser(client);
});

describe('SyncGatewayAdapter through syncd', () => {
    it('declares snapshot-v1 for bootstrap and history retention', () => {
        expect(sync.capabilities).toEqual({ snapshotBootstrap: 'snapshot-v1', historyRetention: 'snapshot-v1' });
    });

    it('push then pull returns the change, replays are idempotent', async () => {
        const scope = { workspaceId: a.workspaceId };
        const op = putOp('threads', randomUUID(), thread('first'));
        const r = await sync.push(a.event, { scope, ops: [op] });
        expect(r.results).toHaveLength(1);
        expect(r.results[0]).toMatchObject({ opId: op.stamp.opId, success: true });
        expect(r.serverVersion).toBeGreaterThan(0);

        const again = await sync.push(a.event, { scope, ops: [op] });
        expect(again.results[0]).toMatchObject({ opId: op.stamp.opId, success: true, replayed: true });
        expect(again.serverVersion).toBe(r.serverVersion);

        const p = await sync.pull(a.event, { scope, cursor: 0, limit: 100 });
        expect(p.changes.map((c) => c.pk)).toContain(op.pk);
        expect(p.nextCursor).toBe(r.serverVersion);
        expect(p.hasMore).toBe(false);
        expect(p.requiresSnapshot).toBe(false);
    });

    it('an older revision loses and the result carries the winner', async () => {
        const scope = { workspaceId: a.workspaceId };
        const pk = randomUUID();
        await sync.push(a.event, { scope, ops: [putOp('threads', pk, thread('new'), 5)] });
        const r = await sync.push(a.event, { scope, ops: [putOp('threads', pk, thread('old'), 1)] });
        expect(r.results[0].applied).toBe(false);
        expect((r.results[0].winner as { kind: string }).kind).toBe('put');
    });

    it('pages pull and honours tables filters', async () => {
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };
        const ops = Array.from({ length: 5 }, (_, i) => putOp('threads', randomUUID(), thread(`t${i}`)));
        ops.push(putOp('projects', randomUUID(), { name: 'p', created_at: 1, updated_at: 1, deleted: false, clock: 1 }));
        await sync.push(u.event, { scope, ops });
        const p1 = await sync.pull(u.event, { scope, cursor: 0, limit: 2 });
        expect(p1.changes).toHaveLength(2);
        expect(p1.hasMore).toBe(true);
        const p2 = await sync.pull(u.event, { scope, cursor: p1.nextCursor, limit: 100, tables: ['projects'] });
        expect(p2.changes.every((c) => c.tableName === 'projects')).toBe(true);
        expect(p2.changes).toHaveLength(1);
    });

    it('snapshot pages share one snapshotId and watermark', async () => {
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };
        const ops = Array.from({ length: 7 }, (_, i) => putOp('threads', randomUUID(), thread(`s${i}`)));
        const pushed = await sync.push(u.event, { scope, ops });
        const pages = [];
        let token: string | null | undefined;
        do {
            const s = await sync.snapshot!(u.event, { scope, pageSize: 3, pageToken: token });
            pages.push(s);
            token = s.nextPageToken;
        } while (token);
        expect(pages.length).toBeGreaterThanOrEqual(3);
        expect(new Set(pages.map((p) => p.snapshotId)).size).toBe(1);
        expect(pages.every((p) => p.highWatermark === pushed.serverVersion)).toBe(true);
        expect(pages.flatMap((p) => p.items)).toHaveLength(7);
    });

    it('updates the device cursor (forward only) and checks membership', async () => {
        const scope = { workspaceId: a.workspaceId };
        await sync.updateCursor(a.event, { scope, deviceId: 'dev-cursor', version: 1 });
        const stranger = await newUser(client);
        expect(await statusOf(sync.updateCursor(stranger.event, { scope, deviceId: 'dev-x', version: 1 }))).toBe(403);
        expect(await statusOf(sync.pull(eventFor(''), { scope, cursor: 0, limit: 10 }))).toBe(401);
    });

    it('garbage-collects tombstones and the change log (owner)', async () => {
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };
        const pk = randomUUID();
        await sync.push(u.event, { scope, ops: [putOp('threads', pk, thread()), deleteOp('threads', pk)] });
        // Nothing is an hour old yet (moving syncd's clock would disturb the other files).
        const t = (await sync.gcTombstones!(u.event, { scope, retentionSeconds: 3600 })) as { purged: number; hasMore: boolean };
        expect(t).toMatchObject({ purged: 0, hasMore: false });
        const c = (await sync.gcChangeLog!(u.event, { scope, retentionSeconds: 3600 })) as { purged: number; hasMore: boolean };
        expect(c).toMatchObject({ purged: 0, hasMore: false });
        expect(await statusOf(sync.gcChangeLog!(u.event, { scope, retentionSeconds: 0 }))).toBe(400);
        const stranger = await newUser(client);
        expect(await statusOf(sync.gcTombstones!(stranger.event, { scope, retentionSeconds: 3600 }))).toBe(403);
        // The host's maintenance runner has no session: it runs as the host (admin action).
        expect(await sync.gcChangeLog!({ context: {} }, { scope, retentionSeconds: 3600 })).toEqual({ purged: 0, hasMore: false });
    });

    it('canonical storage: metadata, references and reservations', async () => {
        const u = await newUser(client);
        const scope = { workspaceId: u.workspaceId };
        const hash = `sha256:${'ab'.repeat(32)}`;
        await sync.push(u.event, {
            scope,
            ops: [
                putOp('file_meta', hash, { hash, name: 'a.png', mime_type: 'image/png', kind: 'image', size_bytes: 1234, storage_id: 'st1', ref_count: 1, created_at: 1, updated_at: 1, deleted: false, clock: 1 }),
                putOp('messages', randomUUID(), { thread_id: 't', role: 'user', data: null, index: 0, order_key: 'a', file_hashes: JSON.stringify([hash]), created_at: 1, updated_at: 1, deleted: false, clock: 1 }),
            ],
        });
        const meta = await sync.queryCanonicalStorage!(u.event, { scope, kind: 'live_metadata', limit: 10 });
        expect(meta.items).toEqual([expect.objectContaining({ kind: 'metadata', sizeBytes: 1234 })]);
        const refs = await sync.queryCanonicalStorage!(u.event, { scope, kind: 'reference_edges', limit: 10 });
        expect(refs.items).toEqual([expect.objectContaining({ kind: 'reference', sourceTable: 'messages' })]);

        const intentId = randomUUID();
        const now = Math.floor(Date.now() / 1000);
        await sync.reserveUploadIntent!(u.event, { intentId, workspaceId: u.workspaceId, hash: `sha256:${'cd'.repeat(32)}`, mimeType: 'image/png', sizeBytes: 10, expiresAt: now + 600 });
        const res = await sync.queryCanonicalStorage!(u.event, { scope, kind: 'active_reservations', limit: 10 });
        expect(res.items).toEqual([expect.objectContaining({ kind: 'reservation', reservationId: intentId, sizeBytes: 10 })]);
        await sync.cancelUploadIntent!(u.event, { workspaceId: u.workspaceId, intentId });
        const after = await sync.queryCanonicalStorage!(u.event, { scope, kind: 'active_reservations', limit: 10 });
        expect(after.items).toEqual([]);
        // cancel twice: no longer active → 409
        expect(await statusOf(sync.cancelUploadIntent!(u.event, { workspaceId: u.workspaceId, intentId }))).toBe(409);
    });

    it('upload intents: quota (413), consume, unknown (404)', async () => {
        const u = await newUser(client);
        const now = Math.floor(Date.now() / 1000);
        const hash = `sha256:${'ef'.repeat(32)}`;
        expect(
            await statusOf(sync.reserveUploadIntent!(u.event, { intentId: randomUUID(), workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 100, expiresAt: now + 60, workspaceQuotaBytes: 50 })),
        ).toBe(413);
        const intentId = randomUUID();
        await sync.reserveUploadIntent!(u.event, { intentId, workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 100, expiresAt: now + 60 });
        const c = (await sync.consumeUploadIntent!(u.event, { intentId, workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 100, storageId: 'st-1' })) as { status: string };
        expect(c.status).toBe('consumed');
        expect(await statusOf(sync.consumeUploadIntent!(u.event, { intentId: randomUUID(), workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 100, storageId: 's' }))).toBe(404);
    });

    it('maintenance hooks are synchronous over a cache refreshed from syncd', async () => {
        const m = new MaintenanceCache(client);
        const s = createSyncGatewayAdapter(client, { maintenance: m });
        expect(s.getMaintenanceState!()).toMatchObject({ state: 'idle' });
        await m.refresh();
        expect(m.lastRefreshError).toBeUndefined();
        expect(s.listWorkspaceIds!()).toContain(a.workspaceId);
        s.beginMaintenanceRun!();
        expect(s.getMaintenanceState!().state).toBe('running');
        s.failMaintenanceRun!(new Error('boom'));
        expect(s.getMaintenanceState!()).toMatchObject({ state: 'failed', lastError: 'boom' });
        s.completeMaintenanceRun!({ lastRun: 1234 });
        expect(s.getMaintenanceState!()).toMatchObject({ state: 'idle', lastRun: 1234 });
        expect(typeof s.getMaintenanceState!().enabled).toBe('boolean');
    });

    it('notifications belong to the session user', async () => {
        const auth = createAuthWorkspaceStore(client);
        const owner = await newUser(client);
        expect(await auth.getWorkspaceRole({ userId: owner.userId, workspaceId: owner.workspaceId })).toBe('owner');
        const scope = { workspaceId: owner.workspaceId };
        const pk = randomUUID();
        const foreign = await sync.push(owner.event, { scope, ops: [putOp('notifications', randomUUID(), { user_id: 'someone-else', type: 'x', title: 't', read: false, created_at: 1, updated_at: 1, deleted: false, clock: 1 })] });
        expect(foreign.results[0]).toMatchObject({ success: false, errorCode: 'UNAUTHORIZED' });
        const pushed = await sync.push(owner.event, { scope, ops: [putOp('notifications', pk, { user_id: owner.userId, type: 'x', title: 't', read: false, created_at: 1, updated_at: 1, deleted: false, clock: 1 })] });
        expect(pushed.results[0]).toMatchObject({ success: true });
        const p = await sync.pull(owner.event, { scope, cursor: 0, limit: 100, tables: ['notifications'] });
        expect(p.changes.map((c) => c.pk)).toEqual([pk]);
    });
});
