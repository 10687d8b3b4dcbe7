import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { IntentLedger } from '../src/intents';
import { createStorageGatewayAdapter } from '../src/storage-adapter';
import { createSyncGatewayAdapter } from '../src/sync-adapter';
import { newClient, newUser, statusOf, type TestUser } from './helpers';

const client = newClient();
let u: TestUser;
beforeAll(async () => {
    u = await newUser(client);
});

const blob = (n = 2048) => {
    const bytes = randomBytes(n);
    return { bytes, hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
};

async function upload(url: string, r: { method?: string; headers?: Record<string, string> }, bytes: Buffer) {
    const res = await fetch(url, { method: r.method ?? 'PUT', headers: r.headers ?? { 'content-type': 'image/png' }, body: new Uint8Array(bytes) });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
}

describe('StorageGatewayAdapter through syncd (fs backend)', () => {
    it('presign upload → PUT → commit → presign download → GET → delete → gc', async () => {
        const storage = createStorageGatewayAdapter(client);
        const { bytes, hash } = blob();
        const up = await storage.presignUpload(u.event, { workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: bytes.length });
        expect(up.url.startsWith(client.url + '/v1/blobs/')).toBe(true);
        expect(up.storageId).toBeTruthy();
        expect(up.intentId).toBeTruthy();
        expect(up.expiresAt).toBeGreaterThan(Date.now());
        await upload(up.url, up, bytes);

        const committed = await storage.commit!(u.event, {
            workspace_id: u.workspaceId, intent_id: up.intentId, hash, storage_id: up.storageId, storage_provider_id: 'syncd',
            mime_type: 'image/png', size_bytes: bytes.length, name: 'a.png', kind: 'image', width: 1, height: 1,
        });
        expect(committed).toMatchObject({ ok: true, storageId: up.storageId });

        const down = await storage.presignDownload(u.event, { workspaceId: u.workspaceId, hash, storageId: up.storageId });
        const got = await fetch(down.url, { headers: down.headers });
        expect(got.status).toBe(200);
        expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);

        // A second commit of the consumed intent is a conflict.
        expect(
            await statusOf(storage.commit!(u.event, { workspace_id: u.workspaceId, intent_id: up.intentId, hash, storage_id: up.storageId, storage_provider_id: 'syncd', mime_type: 'image/png', size_bytes: bytes.length, name: 'a.png', kind: 'image' })),
        ).toBe(409);

        const del = await storage.deleteObject!(u.event, { workspaceId: u.workspaceId, hash, storageId: up.storageId! });
        expect(del).toHaveProperty('deleted');
        const gc = (await storage.gc!(u.event, { workspace_id: u.workspaceId, retention_seconds: 3600 })) as { deleted_count: number };
        expect(typeof gc.deleted_count).toBe('number');
    });

    it('maps bad input: MIME outside the allowlist 415, foreign workspace 403, unknown intent 404', async () => {
        const storage = createStorageGatewayAdapter(client);
        const { bytes, hash } = blob(10);
        expect(await statusOf(storage.presignUpload(u.event, { workspaceId: u.workspaceId, hash, mimeType: 'application/x-evil', sizeBytes: 10 }))).toBe(415);
        const other = await newUser(client);
        expect(await statusOf(storage.presignUpload(other.event, { workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 10 }))).toBe(403);
        expect(
            await statusOf(storage.commit!(u.event, { workspace_id: u.workspaceId, intent_id: randomUUID(), hash, storage_id: 'x', storage_provider_id: 'syncd', mime_type: 'image/png', size_bytes: bytes.length, name: 'a', kind: 'image' })),
        ).toBe(404);
    });

    it('with both adapters syncd, presign adopts the intent the sync adapter reserved (no double reservation)', async () => {
        const ledger = new IntentLedger();
        const sync = createSyncGatewayAdapter(client, { ledger });
        const storage = createStorageGatewayAdapter(client, { ledger });
        const w = await newUser(client);
        const { bytes, hash } = blob(4096);
        const intentId = randomUUID();
        const now = Math.floor(Date.now() / 1000);
        // Quota exactly one file: a second reservation would be refused (413).
        await sync.reserveUploadIntent!(w.event, { intentId, workspaceId: w.workspaceId, hash, mimeType: 'image/png', sizeBytes: bytes.length, expiresAt: now + 600, workspaceQuotaBytes: bytes.length });
        const up = await storage.presignUpload(w.event, { workspaceId: w.workspaceId, hash, mimeType: 'image/png', sizeBytes: bytes.length, workspaceQuotaBytes: bytes.length });
        expect(up.intentId).toBe(intentId);
        const res = await sync.queryCanonicalStorage!(w.event, { scope: { workspaceId: w.workspaceId }, kind: 'active_reservations', limit: 10 });
        expect(res.items).toHaveLength(1);
        await upload(up.url, up, bytes);
        await storage.commit!(w.event, { workspace_id: w.workspaceId, intent_id: intentId, hash, storage_id: up.storageId, storage_provider_id: 'syncd', mime_type: 'image/png', size_bytes: bytes.length, name: 'b.png', kind: 'image' });
        // The host's consume after the storage commit is not a second consume.
        await expect(sync.consumeUploadIntent!(w.event, { intentId, workspaceId: w.workspaceId, hash, mimeType: 'image/png', sizeBytes: bytes.length, storageId: up.storageId! })).resolves.toBeTruthy();

        // Without the shared ledger the same flow leaves two intents (syncd counts a hash's bytes once).
        const sync2 = createSyncGatewayAdapter(client);
        const storage2 = createStorageGatewayAdapter(client);
        const v = await newUser(client);
        const b2 = blob(4096);
        const reserved2 = randomUUID();
        await sync2.reserveUploadIntent!(v.event, { intentId: reserved2, workspaceId: v.workspaceId, hash: b2.hash, mimeType: 'image/png', sizeBytes: 4096, expiresAt: now + 600, workspaceQuotaBytes: 4096 });
        const up2 = await storage2.presignUpload(v.event, { workspaceId: v.workspaceId, hash: b2.hash, mimeType: 'image/png', sizeBytes: 4096, workspaceQuotaBytes: 4096 });
        expect(up2.intentId).toBeTruthy();
        expect(up2.intentId).not.toBe(reserved2);
    });

    it('an adopted intent that is gone (cancelled elsewhere) falls back to a fresh reservation', async () => {
        const ledger = new IntentLedger();
        const sync = createSyncGatewayAdapter(client, { ledger });
        const storage = createStorageGatewayAdapter(client, { ledger });
        const w = await newUser(client);
        const { hash } = blob(64);
        const intentId = randomUUID();
        await sync.reserveUploadIntent!(w.event, { intentId, workspaceId: w.workspaceId, hash, mimeType: 'image/png', sizeBytes: 64, expiresAt: Math.floor(Date.now() / 1000) + 600 });
        await createSyncGatewayAdapter(client).cancelUploadIntent!(w.event, { workspaceId: w.workspaceId, intentId });
        const up = await storage.presignUpload(w.event, { workspaceId: w.workspaceId, hash, mimeType: 'image/png', sizeBytes: 64 });
        expect(up.intentId).toBeTruthy();
        expect(up.intentId).not.toBe(intentId);
    });

    it('makes blob URLs absolute against the public URL', async () => {
        const storage = createStorageGatewayAdapter(client, { publicUrl: 'https://files.example.com/' });
        const { hash } = blob(10);
        const up = await storage.presignUpload(u.event, { workspaceId: u.workspaceId, hash, mimeType: 'image/png', sizeBytes: 10 });
        expect(up.url.startsWith('https://files.example.com/v1/blobs/')).toBe(true);
    });
});
