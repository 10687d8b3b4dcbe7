import { defineConfig } from 'vitest/config';

export default defineConfig({
    test: {
        include: ['test/**/*.test.ts'],
        globalSetup: ['test/global-setup.ts'],
        testTimeout: 20_000,
        hookTimeout: 30_000,
        // The global setup builds syncd (go build) and waits for /readyz.
        teardownTimeout: 15_000,
        reporters: ['default'],
        watch: false,
    },
});
