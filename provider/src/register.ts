/**
 * Registers every syncd adapter into the host registries, synchronously
 * (before any await: the host's 99.validate-providers plugin checks the
 * selected ids right after), when `syncd` is the selected provider.
 *
 * Gating, as the sqlite provider does: nothing without SSR auth; the sync
 * adapter when sync selects syncd, the storage adapter when storage does;
 * the auth store, rate limits, background jobs, notifications, webhooks,
 * admin adapters and the deployment-admin checker when any of sync,
 * storage or background jobs selects syncd.
 */
import { createAdminStores, ADMIN_CAPABILITIES, createDeploymentAdminChecker, createProviderAdminAdapter } from './admin';
import { SyncdClient } from './client';
import { SyncdHostError } from './errors';
import { readConfig, type SyncdConfig } from './config';
import type * as Host from './host-types';
import { IntentLedger } from './intents';
import { createStorageGatewayAdapter } from './storage-adapter';
import {
    createAuthWorkspaceStore,
    createBackgroundJobProvider,
    createNotificationEmitter,
    createRateLimitProvider,
    createWebhookStore,
} from './stores';
import { SYNCD_PROVIDER_ID, createSyncGatewayAdapter, MaintenanceCache } from './sync-adapter';

/** The host registry functions (the `~~/server/...` imports of the Nitro plugin). */
export interface HostRegistries {
    registerAuthWorkspaceStore: typeof Host.registerAuthWorkspaceStore;
    registerSyncGatewayAdapter: typeof Host.registerSyncGatewayAdapter;
    registerStorageGatewayAdapter: typeof Host.registerStorageGatewayAdapter;
    registerWebhookStore: typeof Host.registerWebhookStore;
    registerAdminStoreProvider: typeof Host.registerAdminStoreProvider;
    registerProviderAdminAdapter: typeof Host.registerProviderAdminAdapter;
    registerRateLimitProvider: typeof Host.registerRateLimitProvider;
    registerBackgroundJobProvider: typeof Host.registerBackgroundJobProvider;
    registerNotificationEmitter: typeof Host.registerNotificationEmitter;
    registerDeploymentAdminChecker: typeof Host.registerDeploymentAdminChecker;
}

/**
 * syncd's admin RPC stores (workspaceAccess, workspaceSettings, adminUsers)
 * and /v1/admin/* (issue 10) are present.
 */
export const ADMIN_STORES_AVAILABLE = true;

export interface Registration {
    config: SyncdConfig;
    client: SyncdClient | null;
    /** What was registered, e.g. ['sync', 'storage', 'auth', ...]. */
    registered: string[];
    maintenance: MaintenanceCache | null;
}

const ORDER = 100;

export function registerSyncd(
    registries: HostRegistries,
    runtimeConfig: Record<string, any>,
    opts: { env?: Record<string, string | undefined>; fetch?: typeof fetch; startMaintenanceRefresh?: boolean } = {},
): Registration {
    const config = readConfig(runtimeConfig, opts.env ?? process.env);
    const out: Registration = { config, client: null, registered: [], maintenance: null };
    if (!config.authEnabled || !(config.sync || config.storage || config.jobs)) return out;
    if (!config.url) throw new Error('or3-provider-syncd: syncd is selected but OR3_SYNCD_URL is not set');
    if (!config.token) throw new Error('or3-provider-syncd: syncd is selected but OR3_SYNCD_TOKEN is not set');

    const client = new SyncdClient({ url: config.url, token: config.token, timeoutMs: config.timeoutMs, fetch: opts.fetch });
    out.client = client;
    const id = SYNCD_PROVIDER_ID;
    const r = registries;
    // One ledger only when both adapters are syncd's: then presign adopts the sync adapter's intent.
    const ledger = config.sync && config.storage ? new IntentLedger() : undefined;

    if (config.sync) {
        const maintenance = new MaintenanceCache(client);
        out.maintenance = maintenance;
        if (opts.startMaintenanceRefresh ?? true) maintenance.start(config.maintenanceRefreshMs);
        let adapter: Host.SyncGatewayAdapter | null = null;
        r.registerSyncGatewayAdapter({ id, order: ORDER, create: () => (adapter ??= createSyncGatewayAdapter(client, { ledger, maintenance })) });
        r.registerProviderAdminAdapter(createProviderAdminAdapter(client, 'sync'));
        out.registered.push('sync', 'admin:sync');
    }
    if (config.storage) {
        let adapter: Host.StorageGatewayAdapter | null = null;
        r.registerStorageGatewayAdapter({ id, order: ORDER, create: () => (adapter ??= createStorageGatewayAdapter(client, { publicUrl: config.publicUrl, ledger })) });
        r.registerProviderAdminAdapter(createProviderAdminAdapter(client, 'storage'));
        out.registered.push('storage', 'admin:storage');
    }

    r.registerAuthWorkspaceStore({ id, order: ORDER, create: () => createAuthWorkspaceStore(client) });
    r.registerRateLimitProvider(id, createRateLimitProvider(client));
    r.registerBackgroundJobProvider(id, createBackgroundJobProvider(client));
    const n = createNotificationEmitter(client);
    r.registerNotificationEmitter(id, { emitBackgroundJobComplete: n.emitBackgroundJobComplete, emitBackgroundJobError: n.emitBackgroundJobError });
    r.registerWebhookStore({ id, order: ORDER, create: () => createWebhookStore(client) });
    out.registered.push('auth', 'rateLimit', 'jobs', 'notifications', 'webhooks');

    if (ADMIN_STORES_AVAILABLE) {
        const stores = createAdminStores(client);
        r.registerAdminStoreProvider({
            id,
            createWorkspaceAccessStore: () => stores.workspaceAccess,
            createWorkspaceSettingsStore: () => stores.workspaceSettings,
            createAdminUserStore: () => stores.adminUsers,
            getCapabilities: () => ADMIN_CAPABILITIES,
        });
        r.registerDeploymentAdminChecker(id, () => createDeploymentAdminChecker(client));
        out.registered.push('adminStores', 'deploymentAdmin');
    }
    return out;
}

/**
 * The start-up check the Nitro plugin runs after registering: syncd's
 * protocol must be 1. A mismatch stops the server (`exit(1)`: it refuses
 * to start); an unreachable syncd is only logged (every call answers 503
 * until it is reachable, and the check runs again on the next call).
 * Resolves to 'ok', 'mismatch' or 'unreachable'.
 */
export async function checkStartup(
    reg: Registration,
    exit: (code: number) => void = (c) => process.exit(c),
    log: Pick<Console, 'info' | 'error'> = console,
): Promise<'ok' | 'mismatch' | 'unreachable' | 'disabled'> {
    if (!reg.client) return 'disabled';
    try {
        await reg.client.ensureVersion();
        log.info(`[or3-provider-syncd] connected to syncd at ${reg.config.url} (${reg.registered.join(', ')})`);
        return 'ok';
    } catch (e) {
        log.error(`[or3-provider-syncd] ${(e as Error).message}`);
        if (e instanceof SyncdHostError && e.code === 'PROTOCOL_MISMATCH') {
            exit(1);
            return 'mismatch';
        }
        return 'unreachable';
    }
}
