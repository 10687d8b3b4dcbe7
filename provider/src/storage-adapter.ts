/**
 * StorageGatewayAdapter: syncd's built-in blob storage (api.md "Storage").
 * Presigned URLs point at syncd (`/v1/blobs/{grant}`, relative in syncd's
 * answer); they are made absolute against OR3_SYNCD_PUBLIC_URL (what
 * browsers reach), else OR3_SYNCD_URL.
 */
import type { SyncdClient } from './client';
import { SyncdHostError, badGateway } from './errors';
import type { PresignResult, StorageGatewayAdapter } from './host-types';
import { IntentLedger } from './intents';
import { sessionOf } from './session';
import { SYNCD_PROVIDER_ID } from './sync-adapter';

export interface StorageAdapterOptions {
    /** Base URL browsers use for syncd's blob URLs. */
    publicUrl?: string;
    /** Shared with the sync adapter when both are syncd's (see intents.ts). */
    ledger?: IntentLedger;
}

export function createStorageGatewayAdapter(client: SyncdClient, opts: StorageAdapterOptions = {}): StorageGatewayAdapter {
    const base = (opts.publicUrl || client.url).replace(/\/+$/, '');
    const ledger = opts.ledger;
    const absolute = (r: PresignResult, path: string): PresignResult => {
        if (typeof r.url !== 'string' || r.url === '') throw badGateway(`syncd ${path}: no url`);
        return { ...r, url: /^https?:\/\//i.test(r.url) ? r.url : base + (r.url.startsWith('/') ? '' : '/') + r.url };
    };

    return {
        id: SYNCD_PROVIDER_ID,
        async presignUpload(event, input) {
            const user = sessionOf(event).userId;
            const body: Record<string, unknown> = { ...input };
            const intentId = ledger?.take(user, input.workspaceId, input.hash, input.sizeBytes, input.mimeType);
            if (intentId) body.intentId = intentId;
            try {
                const r = await client.request<PresignResult>('/v1/storage/presign-upload', { body, user });
                return absolute(r, '/v1/storage/presign-upload');
            } catch (e) {
                // The handed-over intent is gone (cancelled, expired, consumed): reserve afresh.
                if (!intentId || !(e instanceof SyncdHostError) || (e.statusCode !== 404 && e.statusCode !== 409)) throw e;
                delete body.intentId;
                const r = await client.request<PresignResult>('/v1/storage/presign-upload', { body, user });
                return absolute(r, '/v1/storage/presign-upload');
            }
        },
        async presignDownload(event, input) {
            const r = await client.request<PresignResult>('/v1/storage/presign-download', { body: input, user: sessionOf(event).userId });
            return absolute(r, '/v1/storage/presign-download');
        },
        async commit(event, input) {
            const r = await client.request<{ ok?: boolean; storageId?: string }>('/v1/storage/commit', { body: input, user: sessionOf(event).userId });
            const b = input as { intent_id?: unknown; storage_id?: unknown };
            if (ledger && typeof b.intent_id === 'string' && typeof b.storage_id === 'string') ledger.markCommitted(b.intent_id, b.storage_id, r);
            return r;
        },
        async deleteObject(event, input) {
            return client.request('/v1/storage/delete', { body: input, user: sessionOf(event).userId });
        },
        async gc(event, input) {
            return client.request('/v1/storage/gc', { body: input, user: sessionOf(event).userId });
        },
    };
}
