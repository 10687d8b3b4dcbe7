import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { SyncdClient } from '../src/client';
import type { PendingOp } from '../src/host-types';
import { eventFor } from '../src/session';
import { createAuthWorkspaceStore } from '../src/stores';

export const url = () => inject('syncdUrl');
export const token = () => inject('syncdToken');
export const newClient = (o: { timeoutMs?: number } = {}) => new SyncdClient({ url: url(), token: token(), ...o });

export interface TestUser {
    userId: string;
    workspaceId: string;
    event: ReturnType<typeof eventFor>;
}

/** A fresh user with a default workspace, and the host-style event carrying its session. */
export async function newUser(client = newClient()): Promise<TestUser> {
    const auth = createAuthWorkspaceStore(client);
    const { userId } = await auth.getOrCreateUser({ provider: 'test', providerUserId: randomUUID(), email: `${randomUUID()}@example.com` });
    const { workspaceId } = await auth.getOrCreateDefaultWorkspace(userId);
    return { userId, workspaceId, event: eventFor(userId, workspaceId) };
}

let clock = 0;
export function hlc(node = 'dev1'): string {
    clock++;
    return `${Date.now().toString(36).padStart(9, '0')}:${(clock % 46656).toString(36).padStart(3, '0')}:${node}`;
}

export function putOp(tableName: string, pk: string, payload: Record<string, unknown>, c = 1, deviceId = 'dev1'): PendingOp {
    const opId = randomUUID();
    return {
        id: opId,
        tableName,
        operation: 'put',
        pk,
        payload: { id: pk, ...payload },
        stamp: { deviceId, opId, hlc: hlc(deviceId), clock: c },
        createdAt: Date.now(),
        attempts: 0,
        status: 'pending',
    };
}

export function deleteOp(tableName: string, pk: string, c = 2, deviceId = 'dev1'): PendingOp {
    const opId = randomUUID();
    return { id: opId, tableName, operation: 'delete', pk, stamp: { deviceId, opId, hlc: hlc(deviceId), clock: c }, createdAt: Date.now() };
}

export const thread = (title = 'hello') => ({ title, created_at: Math.floor(Date.now() / 1000), updated_at: Math.floor(Date.now() / 1000), deleted: false, clock: 1 });

/** Expect a promise to reject with a SyncdHostError of this status. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
    try {
        await p;
        return 200;
    } catch (e) {
        return (e as { statusCode?: number }).statusCode ?? -1;
    }
}
