/**
 * Client plugin: installs the `syncd` SyncProvider (watch-triggered pulls)
 * before the host's engine creates its polling gateway provider (it only
 * does so when no provider is active).
 */
import { defineNuxtPlugin, useRuntimeConfig } from '#imports';
import { registerSyncProvider, setActiveSyncProvider } from '~/core/sync/sync-provider-registry';
import { createSyncdSyncProvider } from '../app/syncd-sync-provider';

export default defineNuxtPlugin(() => {
    const pub = (useRuntimeConfig().public ?? {}) as { sync?: { provider?: string }; syncd?: { watchPath?: string } };
    if (pub.sync?.provider && pub.sync.provider !== 'syncd') return;
    const provider = createSyncdSyncProvider({ watchPath: pub.syncd?.watchPath });
    registerSyncProvider(provider);
    setActiveSyncProvider(provider.id);
});
