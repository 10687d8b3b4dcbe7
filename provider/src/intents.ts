/**
 * When both the sync and the storage adapter are syncd's, an upload intent
 * reserved through the sync adapter is handed to presign-upload
 * (`intentId`), which adopts it instead of reserving the quota twice
 * (api.md Overrides). The ledger remembers reserved intents per (user,
 * workspace, hash) until they expire, and intents consumed by a storage
 * commit so that a later consumeUploadIntent of the same intent is not a
 * second consume.
 */
const MAX = 10_000;

export interface ReservedIntent {
    intentId: string;
    sizeBytes: number;
    mimeType: string;
    expiresAtMs: number;
}

export function normHash(h: string): string {
    return h.toLowerCase().replace(/^sha256:/, '');
}

export class IntentLedger {
    private reserved = new Map<string, ReservedIntent>();
    private committed = new Map<string, { storageId: string; result: unknown }>();

    private key(user: string | undefined, ws: string, hash: string) {
        return `${user ?? ''}\u0000${ws}\u0000${normHash(hash)}`;
    }

    reserve(user: string | undefined, ws: string, hash: string, it: ReservedIntent) {
        if (this.reserved.size >= MAX) this.reserved.delete(this.reserved.keys().next().value as string);
        this.reserved.set(this.key(user, ws, hash), it);
    }

    /** The reserved intent matching this upload, removed from the ledger. */
    take(user: string | undefined, ws: string, hash: string, sizeBytes: number, mimeType: string, nowMs = Date.now()): string | undefined {
        const k = this.key(user, ws, hash);
        const it = this.reserved.get(k);
        if (!it) return undefined;
        this.reserved.delete(k);
        if (it.expiresAtMs <= nowMs || it.sizeBytes !== sizeBytes || it.mimeType !== mimeType) return undefined;
        return it.intentId;
    }

    forget(intentId: string) {
        for (const [k, v] of this.reserved) if (v.intentId === intentId) this.reserved.delete(k);
    }

    markCommitted(intentId: string, storageId: string, result: unknown) {
        if (this.committed.size >= MAX) this.committed.delete(this.committed.keys().next().value as string);
        this.committed.set(intentId, { storageId, result });
    }

    committedAs(intentId: string, storageId: string): unknown | undefined {
        const c = this.committed.get(intentId);
        return c && c.storageId === storageId ? c.result : undefined;
    }
}
