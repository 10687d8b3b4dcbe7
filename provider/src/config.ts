/**
 * Configuration: OR3_SYNCD_URL, OR3_SYNCD_TOKEN (server-only; never put
 * into public runtime config), OR3_SYNCD_PUBLIC_URL (optional: the base
 * URL browsers use for blob transfers, default OR3_SYNCD_URL),
 * OR3_SYNCD_TIMEOUT_MS (default 10000), and the host's selection:
 * OR3_SYNC_PROVIDER=syncd (sync.provider), NUXT_PUBLIC_STORAGE_PROVIDER=syncd
 * (public.storage.provider), background jobs' storageProvider.
 */
export interface SyncdConfig {
    url: string;
    token: string;
    publicUrl: string;
    timeoutMs: number;
    maintenanceRefreshMs: number;
    authEnabled: boolean;
    sync: boolean;
    storage: boolean;
    jobs: boolean;
}

type Env = Record<string, string | undefined>;

export function readConfig(runtimeConfig: Record<string, any> = {}, env: Env = process.env): SyncdConfig {
    const rc = runtimeConfig;
    const syncd = (rc.syncd ?? {}) as Record<string, unknown>;
    const str = (...vs: unknown[]) => vs.find((v): v is string => typeof v === 'string' && v !== '') ?? '';
    const url = str(env.OR3_SYNCD_URL, syncd.url);
    const syncProvider = str(rc.sync?.provider, rc.public?.sync?.provider, env.OR3_SYNC_PROVIDER);
    const storageProvider = str(rc.public?.storage?.provider, rc.storage?.provider, env.NUXT_PUBLIC_STORAGE_PROVIDER);
    const jobsProvider = str(rc.backgroundJobs?.storageProvider);
    const auth = rc.auth?.enabled ?? (env.SSR_AUTH_ENABLED === 'true');
    const timeout = Number(str(env.OR3_SYNCD_TIMEOUT_MS, syncd.timeoutMs) || 10_000);
    return {
        url,
        token: str(env.OR3_SYNCD_TOKEN, syncd.token),
        publicUrl: str(env.OR3_SYNCD_PUBLIC_URL, syncd.publicUrl, url),
        timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000,
        maintenanceRefreshMs: 30_000,
        authEnabled: auth === true || auth === 'true',
        sync: syncProvider === 'syncd',
        storage: storageProvider === 'syncd',
        jobs: jobsProvider === 'syncd',
    };
}
