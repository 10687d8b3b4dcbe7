/**
 * Nitro plugin: registers the syncd adapters into the host registries,
 * synchronously, then checks syncd's protocol. A syncd that speaks another
 * protocol stops the server (refuses to start); an unreachable one is
 * logged, every call answers 503 until it is reachable, and the check runs
 * again on the next call.
 */
import { registerAuthWorkspaceStore } from '~~/server/auth/store/registry';
import { registerSyncGatewayAdapter } from '~~/server/sync/gateway/registry';
import { registerStorageGatewayAdapter } from '~~/server/storage/gateway/registry';
import { registerWebhookStore } from '~~/server/utils/webhooks/store/registry';
import { registerAdminStoreProvider } from '~~/server/admin/stores/registry';
import { registerProviderAdminAdapter } from '~~/server/admin/providers/registry';
import { registerRateLimitProvider } from '~~/server/utils/rate-limit/registry';
import { registerBackgroundJobProvider } from '~~/server/utils/background-jobs/registry';
import { registerNotificationEmitter } from '~~/server/utils/notifications/registry';
import { registerDeploymentAdminChecker } from '~~/server/auth/deployment-admin';
import { defineNitroPlugin, useRuntimeConfig } from '#imports';
import { registerSyncd } from '../../../register';
import { SyncdHostError } from '../../../errors';
import { setRegistration } from '../state';

export default defineNitroPlugin(() => {
    const reg = registerSyncd(
        {
            registerAuthWorkspaceStore,
            registerSyncGatewayAdapter,
            registerStorageGatewayAdapter,
            registerWebhookStore,
            registerAdminStoreProvider,
            registerProviderAdminAdapter,
            registerRateLimitProvider,
            registerBackgroundJobProvider,
            registerNotificationEmitter,
            registerDeploymentAdminChecker,
        },
        useRuntimeConfig(),
    );
    setRegistration(reg);
    if (!reg.client) return;
    reg.client.ensureVersion().then(
        () => console.info(`[or3-provider-syncd] connected to syncd at ${reg.config.url} (${reg.registered.join(', ')})`),
        (e: unknown) => {
            const mismatch = e instanceof SyncdHostError && /protocol/.test(e.message);
            console.error(`[or3-provider-syncd] ${(e as Error).message}`);
            if (mismatch && process.env.OR3_SYNCD_ALLOW_PROTOCOL_MISMATCH !== '1') process.exit(1);
        },
    );
});
