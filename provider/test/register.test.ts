import { describe, expect, it, vi } from 'vitest';
import module, { meta } from '../src/module';
import { registerSyncd, type HostRegistries } from '../src/register';
import { readConfig } from '../src/config';
import type { NuxtLike } from '../src/host-types';
import { eventFor } from '../src/session';
import { token, url } from './helpers';

function fakeRegistries() {
    const calls: Record<string, unknown[][]> = {};
    const rec = (name: string) => vi.fn((...a: unknown[]) => void (calls[name] ??= []).push(a));
    const r = {
        registerAuthWorkspaceStore: rec('auth'),
        registerSyncGatewayAdapter: rec('sync'),
        registerStorageGatewayAdapter: rec('storage'),
        registerWebhookStore: rec('webhooks'),
        registerAdminStoreProvider: rec('adminStores'),
        registerProviderAdminAdapter: rec('providerAdmin'),
        registerRateLimitProvider: rec('rateLimit'),
        registerBackgroundJobProvider: rec('jobs'),
        registerNotificationEmitter: rec('notifications'),
        registerDeploymentAdminChecker: rec('deploymentAdmin'),
    } satisfies HostRegistries;
    return { r, calls };
}

const env = () => ({ OR3_SYNCD_URL: url(), OR3_SYNCD_TOKEN: token() });

describe('registerSyncd', () => {
    it('registers every adapter synchronously when sync and storage select syncd', () => {
        const { r, calls } = fakeRegistries();
        const reg = registerSyncd(r, { auth: { enabled: true }, sync: { provider: 'syncd' }, public: { storage: { provider: 'syncd' } } }, { env: env(), startMaintenanceRefresh: false });
        // synchronous: everything is there before any await
        expect(Object.keys(calls).sort()).toEqual(
            ['adminStores', 'auth', 'deploymentAdmin', 'jobs', 'notifications', 'providerAdmin', 'rateLimit', 'storage', 'sync', 'webhooks'].sort(),
        );
        expect(reg.registered).toEqual(expect.arrayContaining(['sync', 'storage', 'auth', 'jobs', 'rateLimit', 'webhooks', 'notifications']));
        const entry = calls.sync[0][0] as { id: string; create: () => { id: string; capabilities: unknown } };
        expect(entry.id).toBe('syncd');
        expect(entry.create()).toBe(entry.create()); // one instance per id
        expect(entry.create().capabilities).toEqual({ snapshotBootstrap: 'snapshot-v1', historyRetention: 'snapshot-v1' });
        expect(calls.rateLimit[0][0]).toBe('syncd');
        expect(calls.providerAdmin.map((c) => (c[0] as { kind: string }).kind).sort()).toEqual(['storage', 'sync']);
    });

    it('env selection works too (OR3_SYNC_PROVIDER, NUXT_PUBLIC_STORAGE_PROVIDER, SSR_AUTH_ENABLED)', () => {
        const c = readConfig({}, { ...env(), SSR_AUTH_ENABLED: 'true', OR3_SYNC_PROVIDER: 'syncd', NUXT_PUBLIC_STORAGE_PROVIDER: 'fs' });
        expect(c).toMatchObject({ authEnabled: true, sync: true, storage: false, url: url() });
    });

    it('registers nothing without SSR auth or when another provider is selected', () => {
        const a = fakeRegistries();
        registerSyncd(a.r, { auth: { enabled: false }, sync: { provider: 'syncd' } }, { env: env() });
        expect(a.calls).toEqual({});
        const b = fakeRegistries();
        registerSyncd(b.r, { auth: { enabled: true }, sync: { provider: 'sqlite' }, public: { storage: { provider: 'fs' } } }, { env: env() });
        expect(b.calls).toEqual({});
    });

    it('storage only: no sync adapter, no shared intent ledger', () => {
        const { r, calls } = fakeRegistries();
        registerSyncd(r, { auth: { enabled: true }, sync: { provider: 'sqlite' }, public: { storage: { provider: 'syncd' } } }, { env: env() });
        expect(calls.sync).toBeUndefined();
        expect(calls.storage).toHaveLength(1);
    });

    it('refuses to start without OR3_SYNCD_URL or OR3_SYNCD_TOKEN', () => {
        const { r } = fakeRegistries();
        expect(() => registerSyncd(r, { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: {} })).toThrow(/OR3_SYNCD_URL/);
        expect(() => registerSyncd(r, { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: { OR3_SYNCD_URL: url() } })).toThrow(/OR3_SYNCD_TOKEN/);
    });

    it('the registered adapters work against syncd', async () => {
        const { r, calls } = fakeRegistries();
        registerSyncd(r, { auth: { enabled: true }, sync: { provider: 'syncd' } }, { env: env(), startMaintenanceRefresh: false });
        const auth = (calls.auth[0][0] as { create: () => Record<string, (...a: unknown[]) => Promise<any>> }).create();
        const { userId } = await auth.getOrCreateUser({ provider: 'reg', providerUserId: 'reg-1' });
        const { workspaceId } = await auth.getOrCreateDefaultWorkspace(userId);
        const sync = (calls.sync[0][0] as { create: () => any }).create();
        const p = await sync.pull(eventFor(userId, workspaceId), { scope: { workspaceId }, cursor: 0, limit: 10 });
        expect(p).toMatchObject({ changes: [], hasMore: false });
        const admin = calls.providerAdmin[0][0] as { getStatus: (e: unknown, c: unknown) => Promise<{ details?: Record<string, unknown>; warnings: unknown[]; actions: { id: string }[] }> };
        const st = await admin.getStatus(eventFor(userId), { enabled: true, provider: 'syncd' });
        expect(st.warnings).toEqual([]);
        expect(st.details).toMatchObject({ healthy: true, gc: { enabled: true } });
        expect(st.actions.map((a) => a.id)).toEqual(['sync.gc-change-log', 'sync.gc-tombstones', 'log.compact', 'state.verify']);
    });
});

describe('Nuxt module', () => {
    it('adds one server plugin, the watch route and the client plugin; no secret in public config', async () => {
        const hooks: Array<(c: { plugins?: string[] }) => void> = [];
        const nuxt: NuxtLike = { options: { plugins: [], runtimeConfig: { public: {} } }, hook: (_n, fn) => void hooks.push(fn) };
        module(undefined, nuxt);
        const nitro: { plugins?: string[] } = {};
        hooks.forEach((h) => h(nitro));
        expect(nitro.plugins).toHaveLength(1);
        expect(nitro.plugins![0]).toMatch(/runtime\/server\/plugins\/register\.ts$/);
        expect(nuxt.options.serverHandlers).toEqual([expect.objectContaining({ route: '/api/sync/syncd-watch', method: 'get' })]);
        expect(nuxt.options.plugins).toEqual([expect.objectContaining({ mode: 'client' })]);
        expect(JSON.stringify(nuxt.options.runtimeConfig.public)).not.toMatch(/token/i);
        expect(await module.getMeta()).toBe(meta);
    });
});
